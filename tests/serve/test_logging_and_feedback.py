"""What a live server records: every answered prediction in the inference log (sampled when
asked), ground truth posted as feedback, and Prometheus metrics of both."""

from __future__ import annotations

import httpx
import numpy as np

from tests.serve.conftest import MODEL, Models, ServeApp, deployment


def _artifacts() -> str:
    from shipyard.core.config import resolve_settings

    return resolve_settings().artifacts


def test_predictions_and_feedback_land_in_parquet(serve_app: ServeApp, models: Models) -> None:
    from shipyard.serve import read_feedback, read_inference_log

    server = serve_app({"deployments": [deployment(name="logged")]})
    rows = models.features[:6]
    ids = []
    with httpx.Client() as client:
        for start in (0, 3):
            answer = client.post(
                f"{server.url}/v1/models/logged:predict",
                json={"instances": rows[start : start + 3].to_dict(orient="records")},
            ).json()
            ids.append(answer["id"])
        feedback = client.post(
            f"{server.url}/v1/models/logged/feedback",
            json={"feedback": [{"request_id": ids[0], "label": 1, "row": 2}]},
        )
        single = client.post(
            f"{server.url}/v1/models/logged/feedback", json={"request_id": ids[1], "label": 0}
        )
    assert feedback.json() == {"recorded": 1} and single.json() == {"recorded": 1}
    labels = read_feedback(_artifacts(), "logged").to_pylist()  # durable once acknowledged
    assert [(r["request_id"], r["row"], r["label"]) for r in labels] == [
        (ids[0], 2, 1),
        (ids[1], None, 0),
    ]
    server.stop()
    log = read_inference_log(_artifacts(), "logged").to_pandas()
    log = log[log["request_id"].isin(ids)]
    assert log["request_id"].tolist() == [ids[0]] * 3 + [ids[1]] * 3
    assert log["row"].tolist() == [0, 1, 2] * 2
    assert set(log["model_version"]) == {1} and set(log["role"]) == {"primary"}
    assert log["prediction"].tolist() == models.expected[1][:6].tolist()
    inputs = log["inputs"].apply(lambda cell: cell["mean radius"]).tolist()
    assert inputs == rows["mean radius"].tolist()
    proba = np.stack(log["proba"].to_numpy())  # classifiers log probabilities for monitoring
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (log["latency_ms"] > 0).all()


def test_sampling_logs_a_share_of_requests(serve_app: ServeApp, models: Models) -> None:
    from shipyard.serve import read_inference_log

    config = {
        "deployments": [
            deployment(name="none-logged", log_sample_rate=0.0),
            deployment(name="half-logged", log_sample_rate=0.5),
        ]
    }
    server = serve_app(config)
    body = {"instances": models.features[:1].to_dict(orient="records")}
    with httpx.Client() as client:
        for name in ("none-logged", "half-logged"):
            for _ in range(200):
                assert client.post(f"{server.url}/v1/models/{name}:predict", json=body).is_success
    server.stop()
    assert read_inference_log(_artifacts(), "none-logged").num_rows == 0
    assert 60 <= read_inference_log(_artifacts(), "half-logged").num_rows <= 140


def test_bad_feedback_is_refused_with_the_reason(serve_app: ServeApp) -> None:
    server = serve_app({"deployments": [deployment()]})
    url = f"{server.url}/v1/models/{MODEL}/feedback"
    cases = [
        (b"{oops", 400, "not valid JSON"),
        (b'{"label": 1}', 422, "request_id"),
        (b'{"request_id": "abc"}', 422, "label"),
        (b'{"request_id": "abc", "label": 1, "row": -1}', 422, "row"),
        (b'{"request_id": "abc", "label": 1, "row": 6294570852356}', 422, "row"),
        (b'{"feedback": []}', 400, "non-empty list"),
    ]
    for body, status, fragment in cases:
        response = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == status, (body, response.text)
        assert fragment in response.json()["error"], (body, response.text)
    unknown = httpx.post(
        f"{server.url}/v1/models/nope/feedback", json={"request_id": "a", "label": 1}
    )
    assert unknown.status_code == 404


def test_metrics_describe_traffic_batches_and_the_served_version(
    serve_app: ServeApp, models: Models
) -> None:
    server = serve_app({"deployments": [deployment()]})
    body = {"instances": models.features[:2].to_dict(orient="records")}
    with httpx.Client() as client:
        for _ in range(5):
            client.post(f"{server.url}/v1/models/{MODEL}:predict", json=body)
        client.post(f"{server.url}/v1/models/{MODEL}:predict", json={"instances": [{}]})
        text = client.get(f"{server.url}/metrics").text
    assert 'shipyard_requests_total{code="200",deployment="bc",route="predict"} 5.0' in text
    assert 'shipyard_requests_total{code="422",deployment="bc",route="predict"} 1.0' in text
    assert 'shipyard_request_seconds_count{deployment="bc"} 5.0' in text
    assert 'shipyard_batch_rows_sum{deployment="bc",variant="champion"} 10.0' in text
    assert 'shipyard_queue_depth{deployment="bc",variant="champion"} 0.0' in text
    assert "shipyard_inference_log_dropped_rows_total 0.0" in text
    assert 'shipyard_model_info{backend="onnx",deployment="bc",model="bc"' in text


def test_array_models_are_served_and_logged(serve_app: ServeApp, models: Models) -> None:
    from shipyard.registry import load_model
    from shipyard.serve import read_inference_log

    server = serve_app(
        {"deployments": [deployment(name="matrix", model="models:/matrix@champion")]}
    )
    rows = models.features.to_numpy()[:3]
    expected = load_model("models:/matrix@champion").predict(rows).tolist()
    answer = httpx.post(
        f"{server.url}/v1/models/matrix:predict", json={"instances": rows.tolist()}
    ).json()
    assert answer["predictions"] == expected
    tensor = {"name": "input", "shape": [3, 30], "datatype": "FP64", "data": rows.ravel().tolist()}
    infer = httpx.post(f"{server.url}/v2/models/matrix/infer", json={"inputs": [tensor]}).json()
    assert infer["outputs"][0]["data"] == expected
    server.stop()
    log = read_inference_log(_artifacts(), "matrix").to_pandas()
    assert len(log) == 6 and log["prediction"].tolist() == expected * 2
