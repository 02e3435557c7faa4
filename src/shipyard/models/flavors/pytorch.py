"""PyTorch ``nn.Module`` models: weights in safetensors plus an importable class, or TorchScript.

The default format stores no code: the weights (safetensors, no pickle) plus ``module:QualName``
and JSON constructor arguments, so loading rebuilds the class and loads the weights strictly.
Loading imports that module, running its import-time code: the reference comes from the
workspace's own verified metadata, naming the user's own class, and it must be a dotted module
name (never a path) whose attribute is an ``nn.Module`` subclass, or nothing is imported or called.
Saving rebuilds it once too, so a class that cannot be rebuilt fails at save time, not in
production. ``options={"format": "torchscript"}`` stores a compiled graph instead, for classes
that live in ``__main__`` or a notebook.
"""

from __future__ import annotations

import importlib
import io
import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import Flavor, built_on, distribution_versions

__all__ = ["PyTorchFlavor"]

_WEIGHTS = "model.safetensors"
_SCRIPT = "model.torchscript.pt"


class PyTorchFlavor(Flavor):
    """``torch.nn.Module``; NumPy in, NumPy out, in eval mode without gradients."""

    name: ClassVar[str] = "pytorch"
    option_names: ClassVar[frozenset[str]] = frozenset({"format", "init_kwargs"})

    def handles(self, model: object) -> bool:
        return built_on(model, "torch") and any(
            cls.__name__ == "Module" and cls.__module__ == "torch.nn.modules.module"
            for cls in type(model).__mro__
        )

    def save(
        self, model: Any, files: dict[str, bytes], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        import torch

        scripted = isinstance(model, torch.jit.ScriptModule)
        fmt = options.get("format", "torchscript" if scripted else "safetensors")
        if fmt == "torchscript":
            files[_SCRIPT] = _torchscript_bytes(model, options.get("input_example"))
            return {"format": "torchscript", "file": _SCRIPT}
        if fmt != "safetensors":
            raise InvalidInput(
                f"The pytorch flavor's 'format' option must be 'safetensors' or 'torchscript'; "
                f"got {fmt!r}."
            )
        return _save_safetensors(model, files, dict(options.get("init_kwargs") or {}))

    def load(self, read: Callable[[str], bytes], meta: Mapping[str, Any]) -> Any:

        if meta["format"] == "torchscript":
            with _quiet_jit():
                model = _jit().load(io.BytesIO(read(meta["file"])), map_location="cpu")
        else:
            import safetensors.torch

            init_kwargs = meta.get("init_kwargs")
            if not isinstance(init_kwargs, dict):
                raise InvalidInput(f"The stored init_kwargs {init_kwargs!r} are not a dict.")
            model = _module_class(meta["class"])(**init_kwargs)
            model.load_state_dict(safetensors.torch.load(read(meta["file"])), strict=True)
        return model.eval()

    def predict(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        import torch

        with torch.no_grad():
            output = model(_tensor(model, inputs))
        if not isinstance(output, torch.Tensor):
            raise InvalidInput(
                f"The PyTorch model returned {type(output).__name__}; Shipyard serves models "
                "that return one tensor.",
                hint="Wrap the module so forward() returns one tensor, or use a PythonModel.",
            )
        return output.detach().cpu().numpy()

    def library_versions(self) -> dict[str, str]:
        return distribution_versions(["torch", "safetensors", "numpy"])


def _save_safetensors(
    model: Any, files: dict[str, bytes], init_kwargs: dict[str, Any]
) -> dict[str, Any]:
    import safetensors.torch

    cls = type(model)
    ref = f"{cls.__module__}:{cls.__qualname__}"
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise InvalidInput(
            f"The PyTorch class {ref} cannot be imported again by the code that loads it.",
            hint="Move the class into an importable module, or save a compiled graph with "
            "options={'format': 'torchscript'}.",
        )
    try:
        json.dumps(init_kwargs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"The 'init_kwargs' option must be JSON (numbers, strings, lists, dicts): {exc}."
        ) from exc
    if _module_class(ref) is not cls:
        raise InvalidInput(f"Importing {ref} gives a different class than the model's.")
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    try:
        cls(**init_kwargs).load_state_dict(state, strict=True)
    except Exception as exc:  # a constructor can raise anything
        raise InvalidInput(
            f"{ref}(**{init_kwargs}) does not rebuild the model: {type(exc).__name__}: {exc}",
            hint="Pass the constructor arguments as options={'init_kwargs': {...}}.",
        ) from exc
    files[_WEIGHTS] = safetensors.torch.save(state)
    return {"format": "safetensors", "file": _WEIGHTS, "class": ref, "init_kwargs": init_kwargs}


def _module_class(ref: str) -> Any:
    """The ``nn.Module`` subclass named ``module:QualName``; nothing else is ever called."""
    import torch

    module_name, _, qualname = ref.partition(":") if isinstance(ref, str) else ("", "", "")
    if not (_dotted(module_name) and _dotted(qualname)):
        raise InvalidInput(
            f"The PyTorch class reference {ref!r} is not of the form 'package.module:Class'.",
            hint="Package the model again; its metadata is damaged.",
        )
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"Cannot import the PyTorch class {ref}: {exc}.",
            hint="Install the package that defines it where the model is loaded.",
        ) from exc
    if not (isinstance(target, type) and issubclass(target, torch.nn.Module)):
        raise InvalidInput(f"{ref} is not a torch.nn.Module subclass; refusing to call it.")
    return target


def _dotted(name: str) -> bool:
    """Whether ``name`` is dotted Python identifiers: an import path, never a file path."""
    return all(part.isidentifier() for part in name.split("."))


def _torchscript_bytes(model: Any, example: Any) -> bytes:
    import torch

    with _quiet_jit():
        try:
            compiled = (
                model if isinstance(model, torch.jit.ScriptModule) else torch.jit.script(model)
            )
        except Exception as exc:  # scripting fails on dynamic Python; tracing needs an example
            if example is None:
                raise InvalidInput(
                    f"torch.jit.script failed ({type(exc).__name__}) and there is no example "
                    "to trace with.",
                    hint="Pass input_example so the model can be traced.",
                ) from exc
            compiled = _jit().trace(model.eval(), _tensor(model, example))
        buffer = io.BytesIO()
        torch.jit.save(compiled, buffer)
    return buffer.getvalue()


def _tensor(model: Any, inputs: Any) -> Any:
    """Prepared inputs as a tensor; floats take the model's floating dtype (float32 usually)."""
    import torch

    array = inputs.to_numpy() if isinstance(inputs, pd.DataFrame) else np.asarray(inputs)
    tensor = torch.from_numpy(np.require(array, requirements=["C", "W"]))  # copies read-only views
    if tensor.is_floating_point():
        params = (p for p in model.parameters() if p.is_floating_point())
        tensor = tensor.to(next(params, torch.zeros((), dtype=torch.float32)).dtype)
    return tensor


def _jit() -> Any:
    """``torch.jit`` untyped: some of its functions carry no annotations for mypy."""
    import torch

    return torch.jit


@contextmanager
def _quiet_jit() -> Iterator[None]:
    """torch 2.13 deprecates torch.jit; TorchScript files still load and run, so stay quiet."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit", category=DeprecationWarning)
        yield
