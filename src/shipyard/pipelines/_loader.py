"""Find a pipeline from the command line: ``module:function`` or ``path/to/file.py:function``."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from shipyard.core.errors import InvalidInput, NotFound, ShipyardError
from shipyard.pipelines._pipeline import RUN_OPTIONS, Pipeline

__all__ = ["load_pipeline", "parse_params"]


def load_pipeline(spec: str) -> Pipeline:
    """Import the module (the current folder first on the path) and return its pipeline."""
    module_name, sep, attribute = spec.rpartition(":")
    if not sep or not module_name or not attribute:
        raise InvalidInput(
            f"Cannot read the pipeline {spec!r}.",
            hint="Use MODULE:FUNCTION (e.g. pipeline:training) or path/to/file.py:FUNCTION.",
        )
    module = _import(module_name)
    found = getattr(module, attribute, None)
    if found is None:
        raise NotFound(
            f"{module_name} has no attribute {attribute!r}.",
            hint=f"Pipelines there: {', '.join(_pipelines_in(module)) or 'none'}.",
        )
    if not isinstance(found, Pipeline):
        raise InvalidInput(
            f"{spec} is a {type(found).__name__}, not a pipeline.",
            hint="Decorate the function with @sy.pipeline.",
        )
    return found


def _import(name: str) -> Any:
    try:
        return _import_module(name)
    except ShipyardError:
        raise
    except Exception as exc:  # the user's module failed: say so, not "a bug in Shipyard"
        raise InvalidInput(
            f"Importing {name} failed: {type(exc).__name__}: {exc}",
            hint="Fix that error in your code; add --debug (shipyard --debug pipelines run "
            "...) to see its traceback.",
        ) from exc


def _import_module(name: str) -> Any:
    if name.endswith(".py"):
        path = Path(name).resolve()
        if not path.is_file():
            raise NotFound(f"No file {path}.", hint="Check the path.")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise InvalidInput(f"Cannot import {path}.", hint="Give a Python file.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        sys.path.insert(0, str(path.parent))
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(path.stem, None)
            raise
        return module
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(f"{exc.name}.")):
            raise NotFound(
                f"No module named {name!r} from {Path.cwd()}.",
                hint="Run from the project folder, or give path/to/file.py:FUNCTION.",
            ) from None
        raise


def _pipelines_in(module: Any) -> list[str]:
    return sorted(n for n, v in vars(module).items() if isinstance(v, Pipeline))


def parse_params(pairs: list[str], pipeline: Pipeline | None = None) -> dict[str, Any]:
    """``k=v`` pairs; values are read as JSON when they parse (numbers, true, lists), else as
    text, which a parameter of ``pipeline`` annotated ``str`` always gets."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise InvalidInput(
                f"Cannot read the parameter {pair!r}.", hint="Use --param name=value."
            )
        if key in params:
            raise InvalidInput(f"The parameter {key!r} is given twice.", hint="Give it once.")
        if key in RUN_OPTIONS:
            raise InvalidInput(
                f"{key!r} is an option of the run, not a parameter of the pipeline.",
                hint="See shipyard pipelines run --help (--executor, --workers, --no-cache, "
                "--experiment).",
            )
        params[key] = value if _is_text(pipeline, key) else _json_or_text(value)
    return params


def _is_text(pipeline: Pipeline | None, key: str) -> bool:
    parameter = None if pipeline is None else pipeline.signature.parameters.get(key)
    return parameter is not None and parameter.annotation in (str, "str")


def _json_or_text(value: str) -> Any:
    try:  # NaN and Infinity are not JSON, and no parameter may be one: they stay text
        return json.loads(value, parse_constant=_refuse)
    except ValueError:
        return value


def _refuse(constant: str) -> Any:
    raise ValueError(constant)
