"""Shipyard demo: cross-validate a scikit-learn model and track everything about it.

Run with ``make demo``. It trains a gradient-boosting classifier on the breast-cancer data set
that ships with scikit-learn, logs params, per-fold metrics, a ROC figure and the model
(saved with skops, a safe format), then prints the run as ``shipyard runs show`` does.
"""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

import shipyard as sy

PARAMS = {"learning_rate": 0.1, "max_iter": 200, "max_leaf_nodes": 15, "folds": 5, "seed": 7}


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    folds = StratifiedKFold(n_splits=PARAMS["folds"], shuffle=True, random_state=PARAMS["seed"])
    model_params = {k: PARAMS[k] for k in ("learning_rate", "max_iter", "max_leaf_nodes")}

    with sy.start_run(experiment="breast-cancer", name="hgb-cv") as run:
        run.log_params(PARAMS)
        run.set_tags({"dataset": "sklearn.breast_cancer", "model": "HistGradientBoosting"})
        figure, axis = plt.subplots(figsize=(5, 5))
        aucs = []
        for fold, (train, test) in enumerate(folds.split(X, y)):
            with sy.start_run(name=f"fold-{fold}") as child:
                model = HistGradientBoostingClassifier(random_state=PARAMS["seed"], **model_params)
                model.fit(X[train], y[train])
                scores = model.predict_proba(X[test])[:, 1]
                auc = roc_auc_score(y[test], scores)
                child.log_metrics({"auc": auc, "accuracy": accuracy_score(y[test], scores > 0.5)})
            run.log_metrics({"fold_auc": auc}, step=fold)
            aucs.append(auc)
            fpr, tpr, _ = roc_curve(y[test], scores)
            axis.plot(fpr, tpr, label=f"fold {fold} (AUC {auc:.3f})")
        axis.plot([0, 1], [0, 1], linestyle="--", color="grey")
        axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC per fold")
        axis.legend(loc="lower right")
        run.log_figure(figure, "plots/roc.png")
        plt.close(figure)

        final = HistGradientBoostingClassifier(random_state=PARAMS["seed"], **model_params)
        final.fit(X, y)
        run.log_artifact(sio.dumps(final), "model/model.skops")
        run.log_metrics({"auc_mean": float(np.mean(aucs)), "auc_std": float(np.std(aucs))})

    print(f"Logged run {run.id}. Showing it with: shipyard runs show {run.id}\n", flush=True)
    shipyard_cli = [sys.executable, "-m", "shipyard", "runs", "show", run.id]
    sys.exit(subprocess.call(shipyard_cli))


if __name__ == "__main__":
    main()
