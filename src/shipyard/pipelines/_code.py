"""What a step's cache key knows of its code: the function's source (as syntax, so comments,
formatting and the ``@sy.step`` options do not count) and the values bound to it (a closure's
variables, a ``functools.partial``'s arguments, a bound method's instance).

Only these count: a change in a helper the step calls, or in a global it reads, does not.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import pickle
import textwrap
from collections.abc import Callable
from types import CodeType
from typing import Any

__all__ = ["code_hash"]


def code_hash(fn: Callable[..., Any]) -> str:
    function, bound = _unwrap(fn)
    parts = [_source(function), *(_fingerprint(value) for value in bound)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _unwrap(fn: Callable[..., Any]) -> tuple[Callable[..., Any], list[Any]]:
    """The plain function behind ``fn`` and the values bound to it."""
    bound: list[Any] = []
    while True:
        if isinstance(fn, functools.partial):
            bound += [fn.args, fn.keywords]
            fn = fn.func
        elif inspect.ismethod(fn):
            bound.append(fn.__self__)
            fn = fn.__func__
        else:
            break
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            bound.append(cell.cell_contents)
        except ValueError:  # a cell not yet filled
            bound.append(None)
    return fn, bound


def _source(fn: Callable[..., Any]) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):  # no source: made by exec, or not a Python function
        code = getattr(fn, "__code__", None)
        return _bytecode(code) if isinstance(code, CodeType) else _fingerprint(fn)
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a lambda in the middle of an expression: its lines as they are
        return source
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = [d for d in node.decorator_list if not _is_step(d)]
    return ast.unparse(tree)


def _is_step(decorator: ast.expr) -> bool:
    """``@step``, ``@sy.step`` or either with options: how the step runs, not what it computes."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == "step"
    return isinstance(target, ast.Name) and target.id == "step"


def _bytecode(code: CodeType) -> str:
    """Bytecode with its constants and names; nested code by content, not by address."""
    consts = [_bytecode(c) if isinstance(c, CodeType) else repr(c) for c in code.co_consts]
    return code.co_code.hex() + json.dumps([consts, list(code.co_names)])


def _fingerprint(value: Any) -> str:
    """A bound value as text: JSON values as JSON, functions by their code, other objects by
    their pickle, else their repr (which may hold an address: the step then reruns, never
    wrongly reuses)."""
    if inspect.isfunction(value):
        return _source(value)
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        pass
    try:
        return hashlib.sha256(pickle.dumps(value)).hexdigest()
    except Exception:  # pickling may fail in any way for an arbitrary object
        return repr(value)
