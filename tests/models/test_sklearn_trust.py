"""What a scikit-learn model file may make skops build: classes of the trusted libraries only,
decided from the file itself, never from metadata stored next to it."""

from __future__ import annotations

import io
import json
import zipfile
import zoneinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInput
from shipyard.models._package import ModelPackage, files_reader, open_package, package_model
from shipyard.models.flavors.sklearn import SklearnFlavor, is_trusted

from .conftest import Dataset


def _with_node(package: ModelPackage, attr: str, module: str, name: str, args: Any) -> bytes:
    """The package's skops file with attribute ``attr`` rebuilt as ``module.name(*args)``."""
    import skops.io

    source = zipfile.ZipFile(io.BytesIO(package.files["model.skops"]))
    schema = json.loads(source.read("schema.json"))
    content = json.loads(zipfile.ZipFile(io.BytesIO(skops.io.dumps(args))).read("schema.json"))
    content = {k: v for k, v in content.items() if k not in ("protocol", "_skops_version")}
    node = schema["content"]["content"][attr]
    node.update({"__module__": module, "__class__": name, "content": content})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.namelist():
            data = json.dumps(schema) if item == "schema.json" else source.read(item)
            target.writestr(item, data)
    return out.getvalue()


@pytest.fixture
def tree_package(iris: Dataset) -> ModelPackage:
    """A tree with one extra attribute that skops rebuilds by calling its type with arguments."""
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    model = DecisionTreeClassifier(max_depth=2).fit(X, y)
    model.zone_ = zoneinfo.ZoneInfo("UTC")
    return package_model(model, input_example=X.head(3), convert_onnx=False)


def test_a_numpy_function_in_the_file_does_not_run(
    tree_package: ModelPackage, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    code = f"import pathlib; pathlib.Path({str(marker)!r}).touch()"
    files = dict(tree_package.files)
    files["model.skops"] = _with_node(
        tree_package, "zone_", "numpy.testing._private.utils", "runstring", (code, {})
    )
    meta = json.loads(json.dumps(tree_package.meta))
    meta["flavor_meta"]["trusted_types"].append("numpy.testing._private.utils.runstring")
    with pytest.raises(InvalidInput, match=r"\['numpy.testing._private.utils.runstring'\]"):
        open_package(files_reader(files), meta)
    assert not marker.exists()


def test_stored_metadata_cannot_grant_trust(tree_package: ModelPackage) -> None:
    meta = json.loads(json.dumps(tree_package.meta))
    meta["flavor_meta"]["load_options"] = {
        "just_saved": True,
        "trusted_types": ["zoneinfo.ZoneInfo"],
    }
    with pytest.raises(InvalidInput, match=r"\['zoneinfo.ZoneInfo'\]") as err:
        open_package(files_reader(tree_package.files), meta)
    assert "load_options={'trusted_types': ['zoneinfo.ZoneInfo']}" in (err.value.hint or "")
    loaded = open_package(
        files_reader(tree_package.files),
        meta,
        load_options={"trusted_types": ["zoneinfo.ZoneInfo"]},
    )
    assert loaded.raw.zone_ == zoneinfo.ZoneInfo("UTC")


def test_code_running_names_are_refused_even_when_named() -> None:
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    data = skops.io.dumps(FunctionTransformer(func=eval))
    meta = {"file": "model.skops", "load_options": {"trusted_types": ["builtins.eval"]}}
    with pytest.raises(InvalidInput, match=r"uses \['builtins.eval'\], which can run"):
        SklearnFlavor().load(files_reader({"model.skops": data}), meta)
    with pytest.raises(InvalidInput, match="must be a list of type names"):
        SklearnFlavor().load(
            files_reader({"model.skops": data}), {"load_options": {"trusted_types": "eval"}}
        )


@pytest.mark.parametrize(
    ("name", "trusted"),
    [
        ("sklearn.tree._tree.Tree", True),
        ("sklearn.linear_model._logistic.LogisticRegression", True),
        ("lightgbm.sklearn.LGBMClassifier", True),
        ("xgboost.core.Booster", True),
        ("functools.partial", True),
        ("numpy.testing._private.utils.runstring", False),  # exec() on a string
        ("numpy.memmap", False),  # a class, but it creates files
        ("numpy.load", False),
        ("scipy.io.netcdf_file", False),
        ("builtins.eval", False),
        ("builtins.exit", False),
        ("os.system", False),
        ("posix.system", False),
        ("subprocess.Popen", False),
        ("importlib.import_module", False),
        ("operator.attrgetter", False),
        ("sklearn_evil.Model", False),  # a prefix, not the package
        ("sklearn.datasets.dump_svmlight_file", False),  # a function that writes files
        ("sklearn.utils._testing.TempMemmap", False),
        ("sklearn.utils._joblib.Memory", False),  # joblib's class under a sklearn name
        ("sklearn.base.__class__", False),
        ("sklearn..Tree", False),
        ("lightgbm.basic.Dataset", False),  # reads the path it is given
    ],
)
def test_only_classes_of_the_trusted_libraries_are_trusted(name: str, trusted: bool) -> None:
    assert is_trusted(name) is trusted


def test_common_models_load_without_opt_ins(roundtrip: Any) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"c": pd.Categorical(rng.choice(["a", "b", "c"], 120)), "x": rng.normal(size=120)}
    )
    target = (frame["x"] > 0).to_numpy()
    hgb = HistGradientBoostingClassifier(max_iter=3, categorical_features="from_dtype")
    _, loaded = roundtrip(hgb.fit(frame, target), frame.head(), convert_onnx=False)
    np.testing.assert_array_equal(loaded.predict(frame), hgb.predict(frame))

    numbers = frame[["x"]].abs()
    for model in (
        make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()),
        KNeighborsClassifier(algorithm="kd_tree"),
    ):
        _, loaded = roundtrip(model.fit(numbers, target), numbers.head(), convert_onnx=False)
        np.testing.assert_array_equal(loaded.predict(numbers), model.predict(numbers))
