"""Shipyard registry tour: from a versioned dataset to a registered champion model, loaded by URI.

Run with ``.venv/bin/python examples/registry_demo.py`` (``make demo`` runs the closed loop,
``shipyard quickstart``). It versions the breast-cancer data set that ships with scikit-learn
(schema and profile), cross-validates a gradient-boosting classifier with per-fold child runs,
logs params, metrics and a ROC figure, logs the final model (skops, plus a verified ONNX form),
registers it, points the ``champion`` alias at it, loads ``models:/breast-cancer@champion`` and
predicts, then shows the dataset profile and the model version with the ``shipyard`` command.
"""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

import shipyard as sy

PARAMS = {"learning_rate": 0.1, "n_estimators": 200, "max_leaf_nodes": 15, "folds": 5, "seed": 7}


def main() -> None:
    data = load_breast_cancer(as_frame=True)
    X, y = data.data.to_numpy(), data.target.to_numpy()
    folds = StratifiedKFold(n_splits=PARAMS["folds"], shuffle=True, random_state=PARAMS["seed"])
    model_params = {k: PARAMS[k] for k in ("learning_rate", "n_estimators", "max_leaf_nodes")}

    with sy.start_run(experiment="breast-cancer", name="hgb-cv") as run:
        dataset = run.log_dataset(data.frame, "breast-cancer")  # lineage: the run's input
        run.log_params(PARAMS)
        run.set_tags({"dataset": "sklearn.breast_cancer", "model": "GradientBoosting"})
        figure, axis = plt.subplots(figsize=(5, 5))
        aucs = []
        for fold, (train, test) in enumerate(folds.split(X, y)):
            with sy.start_run(name=f"fold-{fold}") as child:
                model = GradientBoostingClassifier(random_state=PARAMS["seed"], **model_params)
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

        final = GradientBoostingClassifier(random_state=PARAMS["seed"], **model_params)
        final.fit(data.data, data.target)
        run.log_metrics({"auc_mean": float(np.mean(aucs)), "auc_std": float(np.std(aucs))})
        ref = run.log_model(final, "model", input_example=data.data.head(5))

    version = sy.register_model(ref, "breast-cancer", description="gradient boosting, 5-fold CV")
    sy.set_alias("breast-cancer", "champion", version.version, reason="demo: first model")
    print(f"Dataset {dataset.ref} ({dataset.num_rows} rows), run {run.id}")
    print(f"Registered {version.uri} (flavor {version.flavor}, ONNX form: {ref.has_onnx})")
    expected = final.predict(data.data)
    for backend in ("native", "onnx") if ref.has_onnx else ("native",):
        champion = sy.load_model("models:/breast-cancer@champion", backend=backend)
        agree = float(np.mean(champion.predict(data.data) == expected))
        print(
            f"models:/breast-cancer@champion ({backend}) agrees with the trained model on "
            f"{agree:.0%} of rows"
        )
    print()
    shipyard = [sys.executable, "-m", "shipyard"]
    for command in (["datasets", "show", "breast-cancer"], ["models", "show", version.uri]):
        print(f"$ shipyard {' '.join(command)}", flush=True)
        if subprocess.call([*shipyard, *command]) != 0:
            sys.exit(1)


if __name__ == "__main__":
    main()
