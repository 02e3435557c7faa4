"""Both protocols on a real server: the JSON route, Open Inference Protocol v2 by hand, and the
OIP routes through tritonclient's HTTP client (a client written by others)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.serve.conftest import MODEL, Models, ServeApp, deployment


@pytest.fixture
def server(serve_app: ServeApp) -> str:
    deployments = [deployment(), deployment("plans", "models:/plans@champion")]
    return serve_app({"server": {"inference_log": False}, "deployments": deployments}).url


def test_json_route_takes_records_and_columns(server: str, models: Models) -> None:
    import httpx

    rows = models.features[:7]
    expected = models.expected[1][:7]
    by_records = httpx.post(
        f"{server}/v1/models/{MODEL}:predict", json={"instances": rows.to_dict(orient="records")}
    )
    by_columns = httpx.post(
        f"{server}/v1/models/{MODEL}:predict", json={"inputs": rows.to_dict(orient="list")}
    )
    for response in (by_records, by_columns):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["predictions"] == expected.tolist()
        assert body["model_name"] == MODEL and body["model_version"] == "1"
        assert response.headers["shipyard-model-version"] == "1"
        assert response.headers["x-request-id"] == body["id"]


def test_json_route_returns_probabilities_on_request(server: str, models: Models) -> None:
    import httpx

    from shipyard.registry import load_model

    rows = models.features[:3]
    response = httpx.post(
        f"{server}/v1/models/{MODEL}:predict",
        json={"instances": rows.to_dict(orient="records"), "params": {"proba": True}},
    )
    body = response.json()
    expected = load_model(f"models:/{MODEL}/1").predict_proba(rows)
    np.testing.assert_allclose(body["probabilities"], expected, atol=1e-6)
    assert body["classes"] == [0, 1]


def test_every_response_says_where_its_time_went(server: str, models: Models) -> None:
    import httpx

    response = httpx.post(
        f"{server}/v1/models/{MODEL}:predict",
        json={"instances": models.features[:1].to_dict(orient="records")},
        headers={"x-request-id": "trace-42"},
    )
    timing = dict(
        part.strip().split(";", 1) for part in response.headers["server-timing"].split(",")
    )
    assert {"parse", "queue", "predict", "serialize", "total"} <= set(timing)
    durations = {k: float(v.split("=")[1]) for k, v in timing.items() if v.startswith("dur=")}
    assert all(value >= 0 for value in durations.values())
    assert durations["total"] >= durations["predict"]
    assert response.headers["x-request-id"] == "trace-42"


def test_oip_health_metadata_and_inference_by_hand(server: str, models: Models) -> None:
    import httpx

    assert httpx.get(f"{server}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{server}/v2/health/ready").status_code == 200
    assert httpx.get(f"{server}/v2").json()["name"] == "shipyard"
    assert httpx.get(f"{server}/v2/models/{MODEL}/ready").json()["ready"] is True
    meta = httpx.get(f"{server}/v2/models/{MODEL}").json()
    assert meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == list(models.features.columns)
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    rows = models.features[:4]
    # one tensor per column
    by_column = {
        "id": "mine",
        "inputs": [
            {"name": c, "shape": [4], "datatype": "FP64", "data": rows[c].tolist()}
            for c in rows.columns
        ],
    }
    answer = httpx.post(f"{server}/v2/models/{MODEL}/infer", json=by_column).json()
    assert answer["id"] == "mine" and answer["model_version"] == "1"
    (output,) = answer["outputs"]
    assert output["name"] == "predict" and output["shape"] == [4]
    assert output["data"] == models.expected[1][:4].tolist()
    # one [rows, columns] tensor, pinned to version 1, asking for probabilities
    matrix = {
        "inputs": [
            {"name": "x", "shape": [4, 30], "datatype": "FP32", "data": rows.to_numpy().tolist()}
        ],
        "outputs": [{"name": "predict"}, {"name": "proba"}],
    }
    answer = httpx.post(f"{server}/v2/models/{MODEL}/versions/1/infer", json=matrix).json()
    names = [o["name"] for o in answer["outputs"]]
    assert names == ["predict", "proba"]
    assert answer["outputs"][1]["shape"] == [4, 2]


def test_oip_bytes_inputs_reach_string_and_category_columns(server: str) -> None:
    import httpx

    request = {
        "inputs": [
            {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "team"]},
            {"name": "country", "shape": [2], "datatype": "BYTES", "data": ["fr", "us"]},
            {"name": "seats", "shape": [2, 1], "datatype": "INT64", "data": [[3], [2]]},
        ]
    }
    answer = httpx.post(f"{server}/v2/models/plans/infer", json=request).json()
    assert answer["outputs"][0]["data"] == [60.0, 60.0]
    meta = httpx.get(f"{server}/v2/models/plans").json()
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {
        "plan": "BYTES",
        "country": "BYTES",
        "seats": "INT64",
    }


def test_tritonclient_speaks_to_the_server(server: str, models: Models) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(server.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready(MODEL)
        assert client.get_model_metadata(MODEL)["platform"] == "shipyard_sklearn"
        rows = models.features[:5].to_numpy()
        expected = models.expected[1][:5]
        for binary in (True, False):  # the binary tensor extension, then plain JSON
            tensor = triton.InferInput("input", list(rows.shape), "FP64")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            outputs = [
                triton.InferRequestedOutput("predict", binary_data=binary),
                triton.InferRequestedOutput("proba", binary_data=binary),
            ]
            result = client.infer(MODEL, [tensor], outputs=outputs)
            np.testing.assert_array_equal(result.as_numpy("predict"), expected)
            assert result.as_numpy("proba").shape == (5, 2)
        default = triton.InferInput("input", list(rows.shape), "FP64")
        default.set_data_from_numpy(rows)
        result = client.infer(MODEL, [default])  # no outputs named: all come back binary
        np.testing.assert_array_equal(result.as_numpy("predict"), expected)
        strings = triton.InferInput("plan", [1], "BYTES")
        strings.set_data_from_numpy(np.array([b"team"], dtype=object))
        country = triton.InferInput("country", [1], "BYTES")
        country.set_data_from_numpy(np.array([b"fr"], dtype=object))
        seats = triton.InferInput("seats", [1], "INT64")
        seats.set_data_from_numpy(np.array([4], dtype=np.int64))
        result = client.infer("plans", [strings, country, seats])
        assert result.as_numpy("predict").tolist() == [120.0]
    finally:
        client.close()


def test_openapi_describes_the_deployment_from_its_signature(server: str, models: Models) -> None:
    import httpx

    document = httpx.get(f"{server}/openapi.json").json()
    body = document["paths"][f"/v1/models/{MODEL}:predict"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]["oneOf"][0]
    row = schema["properties"]["instances"]["items"]
    assert row["required"] == list(models.features.columns)
    # v1 refuses missing values, so its float columns are not nullable
    assert row["properties"]["mean radius"] == {"type": "number"}
    plans = document["paths"]["/v1/models/plans:predict"]["post"]["requestBody"]
    plan_row = plans["content"]["application/json"]["schema"]["oneOf"][0]
    plan_props = plan_row["properties"]["instances"]["items"]["properties"]
    assert plan_props["plan"] == {"enum": ["basic", "pro", "team"]}
    assert plan_props["seats"]["type"] == "integer"
