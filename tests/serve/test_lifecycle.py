"""The server as a process: ``shipyard serve`` starts, answers, and on SIGTERM drains in-flight
requests, flushes the inference log and exits 0, losing nothing it acknowledged."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.conftest import Models

SHIPYARD = str(Path(sys.executable).parent / "shipyard")


class ServerProcess:
    def __init__(self, args: list[str], workdir: Path, env: dict[str, str]) -> None:
        self.stdout = workdir / "stdout.log"
        self.stderr = workdir / "stderr.log"
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [SHIPYARD, "serve", *args], stdout=out, stderr=err, env=env
            )
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 60) -> str:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(
                r"Uvicorn running on (http://127\.0\.0\.1:\d+)", self.stderr.read_text()
            )
            if found:
                url = found.group(1)
                try:
                    if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                        return url
                except httpx.HTTPError:
                    pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.process.kill()
        raise AssertionError(f"the server did not start:\n{self.stderr.read_text()}")


@pytest.fixture
def serve_process(workspace_env: Models, tmp_path: Path) -> Iterator[type[ServerProcess]]:
    started: list[ServerProcess] = []
    env = {**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning"}

    class Started(ServerProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(list(args), tmp_path, env)
            started.append(self)

    yield Started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


@pytest.mark.slow
def test_sigterm_under_load_drains_and_loses_nothing_acknowledged(
    serve_process: type[ServerProcess], models: Models
) -> None:
    import httpx

    from shipyard.core.config import resolve_settings
    from shipyard.serve import read_inference_log

    server = serve_process("models:/slow@champion", "--port", "0", "--name", "drain")
    url = f"{server.url}/v1/models/drain:predict"
    body = {"instances": models.features[:2].to_dict(orient="records")}
    acknowledged: list[str] = []
    refused: list[int] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                request_id = uuid.uuid4().hex
                try:
                    response = http.post(url, json=body, headers={"x-request-id": request_id})
                except httpx.HTTPError:
                    if server.process.poll() is not None:
                        return
                    time.sleep(0.01)  # the server is shutting down: connections are refused
                    continue
                if response.status_code == 200:
                    assert response.json()["id"] == request_id
                    acknowledged.append(request_id)
                else:
                    refused.append(response.status_code)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=60)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert code == 0, server.stderr.read_text()
    assert len(acknowledged) >= 100
    assert all(status == 503 for status in refused), refused  # only "shutting down", never 5xx
    log = read_inference_log(resolve_settings().artifacts, "drain").to_pandas()
    logged = set(log["request_id"])
    assert set(acknowledged) <= logged  # every acknowledged prediction was logged and flushed
    assert (log.groupby("request_id").size() == 2).all()  # both rows of each request
    access = [json.loads(line) for line in server.stdout.read_text().splitlines()]
    answered = {entry["id"] for entry in access if entry["status"] == 200}
    assert set(acknowledged) <= answered
    assert {"ts", "method", "path", "status", "ms"} <= set(access[0])
    assert "Application shutdown complete" in server.stderr.read_text()


def test_serve_command_refuses_bad_targets_before_starting(workspace_env: Models) -> None:
    runs = [
        ([SHIPYARD, "serve", "models:/nope@champion"], "nope"),
        ([SHIPYARD, "serve", "models:/bc@nobody"], "nobody"),
        ([SHIPYARD, "serve", "runs:/abc/model"], "register"),
        ([SHIPYARD, "serve"], "either a model URI or a deployment file"),
        ([SHIPYARD, "serve", "-f", "/nonexistent.toml"], "Cannot read"),
    ]
    for args, fragment in runs:
        result = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert result.returncode in (1, 2), (args, result.stderr)
        assert fragment.lower() in result.stderr.lower(), (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_deployment_file_errors_name_the_field(workspace_env: Models, tmp_path: Path) -> None:
    file = tmp_path / "deploy.toml"
    file.write_text(
        "[server]\nport = 99999\n\n"
        '[[deployments]]\nname = "bad name!"\nmodel = "models:/bc@champion"\n'
        "traffic = { champion = -1 }\n"
    )
    result = subprocess.run([SHIPYARD, "serve", "-f", str(file)], capture_output=True, text=True)
    assert result.returncode == 2
    for fragment in ("server.port", "deployments.0.name", "deployments.0.traffic"):
        assert fragment in result.stderr, result.stderr


def test_deployment_file_serves_several_models(
    serve_process: type[ServerProcess], tmp_path: Path, models: Models
) -> None:
    import httpx

    file = tmp_path / "deploy.toml"
    file.write_text(
        "[server]\nport = 0\ninference_log = false\n\n"
        '[[deployments]]\nname = "churn"\nmodel = "bc"\ntraffic = { champion = 1 }\n'
        "max_batch_size = 8\n\n"
        '[[deployments]]\nname = "plans"\nmodel = "models:/plans@champion"\nstrict = true\n'
    )
    server = serve_process("-f", str(file))
    listed = httpx.get(f"{server.url}/v1/deployments").json()["deployments"]
    assert [d["name"] for d in listed] == ["churn", "plans"]
    answer = httpx.post(
        f"{server.url}/v1/models/churn:predict",
        json={"instances": models.features[:2].to_dict(orient="records")},
    ).json()
    assert answer["predictions"] == models.expected[1][:2].tolist()
    strict = httpx.post(
        f"{server.url}/v1/models/plans:predict",
        json={"instances": [{"plan": "pro", "country": "fr", "seats": 1, "extra": 1}]},
    )
    assert strict.status_code == 422 and "extra" in strict.json()["error"]


@pytest.mark.slow
def test_several_workers_share_the_port_and_stop_cleanly(
    serve_process: type[ServerProcess], models: Models
) -> None:
    import httpx

    server = serve_process("models:/bc@champion", "--port", "0", "--workers", "2")
    body = {"instances": models.features[:3].to_dict(orient="records")}
    for _ in range(20):  # a new connection each time: the kernel spreads them over workers
        answer = httpx.post(f"{server.url}/v1/models/bc:predict", json=body).json()
        assert answer["predictions"] == models.expected[1][:3].tolist()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
