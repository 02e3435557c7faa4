"""Small real datasets and a package-then-reopen helper for the model packaging tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.models._package import (
    LoadedModel,
    ModelPackage,
    files_reader,
    open_package,
    package_model,
)

Dataset = tuple[pd.DataFrame, np.ndarray]
RoundTrip = Callable[..., tuple[ModelPackage, LoadedModel]]


@pytest.fixture(scope="session")
def breast_cancer() -> Dataset:
    """30 float64 columns, 0/1 integer labels."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    return data.data, data.target.to_numpy()


@pytest.fixture(scope="session")
def iris() -> Dataset:
    """4 float64 columns, string labels ("setosa", ...)."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    return data.data, np.asarray(data.target_names)[data.target.to_numpy()]


@pytest.fixture(scope="session")
def diabetes() -> Dataset:
    """10 float64 columns, a float target."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True)
    return data.data, data.target.to_numpy()


@pytest.fixture
def roundtrip() -> RoundTrip:
    """Package a model, then open it from its files and a JSON copy of its metadata."""

    def run(
        model: Any, example: Any, *, backend: str = "native", **kwargs: Any
    ) -> tuple[ModelPackage, LoadedModel]:
        import json

        package = package_model(model, input_example=example, **kwargs)
        meta = json.loads(json.dumps(package.meta, allow_nan=False))
        return package, open_package(files_reader(package.files), meta, backend=backend)

    return run
