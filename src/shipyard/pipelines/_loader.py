"""Find a pipeline from the command line: ``module:function`` or ``path/to/file.py:function``."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.pipelines._pipeline import Pipeline

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
        spec.loader.exec_module(module)
        return module
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise NotFound(
                f"No module named {name!r} from {Path.cwd()}.",
                hint="Run from the project folder, or give path/to/file.py:FUNCTION.",
            ) from None
        raise


def _pipelines_in(module: Any) -> list[str]:
    return sorted(n for n, v in vars(module).items() if isinstance(v, Pipeline))


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs; values are read as JSON when they parse (numbers, true, lists), else text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise InvalidInput(
                f"Cannot read the parameter {pair!r}.", hint="Use --param name=value."
            )
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params
