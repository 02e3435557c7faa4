"""The registry on a real workspace (SQLite file and PostgreSQL schema): versions, aliases, URIs,
audit trail, lineage, and loading registered models back."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard import registry
from shipyard.core.errors import ArtifactCorrupted, Conflict, InvalidInput, NotFound
from shipyard.tracking import tracking_service


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    data = load_breast_cancer(as_frame=True)
    return data.data.iloc[:, :6], data.target.to_numpy()


def _train(cancer: tuple[pd.DataFrame, Any], c: float = 1.0) -> LogisticRegression:
    frame, target = cancer
    return LogisticRegression(C=c, max_iter=2000).fit(frame, target)


def _log(cancer: tuple[pd.DataFrame, Any], c: float = 1.0, auc: float = 0.9) -> sy.ModelRef:
    frame, _ = cancer
    with sy.start_run(experiment="churn") as run:
        run.log_dataset(frame, "cancer")
        run.log_metric("auc", auc)
        return run.log_model(_train(cancer, c), "model", input_example=frame.head(5))


def test_versions_are_numbered_and_linked_to_run_metrics_and_datasets(
    workspace: Path, cancer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_USER", "ana")
    first = sy.register_model(_log(cancer, auc=0.91), "cancer-clf", description="baseline")
    second = sy.register_model(_log(cancer, c=0.1, auc=0.93), "cancer-clf", tags={"team": "risk"})
    assert (first.version, second.version) == (1, 2)
    assert first.flavor == "sklearn" and first.status == "ready"
    assert first.description == "baseline" and first.created_by == "ana"
    assert second.tags == {"team": "risk"}
    assert second.metrics == {"auc": pytest.approx(0.93)}
    assert second.datasets == ("cancer:1",)  # the same data twice is one dataset version
    assert second.uri == "models:/cancer-clf/2"
    assert second.source.startswith("runs:/") and second.source.endswith("/model")
    (model,) = sy.list_models()
    assert (model.name, model.latest_version) == ("cancer-clf", 2)
    assert [v.version for v in sy.list_model_versions("cancer-clf")] == [1, 2]


def test_aliases_move_and_uris_resolve_everywhere(workspace: Path, cancer: Any) -> None:
    for c in (1.0, 0.5, 0.1):
        sy.register_model(_log(cancer, c=c), "clf")
    sy.set_alias("clf", "champion", 1)
    sy.set_alias("clf", "challenger", 3)
    assert registry.resolve_model("models:/clf@champion").version == 1
    sy.set_alias("clf", "champion", 2, reason="better recall")
    assert registry.resolve_model("models:/clf@champion").version == 2
    assert registry.resolve_model("models:/clf@latest").version == 3
    assert registry.resolve_model("models:/clf/1").version == 1
    assert sy.get_model_version("clf", 2).aliases == ("champion",)
    assert sy.list_models()[0].aliases == {"challenger": 3, "champion": 2}

    sy.delete_alias("clf", "challenger")
    sy.update_model_version("clf", 3, status="archived", reason="leaks a feature")
    assert registry.resolve_model("models:/clf@latest").version == 2  # skips archived
    with pytest.raises(NotFound, match="no alias 'challenger'") as caught:
        registry.resolve_model("models:/clf@challenger")
    assert caught.value.hint is not None and "champion" in caught.value.hint
    with pytest.raises(Conflict, match="holds the aliases champion"):
        sy.update_model_version("clf", 2, status="archived")
    with pytest.raises(Conflict, match="archived"):
        sy.set_alias("clf", "champion", 3)
    with pytest.raises(InvalidInput, match="reserved"):
        sy.set_alias("clf", "latest", 1)


def test_a_registered_version_can_be_registered_under_another_name(
    workspace: Path, cancer: Any
) -> None:
    original = sy.register_model(_log(cancer), "clf")
    sy.set_alias("clf", "champion", 1)
    copy = sy.register_model("models:/clf@champion", "clf-prod", reason="promote")
    assert (copy.name, copy.version) == ("clf-prod", 1)
    assert (copy.run_id, copy.artifact_path) == (original.run_id, original.artifact_path)


def test_every_change_is_an_audit_event_with_who_and_why(
    workspace: Path, cancer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_USER", "ana")
    ref = _log(cancer)
    sy.register_model(ref, "clf", reason="first cut")
    monkeypatch.setenv("SHIPYARD_USER", "ben")
    sy.set_alias("clf", "champion", 1, reason="passed the gate", evidence={"gate": "passed"})
    registry.set_model_version_tags("clf", 1, {"reviewed": "yes"})
    sy.update_model_version("clf", 1, description="LR on 6 features")
    sy.delete_alias("clf", "champion", reason="rollback drill")
    events = sy.model_history("clf")
    assert [(e.action, e.version, e.user) for e in events] == [
        ("create_model", None, "ana"),
        ("register", 1, "ana"),
        ("set_alias", 1, "ben"),
        ("set_tags", 1, "ben"),
        ("update", 1, "ben"),
        ("delete_alias", 1, "ben"),
    ]
    assert events[1].reason == "first cut" and events[1].detail == {"source": ref.uri}
    assert events[2].detail == {"alias": "champion", "previous_version": None, "gate": "passed"}
    assert events[5].reason == "rollback drill"
    assert all(b.at_ms >= a.at_ms for a, b in itertools.pairwise(events))


def test_load_model_by_any_uri_predicts_like_the_trained_model(
    workspace: Path, cancer: Any
) -> None:
    frame, _ = cancer
    model = _train(cancer)
    with sy.start_run() as run:
        ref = run.log_model(model, "model", input_example=frame.head(3))
    sy.register_model(ref, "clf")
    sy.set_alias("clf", "champion", 1)
    expected = model.predict(frame)
    for uri in ("models:/clf/1", "models:/clf@champion", "models:/clf@latest", ref.uri):
        loaded = sy.load_model(uri)
        np.testing.assert_array_equal(loaded.predict(frame), expected)
    loaded = sy.load_model("models:/clf@champion")
    records = frame.head(4).to_dict("records")
    as_dict = {column: frame[column].head(4).tolist() for column in frame.columns}
    np.testing.assert_array_equal(loaded.predict(records), expected[:4])
    np.testing.assert_array_equal(loaded.predict(as_dict), expected[:4])
    np.testing.assert_array_equal(loaded.predict(frame.head(4).to_numpy()), expected[:4])
    missing = frame.columns[2]
    with pytest.raises(InvalidInput, match=missing):
        loaded.predict(frame.drop(columns=[missing]).head(2))


def test_a_model_whose_blob_was_tampered_with_is_refused(workspace: Path, cancer: Any) -> None:
    frame, _ = cancer
    with sy.start_run() as run:
        ref = run.log_model(_train(cancer), "model", input_example=frame.head(3))
    service = tracking_service()
    records = {r.name: r for r in service.list_artifacts(ref.run_id)}
    model_files = [r for n, r in records.items() if n.startswith("model/") and "json" not in n]
    for record in model_files:
        path = Path(service.store.blobs.blob_path(record.digest))
        path.chmod(0o644)
        path.write_bytes(path.read_bytes()[:-8] + b"tampered")
    with pytest.raises(ArtifactCorrupted):
        sy.load_model(ref.uri)


def test_bad_input_gets_clear_errors(workspace: Path, cancer: Any) -> None:
    with sy.start_run() as run:
        run.log_artifact(b"not a model", "notes/readme.txt")
    with pytest.raises(NotFound, match="no model"):
        sy.register_model(f"runs:/{run.id}/notes", "clf")
    with pytest.raises(InvalidInput, match="Invalid model name"):
        sy.register_model(f"runs:/{run.id}/notes", "bad name!")
    with pytest.raises(InvalidInput, match="Cannot read the model URI"):
        sy.load_model("models:/clf")
    with pytest.raises(InvalidInput, match="positive integer"):
        sy.get_model_version("clf", 0)
    with pytest.raises(NotFound, match="No registered model named 'nope'"):
        sy.load_model("models:/nope@champion")
    sy.register_model(_log(cancer), "clf")
    with pytest.raises(NotFound, match="no version 7"):
        sy.load_model("models:/clf/7")
    with pytest.raises(InvalidInput, match="status"):
        sy.update_model_version("clf", 1, status="production")


def test_log_model_with_an_unsupported_object_names_the_flavors(workspace: Path) -> None:
    with sy.start_run() as run, pytest.raises(InvalidInput) as caught:
        run.log_model(object(), "model", input_example=[[1.0]])
    assert "sklearn" in caught.value.message and "object" in caught.value.message
    assert caught.value.hint is not None and "shipyard.flavors" in caught.value.hint


def test_versions_of_run_are_the_versions_made_from_its_model(workspace: Path, cancer: Any) -> None:
    ref = _log(cancer, auc=0.92)
    other = _log(cancer, c=0.1)
    sy.register_model(other, "cancer-clf")  # v1, from the other run
    sy.register_model(ref, "cancer-clf", tags={"team": "risk"})  # v2
    sy.register_model(ref, "audit")  # v1 of a second model, same run
    sy.register_model("models:/cancer-clf/2", "copy")  # registered again: still this run's
    sy.set_alias("cancer-clf", "champion", 2)
    service = registry.registry_service()
    found = service.versions_of_run(ref.run_id[:16])  # a prefix is enough
    assert [(v.name, v.version) for v in found] == [("audit", 1), ("cancer-clf", 2), ("copy", 1)]
    assert found == [service.get_version(v.name, v.version) for v in found]  # same hydration
    assert found[1].aliases == ("champion",) and found[1].tags == {"team": "risk"}
    assert found[1].metrics == {"auc": pytest.approx(0.92)} and found[1].datasets == ("cancer:1",)
    with sy.start_run(experiment="churn") as bare:
        pass
    assert service.versions_of_run(bare.id) == []
    with pytest.raises(NotFound):
        service.versions_of_run("0" * 10)  # a prefix of no run
