"""Predictive analytics on tables: one call from a CSV, Parquet file or DataFrame and a target
column to an evaluated, registered model.

    from shipyard.solutions import tabular

    result = tabular.train_tabular("churn.csv", "churned", slice_columns=["plan"])
    result.metrics["roc_auc"], result.model_uri          # 0.91, "models:/churn-churned/1"
    tabular.scaffold("churn-project", "churn.csv", "churned")   # a project with a pipeline

Importing this package is cheap: pandas, scikit-learn, LightGBM and matplotlib are imported
inside the functions that use them.
"""

from shipyard.solutions.tabular._scaffold import scaffold
from shipyard.solutions.tabular._solution import TabularResult, default_name, train_tabular
from shipyard.solutions.tabular._task import infer_task

__all__ = ["TabularResult", "default_name", "infer_task", "scaffold", "train_tabular"]
