"""ONNX forms: kept only when they reproduce native predictions, and served like them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import ConversionSkipped
from shipyard.models._package import files_reader, open_package, package_model

from .conftest import Dataset, RoundTrip


def test_sklearn_classifier_labels_and_probabilities_match(
    iris: Dataset, roundtrip: RoundTrip
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    package, onnx = roundtrip(model, X, backend="onnx")
    meta = package.meta["onnx"]
    assert meta["status"] == "verified" and meta["file"] == "model.onnx"
    assert meta["input"] == {"name": "input", "dtype": "float64"}
    assert meta["max_abs_diff"] < 1e-9
    assert onnx.backend == "onnx" and onnx.flavor == "sklearn"
    labels = onnx.predict(X)
    np.testing.assert_array_equal(labels, model.predict(X))
    assert labels.shape == (150,) and isinstance(labels[0], str)
    np.testing.assert_allclose(onnx.predict_proba(X), model.predict_proba(X), atol=1e-5)
    one_row = X.iloc[60].to_dict()
    assert onnx.predict(one_row).tolist() == model.predict(X.iloc[[60]]).tolist()


def test_sklearn_regressor_pipeline_matches_to_1e_5(
    diabetes: Dataset, roundtrip: RoundTrip
) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = diabetes
    model = make_pipeline(StandardScaler(), Ridge(alpha=0.5)).fit(X, y)
    package, onnx = roundtrip(model, X.head(50), backend="onnx")
    assert package.meta["onnx"]["status"] == "verified"
    native = open_package(files_reader(package.files), package.meta)
    predicted = onnx.predict(X)
    assert predicted.shape == (442,) and predicted.dtype == np.float64
    np.testing.assert_allclose(predicted, native.predict(X), rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidInput, match="no class probabilities"):
        onnx.predict_proba(X)


def test_float_only_converters_still_verify(diabetes: Dataset, roundtrip: RoundTrip) -> None:
    from sklearn.ensemble import RandomForestRegressor

    X, y = diabetes
    model = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    package, onnx = roundtrip(model, X, backend="onnx")
    assert package.meta["onnx"]["input"]["dtype"] == "float32"  # trees take floats
    np.testing.assert_allclose(onnx.predict(X), model.predict(X), rtol=1e-5, atol=1e-5)


def test_lightgbm_classifier_converts(breast_cancer: Dataset, roundtrip: RoundTrip) -> None:
    import lightgbm as lgb

    X, y = breast_cancer
    model = lgb.LGBMClassifier(n_estimators=8, num_leaves=7, verbose=-1).fit(X, y)
    package, onnx = roundtrip(model, X, backend="onnx")
    assert package.meta["onnx"]["status"] == "verified", package.meta["onnx"]
    labels = onnx.predict(X)
    np.testing.assert_array_equal(labels, model.predict(X))
    assert labels.dtype == np.int64
    np.testing.assert_allclose(onnx.predict_proba(X), model.predict_proba(X), atol=1e-5)


def test_lightgbm_string_labels_decode_back(iris: Dataset, roundtrip: RoundTrip) -> None:
    import lightgbm as lgb

    X, y = iris
    model = lgb.LGBMClassifier(n_estimators=4, num_leaves=4, verbose=-1).fit(X, y)
    package, onnx = roundtrip(model, X, backend="onnx")
    assert package.meta["onnx"]["status"] == "verified", package.meta["onnx"]
    np.testing.assert_array_equal(onnx.predict(X), model.predict(X))


def test_string_columns_skip_conversion_with_a_reason(roundtrip: RoundTrip) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"color": ["red", "blue", "red", "green"] * 5, "size": range(20)})
    target = np.array([0, 1, 0, 1] * 5)
    encode = make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression()).fit(frame, target)
    package, native = roundtrip(model, frame)
    assert package.meta["onnx"] == {
        "status": "skipped",
        "reason": "columns ['color'] are not numeric; only numeric columns convert",
    }
    assert "model.onnx" not in package.files
    np.testing.assert_array_equal(native.predict(frame), model.predict(frame))
    with pytest.raises(InvalidInput, match="no verified ONNX form: columns \\['color'\\]"):
        open_package(files_reader(package.files), package.meta, backend="onnx")


def test_conversion_can_be_turned_off(diabetes: Dataset) -> None:
    from sklearn.linear_model import Ridge

    X, y = diabetes
    package = package_model(Ridge().fit(X, y), input_example=X.head(), convert_onnx=False)
    assert package.meta["onnx"] == {"status": "skipped", "reason": "convert_onnx=False was given"}
    with pytest.raises(InvalidInput, match="convert_onnx=False"):
        open_package(files_reader(package.files), package.meta, backend="onnx")


def test_array_models_convert_too(breast_cancer: Dataset, roundtrip: RoundTrip) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = breast_cancer[0].to_numpy(), breast_cancer[1]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    _, onnx = roundtrip(model, X[:20], backend="onnx")
    np.testing.assert_array_equal(onnx.predict(X), model.predict(X))
    np.testing.assert_array_equal(onnx.predict(X[3]), model.predict(X[3:4]))


@pytest.mark.parametrize("labels", ["numpy", "python"])
def test_string_labels_keep_the_native_dtype(
    iris: Dataset, roundtrip: RoundTrip, labels: str
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    target = y if labels == "numpy" else pd.Series(y, dtype=object)
    model = DecisionTreeClassifier(max_depth=3).fit(X, target)
    package, onnx = roundtrip(model, X, backend="onnx")
    native = open_package(files_reader(package.files), package.meta)
    expected = native.predict(X)
    assert expected.dtype == model.predict(X).dtype
    for data in (X, X.iloc[:0], X.iloc[0].to_dict()):
        got = onnx.predict(data)
        assert got.dtype == native.predict(data).dtype, (labels, got.dtype)
    np.testing.assert_array_equal(onnx.predict(X), expected)


def test_zero_rows_predict_nothing_in_both_backends(iris: Dataset, roundtrip: RoundTrip) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    model = LogisticRegression(max_iter=300).fit(X, y)
    package, onnx = roundtrip(model, X.head(30), backend="onnx")
    native = open_package(files_reader(package.files), package.meta)
    assert package.meta["proba_width"] == 3
    for loaded in (native, onnx):
        for empty in (X.iloc[:0], [], {name: [] for name in X.columns}, np.zeros((0, 4))):
            predicted = loaded.predict(empty)
            assert predicted.shape == (0,) and predicted.dtype == native.predict(X).dtype
            assert loaded.predict_proba(empty).shape == (0, 3)


@pytest.mark.parametrize("error", [RuntimeError, ConversionSkipped])
def test_conversion_reasons_stay_short(
    diabetes: Dataset, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    from sklearn.linear_model import Ridge

    from shipyard.models.flavors.sklearn import SklearnFlavor

    def fail(*args: object) -> bytes:
        raise error("tree arrays:\n" + "0.125, " * 300_000)

    monkeypatch.setattr(SklearnFlavor, "to_onnx", fail)
    X, y = diabetes
    package = package_model(Ridge().fit(X, y), input_example=X.head())
    reason = package.meta["onnx"]["reason"]
    assert package.meta["onnx"]["status"] == "skipped"
    assert reason.startswith(("RuntimeError: tree arrays: 0.125,", "tree arrays: 0.125"))
    assert len(reason) <= 510 and "\n" not in reason
