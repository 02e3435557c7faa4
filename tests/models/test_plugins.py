"""Flavor discovery: built-ins without metadata, third-party plugins through entry points, and
broken plugins that warn instead of breaking the host."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInput
from shipyard.models._package import check_flavor
from shipyard.models._plugins import (
    FlavorPluginWarning,
    available_flavors,
    flavor_for,
    get_flavor,
)

from .conftest import RoundTrip

BUILT_IN = ["lightgbm", "xgboost", "pytorch", "onnx", "sklearn", "pyfunc"]


@pytest.fixture
def fresh_discovery() -> Iterator[None]:
    """Discover plugins again after the test changed what is installed."""
    yield
    available_flavors(refresh=True)


def test_built_ins_come_first_and_catch_alls_last() -> None:
    names = list(available_flavors())
    assert names[:4] == BUILT_IN[:4]
    assert names[-2:] == ["sklearn", "pyfunc"]
    assert "echo" in names[4:-2]
    assert get_flavor("sklearn").name == "sklearn"


def test_the_installed_echo_plugin_round_trips(roundtrip: RoundTrip) -> None:
    from shipyard_flavor_echo import EchoModel

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [9.0, 9.0, 9.0]})
    package, loaded = roundtrip(EchoModel(scale=2.0), frame)
    assert package.meta["flavor"] == "echo" and sorted(package.files) == [
        "echo.json",
        "input_example.json",
    ]
    assert package.meta["onnx"]["reason"] == "the echo flavor has no ONNX converter"
    np.testing.assert_array_equal(loaded.predict({"a": 5, "b": 0}), [10.0])
    assert check_flavor(EchoModel(), input_example=frame).flavor == "echo"


def _install_fake_dist(root: Path, name: str, entry_points: str) -> None:
    dist_info = root / f"{name}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[shipyard.flavors]\n{entry_points}\n")


@pytest.mark.usefixtures("fresh_discovery")
def test_broken_plugins_warn_and_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake_dist(
        tmp_path,
        "broken_flavors",
        "missing = shipyard_no_such_module:Flavor\n"
        "notaflavor = json:dumps\n"
        "sklearn = json:JSONDecoder\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(FlavorPluginWarning) as caught:
        flavors = available_flavors(refresh=True)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3
    assert "'missing'" in messages[0] and "ModuleNotFoundError" in messages[0]
    assert "'notaflavor'" in messages[1] and "not a subclass" in messages[1]
    assert "'sklearn'" in messages[2] and "taken by a built-in" in messages[2]
    assert all("broken-flavors" in m or "broken_flavors" in m for m in messages)
    assert {"missing", "notaflavor"}.isdisjoint(flavors)
    assert set(BUILT_IN) <= set(flavors) and "echo" in flavors
    assert type(flavors["sklearn"]).__module__ == "shipyard.models.flavors.sklearn"


def test_unknown_models_name_the_supported_flavors() -> None:
    class Oracle:
        def __call__(self, data: object) -> object:
            return data

    with pytest.raises(InvalidInput) as err:
        flavor_for(Oracle())
    assert "test_plugins.test_unknown_models_name_the_supported_flavors.<locals>.Oracle" in str(
        err.value
    )
    assert "'sklearn'" in err.value.message and "'pyfunc'" in err.value.message
    hint = err.value.hint or ""
    assert "shipyard.models.Flavor" in hint and "'shipyard.flavors'" in hint
    assert "PythonModel" in hint
    with pytest.raises(InvalidInput, match=r"No flavor named 'keras'; available flavors: \["):
        get_flavor("keras")


def test_finding_a_flavor_imports_no_model_library() -> None:
    code = (
        "import sys\n"
        "from shipyard.models._plugins import flavor_for\n"
        "assert flavor_for(lambda data: data).name == 'pyfunc'\n"
        "heavy = {'torch', 'sklearn', 'lightgbm', 'xgboost', 'onnx', 'onnxruntime', 'skl2onnx'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
