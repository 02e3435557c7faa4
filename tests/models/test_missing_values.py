"""Models that fail on missing values are found out at packaging; they then refuse NaN with a
message naming the column and row, on both backends, instead of a library error or (for ONNX)
silently wrong numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInput
from tests.models.conftest import Dataset, RoundTrip


@pytest.mark.parametrize("backend", ["native", "onnx"])
def test_a_model_that_fails_on_nan_refuses_it_by_name(
    breast_cancer: Dataset, roundtrip: RoundTrip, backend: str
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = breast_cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, labels)
    package, loaded = roundtrip(model, features[:5], backend=backend)
    assert package.meta["accepts_missing"] is False
    rows = features[:4].copy()
    rows.iloc[2, 3] = np.nan
    with pytest.raises(InvalidInput, match=r"Row 2 .* column 'mean area'"):
        loaded.predict(rows)
    records = features[:2].to_dict(orient="records")
    records[1]["worst symmetry"] = None  # JSON null
    with pytest.raises(InvalidInput, match=r"Row 1 .* column 'worst symmetry'"):
        loaded.predict(records)
    assert loaded.predict(features[:4]).tolist() == model.predict(features[:4]).tolist()


def test_a_model_that_handles_nan_keeps_taking_it(
    breast_cancer: Dataset, roundtrip: RoundTrip
) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    features, labels = breast_cancer
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(features, labels)
    package, loaded = roundtrip(model, features[:5])
    assert package.meta["accepts_missing"] is True
    rows = features[:3].copy()
    rows.iloc[0, 0] = np.nan
    assert loaded.predict(rows).tolist() == model.predict(rows).tolist()


def test_models_without_float_inputs_are_not_probed(roundtrip: RoundTrip) -> None:
    from sklearn.tree import DecisionTreeRegressor

    features = pd.DataFrame({"a": [1, 2, 3, 4], "b": [0, 1, 0, 1]})
    model = DecisionTreeRegressor().fit(features, [1.0, 2.0, 3.0, 4.0])
    package, _ = roundtrip(model, features)
    assert package.meta["accepts_missing"] is None
