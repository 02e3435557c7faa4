"""What a step's cache key knows of its code: its source as syntax, and the values bound to it
(closures, partials, bound methods). Steps in real modules and pipelines on a real workspace."""

from __future__ import annotations

import functools
import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import shipyard as sy
from shipyard.core.errors import InvalidInput
from shipyard.pipelines._code import code_hash


def _module(tmp_path: Path, name: str, source: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_step_options_comments_and_layout_do_not_change_the_code_hash(tmp_path: Path) -> None:
    plain = _module(
        tmp_path,
        "code_plain",
        """
        import shipyard as sy

        @sy.step
        def train(rows: list, c: float = 1.0) -> float:
            return sum(rows) * c
        """,
    )
    options = _module(
        tmp_path,
        "code_options",
        """
        import shipyard as sy
        from shipyard import step

        @step(retries=3, timeout_s=600, resources={"cpu": 2})
        def train(rows: list,
                  c: float = 1.0) -> float:
            # scale the total
            return sum(rows)*c
        """,
    )
    changed = _module(
        tmp_path,
        "code_changed",
        """
        import shipyard as sy

        @sy.step
        def train(rows: list, c: float = 2.0) -> float:
            return sum(rows) * c
        """,
    )
    assert plain.train.code_hash == options.train.code_hash
    assert plain.train.code_hash != changed.train.code_hash  # a default value is code


def test_code_without_source_hashes_its_bytecode_by_content() -> None:
    source = "def f(values):\n    return [g(v) for v in values]\n"
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    other: dict[str, Any] = {}
    exec(compile(source, "<made>", "exec"), first)
    exec(compile(source, "<made>", "exec"), second)
    exec(compile(source.replace("g(v)", "h(v)"), "<made>", "exec"), other)
    # The comprehension is a nested code object: by content, not by its address.
    assert sy.step(first["f"]).code_hash == sy.step(second["f"]).code_hash
    assert sy.step(first["f"]).code_hash != sy.step(other["f"]).code_hash  # a name differs


def _scaled(factor: int) -> sy.Step:
    @sy.step(name="scale")
    def scale(x: int) -> int:
        return x * factor

    return scale


class _Multiplier:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    def apply(self, x: int) -> int:
        return x * self.factor


def _multiply(x: int, factor: int) -> int:
    return x * factor


def _single_step_pipeline(step: sy.Step) -> sy.Pipeline:
    @sy.pipeline(name="bound")
    def flow() -> None:
        step(x=5)

    return flow


def test_values_a_step_closes_over_are_part_of_its_cache_key(workspace: Path) -> None:
    outputs = {}
    for factor in (2, 3, 2):
        run = _single_step_pipeline(_scaled(factor)).run(progress=False)
        outputs[factor] = (run.output("scale"), run.cached)
    assert outputs == {2: (10, ["scale"]), 3: (15, [])}  # the second 2 reuses the first


def test_bound_methods_and_partials_are_steps_keyed_by_what_they_hold(workspace: Path) -> None:
    for factor in (2, 3):
        method = sy.step(_Multiplier(factor).apply)
        assert _single_step_pipeline(method).run(progress=False).output("apply") == 5 * factor
        partial = sy.step(name="multiply")(functools.partial(_multiply, factor=factor))
        assert _single_step_pipeline(partial).run(progress=False).output("multiply") == 5 * factor
    # Arguments bound by position are not parameters of the step, but they count as well.
    assert code_hash(functools.partial(_multiply, 2)) != code_hash(functools.partial(_multiply, 3))
    with pytest.raises(InvalidInput, match="no name"):
        sy.step(functools.partial(_multiply, factor=2))
