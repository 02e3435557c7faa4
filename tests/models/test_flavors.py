"""Each built-in flavor: package, reopen from bytes, and predict exactly as the original."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from shipyard.core.errors import InvalidInput
from shipyard.models._package import files_reader, open_package, package_model
from shipyard.models._signature import ColumnSpec, TensorSpec
from shipyard.models.flavors.pyfunc import PythonModel

from .conftest import Dataset, RoundTrip


class TinyNet(torch.nn.Module):
    """A two-layer network rebuilt from ``module:QualName`` plus ``init_kwargs``."""

    def __init__(self, n_in: int, n_out: int = 2) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(n_in, 8)
        self.out = torch.nn.Linear(8, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


class Doubler(PythonModel):
    def __init__(self, offset: float) -> None:
        self.offset = offset

    def predict(self, data: Any) -> Any:
        return data["x"].to_numpy() * 2 + self.offset


class ThresholdClassifier(ClassifierMixin, BaseEstimator):
    """A custom estimator: skops needs to be told to trust its type."""

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold

    def fit(self, X: Any, y: Any) -> ThresholdClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        return self.classes_[(np.asarray(X)[:, 0] > self.threshold).astype(int)]


def test_sklearn_classifier_keeps_string_labels(iris: Dataset, roundtrip: RoundTrip) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    package, loaded = roundtrip(model, X.head(10), convert_onnx=False)
    assert loaded.flavor == "sklearn" and package.meta["flavor_meta"]["format"] == "skops"
    predicted = loaded.predict(X)
    np.testing.assert_array_equal(predicted, model.predict(X))
    assert isinstance(predicted[0], str) and predicted.shape == (150,)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=0, atol=1e-12)
    assert loaded.signature.inputs == tuple(ColumnSpec(c, "float64") for c in X.columns)
    assert loaded.signature.outputs == TensorSpec("string", (-1,))


def test_sklearn_regressor_on_arrays(diabetes: Dataset, roundtrip: RoundTrip) -> None:
    from sklearn.ensemble import RandomForestRegressor

    X, y = diabetes
    model = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0)
    model.fit(X.to_numpy(), y)
    _, loaded = roundtrip(model, X.to_numpy()[:5], convert_onnx=False)
    assert loaded.signature.input_kind == "ndarray"
    assert loaded.signature.inputs == TensorSpec("float64", (-1, 10))
    np.testing.assert_array_equal(loaded.predict(X.to_numpy()), model.predict(X.to_numpy()))
    with pytest.raises(InvalidInput, match="no class probabilities"):
        loaded.predict_proba(X.to_numpy())


def test_skops_refuses_types_outside_the_trusted_libraries(iris: Dataset) -> None:
    X, y = iris
    model = ThresholdClassifier(threshold=5.5).fit(X, y)
    package = package_model(model, input_example=X.head(3))
    trusted = package.meta["flavor_meta"]["trusted_types"]
    assert f"{__name__}.ThresholdClassifier" in trusted
    with pytest.raises(InvalidInput, match="Refusing to load") as err:
        open_package(files_reader(package.files), package.meta)
    assert "ThresholdClassifier" in err.value.message and "trusted_types" in (err.value.hint or "")
    loaded = open_package(
        files_reader(package.files), package.meta, load_options={"trusted_types": trusted}
    )
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_trust_comes_from_the_file_not_its_metadata(iris: Dataset) -> None:
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    model = DecisionTreeClassifier(max_depth=2).fit(X, y)
    package = package_model(model, input_example=X)
    assert package.meta["flavor_meta"]["trusted_types"] == ["sklearn.tree._tree.Tree"]
    package.meta["flavor_meta"]["trusted_types"] = ["builtins.eval", "os.system"]
    loaded = open_package(files_reader(package.files), package.meta)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_lightgbm_classifier_regressor_and_booster(
    iris: Dataset, diabetes: Dataset, roundtrip: RoundTrip
) -> None:
    import lightgbm as lgb

    X, y = iris
    clf = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(X, y)
    _, loaded = roundtrip(clf, X.head(), convert_onnx=False)
    assert loaded.flavor == "lightgbm" and loaded.raw.__class__ is lgb.Booster
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=0, atol=1e-12)

    Xd, yd = diabetes
    reg = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1).fit(Xd, yd)
    _, loaded = roundtrip(reg, Xd.head(), convert_onnx=False)
    np.testing.assert_allclose(loaded.predict(Xd), reg.predict(Xd), rtol=1e-12)

    train = lgb.Dataset(Xd, yd, params={"verbose": -1})
    booster = lgb.train({"num_leaves": 4, "verbose": -1}, train, num_boost_round=3)
    _, loaded = roundtrip(booster, Xd.head(), convert_onnx=False)
    np.testing.assert_allclose(loaded.predict(Xd), booster.predict(Xd), rtol=1e-12)


def test_xgboost_classifier_and_regressor(
    breast_cancer: Dataset, diabetes: Dataset, roundtrip: RoundTrip
) -> None:
    import xgboost as xgb

    X, y = breast_cancer
    clf = xgb.XGBClassifier(n_estimators=4, max_depth=2).fit(X, y)
    package, loaded = roundtrip(clf, X.head())
    assert package.meta["onnx"] == {
        "status": "skipped",
        "reason": "the xgboost flavor has no ONNX converter",
    }
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)

    Xd, yd = diabetes
    reg = xgb.XGBRegressor(n_estimators=4, max_depth=2).fit(Xd, yd)
    _, loaded = roundtrip(reg, Xd.head(), convert_onnx=False)
    np.testing.assert_allclose(loaded.predict(Xd), reg.predict(Xd), rtol=1e-6)


def test_onnx_models_run_with_onnxruntime(diabetes: Dataset, roundtrip: RoundTrip) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.linear_model import Ridge

    X, y = diabetes
    ridge = Ridge().fit(X.to_numpy(), y)
    proto = to_onnx(ridge, initial_types=[("x", DoubleTensorType([None, 10]))])
    package, loaded = roundtrip(proto, X.to_numpy()[:5])
    assert loaded.flavor == "onnx"
    np.testing.assert_allclose(loaded.predict(X.to_numpy()), ridge.predict(X.to_numpy()), rtol=1e-9)
    assert package.meta["onnx"]["status"] == "verified"
    assert package.meta["onnx"]["file"] == "model.onnx"
    with pytest.raises(InvalidInput, match="not valid"):
        package_model(b"not onnx", input_example=X.to_numpy()[:2], flavor="onnx")


def test_pytorch_safetensors_rebuilds_the_class(
    breast_cancer: Dataset, roundtrip: RoundTrip
) -> None:
    torch.manual_seed(0)
    X = breast_cancer[0].to_numpy()
    net = TinyNet(30).eval()
    package, loaded = roundtrip(net, X[:4], options={"init_kwargs": {"n_in": 30}})
    meta = package.meta["flavor_meta"]
    assert meta["class"] == f"{__name__}:TinyNet" and meta["format"] == "safetensors"
    assert package.files["model.safetensors"][:8] != b"\x80\x04\x95"  # not a pickle
    with torch.no_grad():
        expected = net(torch.from_numpy(X.astype(np.float32))).numpy()
    np.testing.assert_array_equal(loaded.predict(X), expected)
    assert loaded.signature.outputs == TensorSpec("float32", (-1, 2))


def test_pytorch_refuses_what_it_could_not_rebuild(breast_cancer: Dataset) -> None:
    X = breast_cancer[0].to_numpy()[:3]
    with pytest.raises(InvalidInput, match="does not rebuild") as err:
        package_model(TinyNet(30), input_example=X)  # init_kwargs missing
    assert "init_kwargs" in (err.value.hint or "")

    class Local(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(dim=1)

    with pytest.raises(InvalidInput, match="cannot be imported again") as err:
        package_model(Local(), input_example=X)
    assert "torchscript" in (err.value.hint or "")
    package = package_model(Local(), input_example=X, options={"format": "torchscript"})
    loaded = open_package(files_reader(package.files), package.meta)
    np.testing.assert_allclose(loaded.predict(X), X.sum(axis=1), rtol=1e-6)
    with pytest.raises(InvalidInput, match=r"does not take option\(s\) \['epochs'\]"):
        package_model(Local(), input_example=X, options={"epochs": 3})


def test_pytorch_class_reference_must_be_an_import_path(breast_cancer: Dataset) -> None:
    X = breast_cancer[0].to_numpy()[:3]
    package = package_model(TinyNet(30), input_example=X, options={"init_kwargs": {"n_in": 30}})
    for ref, message in [
        ("../../tmp/evil:TinyNet", "not of the form 'package.module:Class'"),
        ("/tmp/evil.py:TinyNet", "not of the form 'package.module:Class'"),
        ("os:system", "not a torch.nn.Module subclass"),
    ]:
        meta = json.loads(json.dumps(package.meta))
        meta["flavor_meta"]["class"] = ref
        with pytest.raises(InvalidInput, match=message):
            open_package(files_reader(package.files), meta)
    meta = json.loads(json.dumps(package.meta))
    meta["flavor_meta"]["init_kwargs"] = [30]
    with pytest.raises(InvalidInput, match=r"init_kwargs \[30\] are not a dict"):
        open_package(files_reader(package.files), meta)


def test_torchscript_traces_what_it_cannot_script(breast_cancer: Dataset) -> None:
    class VarArgs(torch.nn.Module):  # TorchScript rejects *args; tracing does not care
        def forward(self, x: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
            return x[:, :2] * 2

    X = breast_cancer[0].to_numpy()
    package = package_model(VarArgs(), input_example=X[:3], options={"format": "torchscript"})
    loaded = open_package(files_reader(package.files), package.meta)
    np.testing.assert_allclose(loaded.predict(X), X[:, :2] * 2, rtol=1e-6)


def test_pyfunc_models_and_functions(roundtrip: RoundTrip) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 0, 0]})
    package, loaded = roundtrip(Doubler(offset=0.5), frame)
    assert package.meta["flavor_meta"]["kind"] == "python_model"
    np.testing.assert_array_equal(loaded.predict({"x": 4, "y": 1}), [8.5])

    _, loaded = roundtrip(lambda data: np.asarray(data) ** 2, np.array([[1.0, 2.0]]))
    assert loaded.flavor == "pyfunc"
    np.testing.assert_array_equal(loaded.predict([[3.0, 4.0]]), [[9.0, 16.0]])


def test_package_metadata_and_example(breast_cancer: Dataset) -> None:
    from sklearn.linear_model import LinearRegression

    X, y = breast_cancer
    package = package_model(LinearRegression().fit(X, y), input_example=X.head(20))
    meta = package.meta
    assert meta["format_version"] == 1 and meta["flavor"] == "sklearn"
    assert (
        meta["files"]
        == sorted(package.files)
        == ["input_example.json", "model.onnx", "model.skops"]
    )
    assert {"scikit-learn", "skops", "numpy"} <= set(meta["library_versions"])
    assert meta["python_version"].startswith("3.") and meta["created_ms"] > 1_600_000_000_000
    example = json.loads(package.files["input_example.json"])
    assert example["columns"] == list(X.columns) and len(example["data"]) == 5
    assert example["data"][0][0] == X.iloc[0, 0]


def test_unusable_models_and_packages_are_refused(breast_cancer: Dataset) -> None:
    from sklearn.linear_model import LinearRegression

    X, y = breast_cancer
    package = package_model(LinearRegression().fit(X, y), input_example=X.head(2))
    read = files_reader(package.files)
    with pytest.raises(InvalidInput, match="format version 2"):
        open_package(read, {**package.meta, "format_version": 2})
    with pytest.raises(InvalidInput, match=r"Unknown backend 'tensorrt'"):
        open_package(read, package.meta, backend="tensorrt")
    with pytest.raises(InvalidInput, match="failed to predict on input_example"):
        package_model(LinearRegression().fit(X, y), input_example=X.iloc[:2, :5].to_numpy())


def test_zero_rows_predict_nothing_in_every_flavor(
    iris: Dataset, diabetes: Dataset, roundtrip: RoundTrip
) -> None:
    import lightgbm as lgb
    import xgboost as xgb

    X, y = iris
    Xd, yd = diabetes
    cases: list[tuple[Any, Any, Any]] = [
        (lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y), X, 3),
        (xgb.XGBClassifier(n_estimators=3).fit(X, np.unique(y, return_inverse=True)[1]), X, 3),
        (xgb.XGBRegressor(n_estimators=3).fit(Xd, yd), Xd, None),
        (TinyNet(4), X.to_numpy(), None),
    ]
    for model, data, classes in cases:
        options = {"init_kwargs": {"n_in": 4}} if isinstance(model, TinyNet) else None
        _, loaded = roundtrip(model, data[:5], options=options, convert_onnx=False)
        full = loaded.predict(data[:5])
        empty = loaded.predict(data[:0])
        assert empty.shape == (0, *full.shape[1:]) and empty.dtype == full.dtype, model
        if classes is not None:
            assert loaded.predict_proba(data[:0]).shape == (0, classes)


def test_an_example_without_rows_is_refused(iris: Dataset) -> None:
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    with pytest.raises(InvalidInput, match="input_example has no rows"):
        package_model(DecisionTreeClassifier().fit(X, y), input_example=X.iloc[:0])


def test_loaded_models_predict_from_many_threads(
    breast_cancer: Dataset, roundtrip: RoundTrip
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import lightgbm as lgb

    X, y = breast_cancer
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    rows = [X.iloc[i].to_dict() for i in range(100)]
    for backend in ("native", "onnx"):
        _, loaded = roundtrip(model, X.head(20), backend=backend)
        expected = [loaded.predict_proba(row) for row in rows]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(loaded.predict_proba, rows * 4))
        for a, b in zip(expected * 4, got, strict=True):
            np.testing.assert_array_equal(a, b)
