"""Rolling models out on a live server: hot swap under load, canary splits, sticky callers, and
shadow traffic that is logged but never answered."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import MODEL, Models, ServeApp, deployment


@pytest.fixture
def champion_restored(workspace_env: Models) -> Iterator[None]:
    """Tests here move bc@champion; the session workspace gets v1 back afterwards."""
    import shipyard as sy

    yield
    sy.set_alias(MODEL, "champion", 1, reason="test cleanup")


class SteadyLoad:
    """Threads that post one-row requests until stopped, recording every answer."""

    def __init__(self, url: str, body: dict[str, Any], threads: int = 4) -> None:
        self.url, self.body = url, body
        self.answers: list[tuple[int, str | None]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(self.url, json=self.body)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                version = response.headers.get("shipyard-model-version")
                self.answers.append((response.status_code, version))

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.mark.slow
def test_hot_swap_and_rollback_under_load_fail_no_request(
    serve_app: ServeApp, models: Models, champion_restored: None
) -> None:
    import httpx

    import shipyard as sy

    server = serve_app({"deployments": [deployment(poll_seconds=0.2)]})
    url = f"{server.url}/v1/models/{MODEL}:predict"
    body = {"instances": models.features[:1].to_dict(orient="records")}
    with SteadyLoad(url, body) as load:
        _wait_for(lambda: len(load.answers) > 50)
        sy.set_alias(MODEL, "champion", 2, reason="test: promote")
        _wait_for(lambda: load.answers[-1][1] == "2")
        seen_two = len(load.answers)
        _wait_for(lambda: len(load.answers) > seen_two + 50)
        sy.set_alias(MODEL, "champion", 1, reason="test: roll back")
        _wait_for(lambda: load.answers[-1][1] == "1")
        rolled = len(load.answers)
        _wait_for(lambda: len(load.answers) > rolled + 50)
    assert load.failures == []
    assert {code for code, _ in load.answers} == {200}
    versions = [v for _, v in load.answers]
    # one switch to 2, one back to 1; requests in flight at a swap may finish on either
    changes = [(a, b) for a, b in itertools.pairwise(versions) if a != b]
    assert len([c for c in changes if c == ("1", "2")]) >= 1 and versions[-1] == "1"
    status = httpx.get(f"{server.url}/v1/deployments").json()["deployments"][0]
    swaps = [(s["from_version"], s["to_version"]) for s in status["recent_swaps"]]
    assert swaps == [(1, 2), (2, 1)]
    info = httpx.get(f"{server.url}/metrics").text
    labels = 'backend="onnx",deployment="bc",model="bc",variant="champion",version="1"'
    assert f"shipyard_model_info{{{labels}}} 1.0" in info
    assert 'version="2"' not in info.split("shipyard_model_info")[1].split("# HELP")[0]


def test_canary_split_follows_the_weights(serve_app: ServeApp, models: Models) -> None:
    import httpx

    config = {
        "server": {"inference_log": False},
        "deployments": [
            deployment(
                model=MODEL,
                traffic={"champion": 90, "challenger": 10},
                sticky_header="x-user",
            )
        ],
    }
    server = serve_app(config)
    url = f"{server.url}/v1/models/{MODEL}:predict"
    body = {"instances": models.features[:1].to_dict(orient="records")}
    with httpx.Client() as client:
        variants = Counter(
            client.post(url, json=body).headers["shipyard-variant"] for _ in range(2000)
        )
        assert abs(variants["challenger"] / 2000 - 0.10) < 0.02, variants
        # sticky: one caller always lands on the same variant; many callers split ~90/10
        per_user = {
            user: {
                client.post(url, json=body, headers={"x-user": user}).headers["shipyard-variant"]
                for _ in range(3)
            }
            for user in (f"user-{i}" for i in range(300))
        }
    assert all(len(seen) == 1 for seen in per_user.values())
    share = sum(seen == {"challenger"} for seen in per_user.values()) / len(per_user)
    assert 0.04 < share < 0.18, share


def test_shadow_gets_a_copy_whose_outputs_are_logged_not_returned(
    serve_app: ServeApp, models: Models
) -> None:
    import httpx

    from shipyard.core.config import resolve_settings
    from shipyard.serve import read_inference_log

    server = serve_app({"deployments": [deployment(name="shadowed", shadow="challenger")]})
    url = f"{server.url}/v1/models/shadowed:predict"
    rows = models.features[:20]
    ids = []
    with httpx.Client() as client:
        for start in range(0, 20, 4):
            records = rows[start : start + 4].to_dict(orient="records")
            answer = client.post(url, json={"instances": records}).json()
            assert answer["model_version"] == "1"  # the primary answers
            assert answer["predictions"] == models.expected[1][start : start + 4].tolist()
            ids.append(answer["id"])
    _wait_for(lambda: server.state.deployments["shadowed"].shadow.current.batcher.depth == 0)
    server.stop()  # flushes the inference log
    log = read_inference_log(resolve_settings().artifacts, "shadowed").to_pandas()
    log = log[log["request_id"].isin(ids)]
    primary, shadow = log[log["role"] == "primary"], log[log["role"] == "shadow"]
    assert len(primary) == len(shadow) == 20
    assert set(shadow["model_version"]) == {2} and set(primary["model_version"]) == {1}
    shadow = shadow.sort_values(["request_id", "row"]).set_index(["request_id", "row"])
    order = [(request_id, row) for request_id in ids for row in range(4)]
    assert shadow.loc[order, "prediction"].tolist() == models.expected[2][:20].tolist()


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    serve_app: ServeApp, models: Models
) -> None:
    import httpx
    from sklearn.tree import DecisionTreeClassifier

    import shipyard as sy
    from shipyard.tracking import tracking_service

    features, labels = models.features, models.labels
    refs = []
    for depth in (1, 3):
        with sy.start_run(experiment="serve-tests") as run:
            model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(features, labels)
            refs.append(run.log_model(model, "model", input_example=features[:3]))
    good = sy.register_model(refs[0], "fragile")
    broken = sy.register_model(refs[1], "fragile")
    sy.set_alias("fragile", "champion", good.version)
    service = tracking_service()
    for record in service.list_artifacts(refs[1].run_id):  # damage v2's model files on disk
        if record.name.startswith("model/") and not record.name.endswith(".json"):
            path = Path(service.store.blobs.blob_path(record.digest))
            path.chmod(0o644)
            path.write_bytes(path.read_bytes()[:-8] + b"tampered")
    server = serve_app(
        {"deployments": [deployment("fragile", "models:/fragile@champion", poll_seconds=0.1)]}
    )
    url = f"{server.url}/v1/models/fragile:predict"
    body = {"instances": features[:2].to_dict(orient="records")}
    assert httpx.post(url, json=body).headers["shipyard-model-version"] == str(good.version)
    sy.set_alias("fragile", "champion", broken.version)

    def load_failed() -> bool:
        status = httpx.get(f"{server.url}/v1/deployments").json()["deployments"][0]
        return status["variants"][0]["last_error"] is not None

    _wait_for(load_failed)
    status = httpx.get(f"{server.url}/v1/deployments").json()["deployments"][0]
    assert "ArtifactCorrupted" in status["variants"][0]["last_error"]
    assert status["variants"][0]["version"] == good.version and status["ready"]
    answers = [httpx.post(url, json=body) for _ in range(20)]
    assert {(a.status_code, a.headers["shipyard-model-version"]) for a in answers} == {
        (200, str(good.version))
    }
