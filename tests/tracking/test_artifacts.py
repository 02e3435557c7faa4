"""Artifacts through the tracking API: logging, reading, downloading, and refusing tricks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.tracking import tracking_service
from tests.store.test_artifact_names import TRICKS

CANARY_TEXT = b"canary: must never be read or written"


@pytest.fixture(autouse=True)
def _ws(workspace: Path) -> Path:
    return workspace


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary.txt"
    path.write_bytes(CANARY_TEXT)
    return path


def test_files_folders_and_bytes_round_trip_verified(tmp_path: Path) -> None:
    folder = tmp_path / "report"
    (folder / "plots").mkdir(parents=True)
    (folder / "summary.txt").write_text("ok")
    (folder / "plots" / "roc.csv").write_text("fpr,tpr\n0,0\n1,1\n")
    single = tmp_path / "model.bin"
    single.write_bytes(os.urandom(3 * 1024 * 1024))
    with sy.start_run(experiment="art") as run:
        run.log_artifact(single)
        run.log_artifact(folder)
        run.log_artifact(b"raw bytes", "notes/raw.txt")
        run.log_artifact(b"raw bytes", "notes/raw.txt")  # same content again: idempotent
    service = tracking_service()
    listed = {a.name: a for a in service.list_artifacts(run.id)}
    assert sorted(listed) == [
        "model.bin",
        "notes/raw.txt",
        "report/plots/roc.csv",
        "report/summary.txt",
    ]
    assert listed["model.bin"].digest == hashlib.sha256(single.read_bytes()).hexdigest()
    assert service.get_artifact(run.id, "notes/raw.txt") == b"raw bytes"
    written = service.download_artifacts(run.id, tmp_path / "out", "report")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "report/plots/roc.csv",
        "report/summary.txt",
    ]
    assert (tmp_path / "out/report/summary.txt").read_text() == "ok"


def test_identical_content_is_stored_once() -> None:
    with sy.start_run(experiment="dedup") as run:
        run.log_artifact(b"same", "a.txt")
        run.log_artifact(b"same", "b.txt")
    digests = {a.digest for a in tracking_service().list_artifacts(run.id)}
    assert len(digests) == 1


def test_an_artifact_name_cannot_be_rebound_to_other_content() -> None:
    with sy.start_run(experiment="immutable-art") as run:
        run.log_artifact(b"v1", "model.bin")
        with pytest.raises(
            sy.Conflict, match=r"already has a different artifact named 'model\.bin'"
        ):
            run.log_artifact(b"v2", "model.bin")
    assert tracking_service().get_artifact(run.id, "model.bin") == b"v1"


def test_log_figure_stores_a_real_png() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.plot([0, 1], [0, 1])
    with sy.start_run(experiment="fig") as run:
        run.log_figure(figure, "plots/line.png")
        with pytest.raises(sy.InvalidInput, match=r"Cannot save a matplotlib figure as 'x\.txt'"):
            run.log_figure(figure, "x.txt")
    plt.close(figure)
    assert tracking_service().get_artifact(run.id, "plots/line.png").startswith(b"\x89PNG\r\n")


@pytest.mark.parametrize("trick", TRICKS)
def test_tricky_names_never_touch_the_canary(trick: str, canary: Path, tmp_path: Path) -> None:
    with sy.start_run(experiment="tricks") as run:
        with pytest.raises(sy.InvalidArtifactName):
            run.log_artifact(b"evil", trick)
        run.log_artifact(b"fine", "ok.txt")
    service = tracking_service()
    with pytest.raises(sy.InvalidArtifactName):
        service.get_artifact(run.id, trick)
    with pytest.raises(sy.InvalidArtifactName):
        service.download_artifacts(run.id, tmp_path / "dl", trick)
    assert canary.read_bytes() == CANARY_TEXT
    assert [a.name for a in service.list_artifacts(run.id)] == ["ok.txt"]


def test_symlinks_are_refused_when_logging_and_when_downloading(
    tmp_path: Path, canary: Path
) -> None:
    link = tmp_path / "link.txt"
    link.symlink_to(canary)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "inner").symlink_to(canary)
    with sy.start_run(experiment="links") as run:
        with pytest.raises(sy.InvalidInput, match="symlink"):
            run.log_artifact(link)
        with pytest.raises(sy.InvalidInput, match="symlink"):
            run.log_artifact(folder)
        run.log_artifact(b"payload", "sub/file.txt")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(tmp_path)  # a link planted where the download will write
    with pytest.raises(sy.InvalidArtifactName):
        tracking_service().download_artifacts(run.id, dest)
    assert canary.read_bytes() == CANARY_TEXT
    assert not (tmp_path / "file.txt").exists()
    assert tracking_service().list_artifacts(run.id)[0].name == "sub/file.txt"


def test_a_corrupted_blob_is_reported_not_returned(workspace: Path) -> None:
    with sy.start_run(experiment="corrupt") as run:
        (record,) = run.log_artifact(b"precious bytes", "data.bin")
    service = tracking_service()
    blob = Path(service.store.blobs.blob_path(record.digest))
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(sy.ArtifactCorrupted, match=record.digest):
        service.get_artifact(run.id, "data.bin")


def test_artifacts_on_an_s3_api(
    s3_location: tuple[str, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, options = s3_location
    endpoint = options["client_kwargs"]["endpoint_url"]  # type: ignore[index]
    monkeypatch.setenv("SHIPYARD_ARTIFACTS", f"{base}/workspace")
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(endpoint))
    with sy.start_run(experiment="s3") as run:
        run.log_artifact(b"in the bucket", "remote/file.txt")
    service = tracking_service()
    assert service.store.blobs.location.startswith("s3://")
    assert service.get_artifact(run.id, "remote/file.txt") == b"in the bucket"
