"""The BentoML side of the serving benchmark: a minimal 1.x ``@bentoml.service``.

``serving.py`` runs ``bentoml serve _serving_bento:Classifier`` from the BentoML peer venv with
``SERVING_BENCH_MODEL`` naming the model in BentoML's store (saved by ``_serving_workers.py``)
and ``SERVING_BENCH_WORKERS`` the number of worker processes. The API takes the same records as
Shipyard's JSON route, ``{"instances": [{column: value, ...}]}``, and answers
``{"predictions": [...]}``: the code a BentoML user would write for a tabular classifier.
"""

from __future__ import annotations

import os

import bentoml
import pandas as pd

MODEL_TAG = os.environ.get("SERVING_BENCH_MODEL", "cancer_sklearn:latest")
WORKERS = int(os.environ.get("SERVING_BENCH_WORKERS", "1"))


@bentoml.service(workers=WORKERS)
class Classifier:
    def __init__(self) -> None:
        stored = bentoml.models.get(MODEL_TAG)
        # bentoml.lightgbm stores the native text model and loads it as a Booster, whose
        # predict gives the probability of class 1; bentoml.sklearn gives the estimator back.
        self.booster = stored.info.module.endswith("lightgbm")
        flavor = bentoml.lightgbm if self.booster else bentoml.sklearn
        self.model = flavor.load_model(stored)

    @bentoml.api
    def predict(self, instances: list[dict[str, float]]) -> dict[str, list[int]]:
        frame = pd.DataFrame.from_records(instances)
        output = self.model.predict(frame)
        labels = (output > 0.5).astype(int) if self.booster else output
        return {"predictions": [int(label) for label in labels]}
