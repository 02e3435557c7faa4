"""Reading ``shipyard pipelines run`` arguments: the pipeline's module and its --param values."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.core.errors import InvalidInput, NotFound
from shipyard.pipelines._loader import load_pipeline, parse_params


@sy.pipeline
def _flow(label: str = "x", value: object = None) -> None:
    pass


def test_params_are_json_when_they_parse_and_text_otherwise() -> None:
    params = parse_params(["value=[1, 2.5]", "label=a=b"])
    assert params == {"value": [1, 2.5], "label": "a=b"}
    assert parse_params(["value="]) == {"value": ""}
    # NaN and Infinity are not JSON (and no parameter may be one): they stay text
    assert parse_params(["value=NaN", "label=-Infinity"]) == {"value": "NaN", "label": "-Infinity"}


def test_a_parameter_annotated_str_gets_the_text_as_given() -> None:
    assert parse_params(["label=2024", "value=2024"], _flow) == {"label": "2024", "value": 2024}
    assert parse_params(["label=true", "value=null"], _flow) == {"label": "true", "value": None}


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["oops"], "Cannot read the parameter 'oops'"),
        (["=1"], "Cannot read the parameter"),
        (["label=a", "label=b"], "'label' is given twice"),
        (["workers=2"], "'workers' is an option of the run"),
        (["cache=false"], "'cache' is an option of the run"),
    ],
)
def test_bad_params_are_refused_clearly(pairs: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_params(pairs, _flow)


def test_an_error_inside_the_users_module_is_reported_as_theirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "loader_broken.py").write_text('raise RuntimeError("no config file")\n')
    # A module whose name starts with the name of the module it fails to import.
    (tmp_path / "loader_flowx.py").write_text("import loader_flow\n")
    (tmp_path / "loader_syntax.py").write_text(textwrap.dedent("def f(:\n"))
    with pytest.raises(
        InvalidInput, match="Importing loader_broken failed: RuntimeError: no config"
    ):
        load_pipeline("loader_broken:flow")
    with pytest.raises(InvalidInput, match="No module named 'loader_flow'"):
        load_pipeline("loader_flowx:flow")
    with pytest.raises(InvalidInput, match=r"loader_syntax\.py failed: SyntaxError"):
        load_pipeline("loader_syntax.py:flow")
    with pytest.raises(NotFound, match="No module named 'loader_nowhere'"):
        load_pipeline("loader_nowhere:flow")
