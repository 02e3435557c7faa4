"""Bad requests against a real server: each gets the right 4xx (or 503) and a clear JSON error
``{"error", "code", "hint"?, "id"}`` whose id is the ``x-request-id`` header, never a traceback.

The matrices run as subtests of one test function per server (a server per case would cost more
than the cases): each row says what it sends, the status it must get and fragments the message
must contain (several separated by " | ").
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest

from tests.serve.conftest import MODEL, Models, ServeApp, deployment

LIMIT = 4096  # max_body_bytes of the test servers: one bc row is about 1 KB of JSON
PREDICT = f"/v1/models/{MODEL}:predict"
INFER = f"/v2/models/{MODEL}/infer"
PLANS = "/v1/models/plans:predict"
STRICT = "/v1/models/strict:predict"
DEPLOYMENTS = "['bc', 'plans', 'strict']"
PLAN = {"plan": "pro", "country": "fr", "seats": 2}
TOKEN = "s3cret"
EXTRA = {"name": "extra", "shape": [1], "datatype": "FP64", "data": [1.0]}

Row = dict[str, float]
Body = Callable[[Row], Any]  # from the bc row: a JSON document, or bytes sent as they are


def _config(**server: Any) -> dict[str, Any]:
    return {
        "server": {"inference_log": False, "max_body_bytes": LIMIT, **server},
        "deployments": [
            deployment(),
            deployment("strict", f"models:/{MODEL}@champion", strict=True),
            deployment("plans", "models:/plans@champion"),
        ],
    }


@pytest.fixture
def server(serve_app: ServeApp) -> str:
    return serve_app(_config()).url


@pytest.fixture
def row(models: Models) -> Row:
    """The first breast-cancer row as a record: 30 float columns; bc v1 predicts 0 on it."""
    return {name: float(value) for name, value in models.features.iloc[0].items()}


def assert_error(response: httpx.Response, status: int, *fragments: str, code: str = "") -> Any:
    """``response`` is a JSON error with ``status``, an id matching its header, and a message
    containing every fragment; returns the body."""
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert response.headers["content-type"].split(";")[0] == "application/json", response.headers
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("hint", ""), str), body
    assert body.get("id") == response.headers["x-request-id"], (
        f"the error body's id {body.get('id')!r} is not the x-request-id header "
        f"{response.headers['x-request-id']!r}: {body}"
    )
    for fragment in fragments:
        assert fragment in body["error"], f"{fragment!r} not in {body['error']!r}"
    if code:
        assert body["code"] == code, body
    return body


# ---------------------------------------------------------------- bodies


def _set(row: Row, column: str, value: Any) -> dict[str, Any]:
    return {**row, column: value}


def _drop(row: Row, column: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != column}


def _columns(row: Row, **changes: Any) -> dict[str, list[Any]]:
    return {k: [v] for k, v in row.items()} | {k: [v] for k, v in changes.items()}


def _matrix(row: Row, **fields: Any) -> dict[str, Any]:
    """``row`` as one OIP [1, 30] FP64 tensor, with ``fields`` replaced."""
    data = [list(row.values())]
    return {"name": "input", "shape": [1, 30], "datatype": "FP64", "data": data, **fields}


def _tensors(row: Row, datatype: str = "FP64", value: Any = None) -> list[dict[str, Any]]:
    """``row`` as one OIP tensor per column."""
    return [
        {"name": k, "shape": [1], "datatype": datatype, "data": [v if value is None else value]}
        for k, v in row.items()
    ]


def _literal(row: Row, value: float) -> bytes:
    """A body with a NaN or Infinity literal, which Python writes and JSON does not have."""
    return json.dumps({"instances": [_set(row, "mean radius", value)]}).encode()


def _plans_oip(**changes: Any) -> dict[str, Any]:
    columns = {"plan": ("BYTES", "pro"), "country": ("BYTES", "fr"), "seats": ("INT64", 2)}
    return {
        "inputs": [
            {"name": k, "shape": [1], "datatype": t, "data": [v]} for k, (t, v) in columns.items()
        ],
        **changes,
    }


@dataclass(frozen=True)
class Case:
    """One bad request: what goes where, and the status and message it must get."""

    name: str
    path: str
    status: int
    fragments: str  # " | "-separated
    body: Body | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"

    def send(self, client: httpx.Client, row: Row) -> httpx.Response:
        content = self.body(row) if self.body is not None else None
        headers = dict(self.headers)
        if content is not None:
            headers.setdefault("content-type", "application/json")
            if not isinstance(content, bytes):
                content = json.dumps(content).encode()
        return client.request(self.method, self.path, content=content, headers=headers)


def _run(url: str, row: Row, subtests: Any, cases: list[Case]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for case in cases:
            with subtests.test(msg=case.name):
                response = case.send(client, row)
                assert_error(response, case.status, *case.fragments.split(" | "))


# ---------------------------------------------------------------- the JSON route

NOT_JSON = "not valid JSON"
NO_ROWS = "no rows to predict"
ONE_OF = 'exactly one of "instances"'
MISSING = "missing or infinite value | this model failed on missing values"
P = PREDICT
# fmt: off
JSON_ROUTE = [
    Case("invalid JSON", P, 400, NOT_JSON, lambda r: b'{"instances": ['),
    Case("an empty body", P, 400, "body is empty", lambda r: b""),
    Case("a JSON list", P, 400, "JSON list | must be an object", lambda r: [r]),
    Case("a JSON string", P, 400, "JSON str | must be an object", lambda r: "x"),
    Case("neither instances nor inputs", P, 400, ONE_OF, lambda r: {"rows": [r]}),
    Case("both", P, 400, ONE_OF, lambda r: {"instances": [r], "inputs": _columns(r)}),
    Case("a NaN literal", P, 400, NOT_JSON, lambda r: _literal(r, float("nan"))),
    Case("an Infinity literal", P, 400, NOT_JSON, lambda r: _literal(r, float("inf"))),
    Case("a -Infinity literal", P, 400, NOT_JSON, lambda r: _literal(r, float("-inf"))),
    Case("text in a float column (records)", P, 422, "Column 'mean radius' | float64 | 'abc'",
         lambda r: {"instances": [_set(r, "mean radius", "abc")]}),
    Case("text in a float column (columns)", P, 422, "Column 'worst area' | float64 | 'abc'",
         lambda r: {"inputs": _columns(r, **{"worst area": "abc"})}),
    Case("an object in a float column", P, 422, "Column 'mean radius' | float64",
         lambda r: {"instances": [_set(r, "mean radius", {"a": 1})]}),
    Case("a list in a cell", P, 422, "Column 'mean radius' | one value per row",
         lambda r: {"instances": [_set(r, "mean radius", [1.0, 2.0])]}),
    Case("a missing column (records)", P, 422, "missing column(s) ['mean radius'] | record 0",
         lambda r: {"instances": [_drop(r, "mean radius")]}),
    Case("a missing column in record 1", P, 422, "missing column(s) ['worst area'] | record 1",
         lambda r: {"instances": [r, _drop(r, "worst area")]}),
    Case("a missing column (columns)", P, 422, "missing column(s) ['mean texture']",
         lambda r: {"inputs": _columns(_drop(r, "mean texture"))}),
    Case("null where the model forbids it (records)", P, 422,
         f"Row 1 has a {MISSING} | column 'mean radius'",
         lambda r: {"instances": [r, _set(r, "mean radius", None)]}),
    Case("null where the model forbids it (columns)", P, 422,
         f"Row 2 has a {MISSING} | column 'worst area'",
         lambda r: {"inputs": {k: [v, v, None if k == "worst area" else v] for k, v in r.items()}}),
    Case("an empty batch", P, 422, NO_ROWS, lambda r: {"instances": []}),
    Case("no columns", P, 422, NO_ROWS, lambda r: {"inputs": {}}),
    Case("empty columns", P, 422, NO_ROWS, lambda r: {"inputs": {k: [] for k in r}}),
    Case("columns of different lengths", P, 422, "has 1 values; other columns have 2",
         lambda r: {"inputs": {**_columns(r), "mean radius": [1.0, 2.0]}}),
    Case("a row of the wrong width", P, 422, "needs 30 columns", lambda r: {"instances": [[1.0]]}),
    Case("a record not an object", P, 422, "Record 1 is a int", lambda r: {"instances": [r, 5]}),
    Case("instances not a list", P, 400, '"instances" must be a list', lambda r: {"instances": r}),
    Case("inputs a number", P, 400, '"inputs" must be a dict', lambda r: {"inputs": 5}),
    Case("params not an object", P, 400, '"params" must be an object',
         lambda r: {"instances": [r], "params": []}),
    Case("params.proba not a boolean", P, 422, '"params.proba" must be true or false',
         lambda r: {"instances": [r], "params": {"proba": "yes"}}),
    Case("probabilities from a regressor", PLANS, 422, "no class probabilities",
         lambda r: {"instances": [PLAN], "params": {"proba": True}}),
    Case("a value outside the categories", PLANS, 422, "Column 'plan' | 'gold' | 'basic'",
         lambda r: {"instances": [{**PLAN, "plan": "gold"}]}),
    Case("a fraction in an int column", PLANS, 422, "Column 'seats' | int64 | 1.5",
         lambda r: {"instances": [{**PLAN, "seats": 1.5}]}),
    Case("an int beyond int64", PLANS, 422, "Column 'seats' | 9223372036854775808",
         lambda r: {"instances": [{**PLAN, "seats": 2**63}]}),
    Case("a number in a string column", PLANS, 422, "Column 'country' | string",
         lambda r: {"instances": [{**PLAN, "country": 5}]}),
    Case("a value the model itself refuses", PLANS, 422, "seats must be at least 1",
         lambda r: {"instances": [{**PLAN, "seats": -1}]}),
]
# fmt: on


def test_the_json_route_refuses_bad_inputs_clearly(server: str, row: Row, subtests: Any) -> None:
    _run(server, row, subtests, JSON_ROUTE)


# ---------------------------------------------------------------- Open Inference Protocol v2

NON_EMPTY = '"inputs" must be a non-empty list'
HEADER = "inference-header-content-length"
I = INFER  # noqa: E741
# fmt: off
OIP = [
    Case("invalid JSON", I, 400, NOT_JSON, lambda r: b'{"inputs": ['),
    Case("a JSON list", I, 400, "must be an object", lambda r: [_matrix(r)]),
    Case("a NaN literal", I, 400, NOT_JSON,
         lambda r: json.dumps({"inputs": [_matrix(r, data=[float("nan")] * 30)]}).encode()),
    Case("no inputs", I, 400, NON_EMPTY, lambda r: {"id": "x"}),
    Case("empty inputs", I, 400, NON_EMPTY, lambda r: {"inputs": []}),
    Case("an unnamed tensor", I, 400, "Input 0 has no name",
         lambda r: {"inputs": [_matrix(r, name="")]}),
    Case("a bad datatype", I, 400, "Input 'input' has datatype 'FLOAT' | FP64",
         lambda r: {"inputs": [_matrix(r, datatype="FLOAT")]}),
    Case("a negative dimension", I, 400, "needs a shape",
         lambda r: {"inputs": [_matrix(r, shape=[-1, 30])]}),
    Case("shape and data length differ", I, 422, "has 30 values, but its shape needs 60",
         lambda r: {"inputs": [_matrix(r, shape=[2, 30])]}),
    Case("a duplicate input name", I, 400, "Input 'input' appears more than once",
         lambda r: {"inputs": [_matrix(r), _matrix(r)]}),
    Case("strings in an FP64 tensor", I, 422, "Input 'input' | FP64",
         lambda r: {"inputs": [_matrix(r, data=["abc"] * 30)]}),
    Case("null in an FP64 tensor", I, 422, "Input 'input' | FP64 | None",
         lambda r: {"inputs": [_matrix(r, data=[None, *list(r.values())[1:]])]}),
    Case("ragged data", I, 422, "Input 'input' does not hold FP64 values",
         lambda r: {"inputs": [_matrix(r, data=[[1.0, 2.0], [3.0]])]}),
    Case("an int out of range", I, 422, "outside the range of int8",
         lambda r: {"inputs": [_matrix(r, datatype="INT8", data=[1000] * 30)]}),
    Case("BYTES text for float columns", I, 422, "Column 'mean radius' | float64 | 'abc'",
         lambda r: {"inputs": _tensors(r, "BYTES", "abc")}),
    Case("a missing column tensor", I, 422, "Missing input tensor(s) ['mean radius']",
         lambda r: {"inputs": _tensors(r)[1:]}),
    Case("no rows", I, 422, NO_ROWS, lambda r: {"inputs": [_matrix(r, shape=[0, 30], data=[])]}),
    Case("an unknown requested output", I, 422, "Unknown output(s) ['scores']",
         lambda r: {"inputs": [_matrix(r)], "outputs": [{"name": "scores"}]}),
    Case("outputs not a list of names", I, 400, '"outputs" must be a list',
         lambda r: {"inputs": [_matrix(r)], "outputs": ["predict"]}),
    Case("an id not a string", I, 400, '"id" must be a string', lambda r: {"id": 5, "inputs": []}),
    Case("binary data claimed but absent", I, 400, "claims more binary data than the body holds",
         lambda r: {"inputs": [_matrix(r, data=None, parameters={"binary_data_size": 240})]}),
    Case("a binary header longer than the body", I, 400,
         "Inference-Header-Content-Length is 500, but the body has 13 bytes",
         lambda r: b'{"inputs":[]}', {HEADER: "500"}),
    Case("a binary header that is not a number", I, 400,
         "Inference-Header-Content-Length must be a number",
         lambda r: b'{"inputs":[]}', {HEADER: "-1"}),
    Case("a version not served", f"/v2/models/{MODEL}/versions/7/infer", 404,
         "does not serve version '7' | ['1']", lambda r: {"inputs": [_matrix(r)]}),
    Case("probabilities from a regressor", "/v2/models/plans/infer", 422,
         "no class probabilities", lambda r: _plans_oip(outputs=[{"name": "proba"}])),
]
# fmt: on


def test_the_oip_route_refuses_bad_inputs_clearly(server: str, row: Row, subtests: Any) -> None:
    _run(server, row, subtests, OIP)


def test_a_nan_in_binary_tensor_data_names_its_row_and_column(server: str, row: Row) -> None:
    values = np.array([list(row.values())] * 2)
    values[1, 3] = np.nan  # row 1, "mean area"
    tensor = _matrix(row, shape=[2, 30], parameters={"binary_data_size": values.nbytes})
    del tensor["data"]
    header = json.dumps({"inputs": [tensor]}).encode()
    response = httpx.post(
        server + INFER,
        content=header + values.astype("<f8").tobytes(),
        headers={
            "inference-header-content-length": str(len(header)),
            "content-type": "application/octet-stream",
        },
    )
    assert_error(response, 422, "Row 1", "missing or infinite value", "column 'mean area'")


# ---------------------------------------------------------------- HTTP-level mistakes


def _good(row: Row) -> dict[str, Any]:
    return {"instances": [row]}


def _typed(media: str) -> dict[str, str]:
    return {"content-type": media}


FEEDBACK = f"/v1/models/{MODEL}/feedback"
# fmt: off
HTTP = [
    Case("unknown model (JSON route)", "/v1/models/nope:predict", 404,
         f"No deployment named 'nope' | {DEPLOYMENTS}", _good),
    Case("unknown model (OIP infer)", "/v2/models/nope/infer", 404,
         f"No deployment named 'nope' | {DEPLOYMENTS}", lambda r: {"inputs": [_matrix(r)]}),
    Case("unknown model (metadata)", "/v2/models/nope", 404, "'nope'", method="GET"),
    Case("unknown model (ready)", "/v2/models/nope/ready", 404, "'nope'", method="GET"),
    Case("unknown version (metadata)", f"/v2/models/{MODEL}/versions/9", 404, "'9'", method="GET"),
    Case("unknown route", "/v3/models", 404, "/v3/models | Not Found", method="GET"),
    Case("unknown route (POST)", "/v1/predict", 404, "Not Found", _good),
    Case("GET on predict", PREDICT, 405, "is not allowed on the predict route", method="GET"),
    Case("DELETE on metadata", f"/v2/models/{MODEL}", 405, "Not Allowed", method="DELETE"),
    Case("PUT on infer", INFER, 405, "is not allowed on the infer route", _good, method="PUT"),
    Case("text/plain", PREDICT, 415, "'text/plain'", _good, _typed("text/plain;charset=UTF-8")),
    Case("text/plain (OIP)", INFER, 415, "'text/plain'", _good, _typed("text/plain")),
    Case("an urlencoded form", PREDICT, 415, "'application/x-www-form-urlencoded'",
         lambda r: b"instances=1", _typed("application/x-www-form-urlencoded")),
    Case("a multipart form", INFER, 415, "'multipart/form-data'",
         lambda r: b"--x\r\n\r\n--x--\r\n", _typed("multipart/form-data; boundary=x")),
    Case("octet-stream without a binary header", INFER, 415, "'application/octet-stream'",
         lambda r: b"{}", _typed("application/octet-stream")),
    Case("text/plain on feedback", FEEDBACK, 415, "'text/plain'",
         lambda r: b'{"request_id": "x", "label": 1}', _typed("text/plain")),
    Case("feedback without a request id", FEEDBACK, 422, "needs a request_id",
         lambda r: {"label": 1}),
    Case("oversized (Content-Length, JSON route)", PREDICT, 413, f"larger than {LIMIT} bytes",
         lambda r: {"instances": [r] * 10}),
    Case("oversized (Content-Length, OIP)", INFER, 413, f"larger than {LIMIT} bytes",
         lambda r: {"inputs": [_matrix(r, shape=[30, 30], data=[list(r.values())] * 30)]}),
]
# fmt: on


def test_http_mistakes_get_json_errors(server: str, row: Row, subtests: Any) -> None:
    _run(server, row, subtests, HTTP)


def test_405_says_which_methods_are_allowed(server: str) -> None:
    assert httpx.get(server + PREDICT).headers["allow"] == "POST"


def test_feedback_without_an_inference_log_is_a_clear_503(server: str) -> None:
    response = httpx.post(
        f"{server}/v1/models/{MODEL}/feedback", json={"request_id": "abc", "label": 1}
    )
    body = assert_error(response, 503, "keeps no inference log", code="unavailable")
    assert "inference_log = true" in body["hint"]


def test_a_missing_content_type_is_taken_as_json(server: str, row: Row, models: Models) -> None:
    """tritonclient sends no Content-Type: such bodies are read as JSON (by design)."""
    expected = models.expected[1][:1].tolist()
    with httpx.Client(base_url=server) as client:
        for path, document in ((PREDICT, _good(row)), (INFER, {"inputs": [_matrix(row)]})):
            request = client.build_request("POST", path, content=json.dumps(document).encode())
            assert "content-type" not in request.headers
            response = client.send(request)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body.get("predictions", body.get("outputs", [{}])[0].get("data")) == expected
        charset = client.post(
            PREDICT, json=_good(row), headers=_typed("application/json; charset=utf-8")
        )
        assert charset.status_code == 200, charset.text


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are on a new connection; the status, headers and body of the answer."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return int(status_line.split()[1]), headers, body


def _raw_error(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"] == "application/json", headers
    document = json.loads(body)
    assert document["id"] == headers["x-request-id"]
    return {"status": status, **document}


def _chunked(path: str, payload: bytes, size: int) -> bytes:
    """A POST whose body is sent in chunks of ``size`` bytes, with no Content-Length."""
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(payload[i : i + size]), payload[i : i + size])
        for i in range(0, len(payload), size)
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + chunks + b"0\r\n\r\n"


@pytest.mark.parametrize("path", [PREDICT, INFER])
def test_a_chunked_body_counts_against_the_size_limit(server: str, row: Row, path: str) -> None:
    payload = json.dumps({"instances": [row] * 10}).encode()
    assert len(payload) > LIMIT
    request = _chunked(path, payload, 512)
    assert b"content-length" not in request.lower()
    error = _raw_error(*_raw(server, request))
    assert error["status"] == 413 and f"larger than {LIMIT} bytes" in error["error"]


def test_a_chunked_body_under_the_limit_is_read(server: str, row: Row, models: Models) -> None:
    status, _, body = _raw(server, _chunked(PREDICT, json.dumps(_good(row)).encode(), 100))
    assert status == 200, body
    assert json.loads(body)["predictions"] == models.expected[1][:1].tolist()


def test_an_oversized_content_length_is_refused_before_the_body_arrives(server: str) -> None:
    """The server answers 413 from the header alone: it does not wait for 100 KB never sent."""
    request = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\nConnection: close\r\n\r\n"
    ).encode()
    error = _raw_error(*_raw(server, request))
    assert error["status"] == 413 and error["code"] == "payload_too_large"


def test_errors_echo_the_callers_request_id(server: str) -> None:
    response = httpx.post(server + PREDICT, content=b"{", headers={"x-request-id": "trace-42"})
    assert assert_error(response, 400)["id"] == "trace-42"
    unsafe = httpx.post(server + PREDICT, content=b"{", headers={"x-request-id": "a b<script>"})
    assert assert_error(unsafe, 400)["id"] != "a b<script>"  # replaced by a fresh id


# ---------------------------------------------------------------- extra fields and strict


def test_extra_fields_are_ignored_by_default(server: str, row: Row, models: Models) -> None:
    expected = models.expected[1][:1].tolist()
    with httpx.Client(base_url=server) as client:
        for document in (
            {"instances": [{**row, "extra": 1, "note": "x"}], "trace": True},
            {"inputs": _columns(row, extra=1)},
        ):
            response = client.post(PREDICT, json=document)
            assert response.status_code == 200, response.text
            assert response.json()["predictions"] == expected
        oip = client.post(INFER, json={"inputs": [*_tensors(row), EXTRA], "trace": 1})
        assert oip.status_code == 200, oip.text
        assert oip.json()["outputs"][0]["data"] == expected


# fmt: off
STRICT_CASES = [
    Case("an extra field in a record", STRICT, 422,
         "Unknown input field(s) ['extra', 'note'] | strict",
         lambda r: {"instances": [r, {**r, "extra": 1, "note": "x"}]}),
    Case("an extra column", STRICT, 422, "Unknown input field(s) ['extra']",
         lambda r: {"inputs": _columns(r, extra=1)}),
    Case("an extra top-level field", STRICT, 422, "Unknown field(s) ['trace']",
         lambda r: {"instances": [r], "trace": True}),
    Case("an extra tensor", "/v2/models/strict/infer", 422, "Unknown input field(s) ['extra']",
         lambda r: {"inputs": [*_tensors(r), EXTRA]}),
]
# fmt: on


def test_a_strict_deployment_refuses_extra_fields_naming_them(
    server: str, row: Row, subtests: Any
) -> None:
    _run(server, row, subtests, STRICT_CASES)
    ok = httpx.post(server + STRICT, json=_good(row))
    assert ok.status_code == 200, ok.text


# ---------------------------------------------------------------- Host, Origin, token


def test_a_host_not_in_the_allow_list_is_refused(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    with httpx.Client(base_url=server) as client:
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
            response = client.get("/v2", headers={"host": host})
            assert_error(response, 403, f"Host {host!r} is not allowed", code="forbidden")
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert client.get("/v2", headers={"host": host}).status_code == 200, host
        # refused before any route: a bad body does not even get its 422
        refused = client.post(PREDICT, json={"instances": []}, headers={"host": "evil.example"})
        assert_error(refused, 403, "is not allowed")


def test_cross_site_origins_are_refused_and_same_origin_accepted(server: str, row: Row) -> None:
    with httpx.Client(base_url=server) as client:
        for origin in ("https://evil.example", "null", "http://127.0.0.1:1"):
            response = client.post(PREDICT, json=_good(row), headers={"origin": origin})
            assert_error(response, 403, "Cross-site requests", code="forbidden")
        # a form posting text/plain from another site is refused before its 415
        form = client.post(
            PREDICT,
            content=b'{"instances": []}',
            headers={"origin": "https://evil.example", **_typed("text/plain")},
        )
        assert_error(form, 403, "'https://evil.example'")
        same = client.post(PREDICT, json=_good(row), headers={"origin": server})
        assert same.status_code == 200, same.text


def test_allowed_origins_and_hosts_from_the_config(serve_app: ServeApp, row: Row) -> None:
    url = serve_app(
        _config(
            allowed_origins=["https://app.example"],
            allowed_hosts=["127.0.0.1", "models.internal"],
        )
    ).url
    with httpx.Client(base_url=url) as client:
        for origin in ("https://app.example", "https://APP.example/"):
            response = client.post(PREDICT, json=_good(row), headers={"origin": origin})
            assert response.status_code == 200, (origin, response.text)
        other = client.post(PREDICT, json=_good(row), headers={"origin": "https://other.example"})
        assert_error(other, 403, "'https://other.example'")
        assert client.get("/v2", headers={"host": "models.internal"}).status_code == 200
        # an explicit allow-list replaces the local defaults
        assert_error(client.get("/v2", headers={"host": "localhost"}), 403, "'localhost'")


def test_a_bearer_token_guards_every_route_but_health(serve_app: ServeApp, row: Row) -> None:
    url = serve_app(_config(), token=TOKEN).url
    routes = [
        ("POST", PREDICT, _good(row)),
        ("POST", INFER, {"inputs": [_matrix(row)]}),
        ("GET", f"/v2/models/{MODEL}", None),
        ("GET", f"/v2/models/{MODEL}/ready", None),
        ("GET", "/v2", None),
        ("GET", "/v1/deployments", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
        ("GET", "/no/such/route", None),  # 401 before 404: routes are not revealed
    ]
    wrong = [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": f"Basic {TOKEN}"},
        {"authorization": TOKEN},
        {"authorization": f"Bearer {TOKEN}x"},
        {"authorization": "Bearer"},
    ]
    with httpx.Client(base_url=url) as client:
        for method, path, document in routes:
            for headers in wrong:
                response = client.request(method, path, json=document, headers=headers)
                assert_error(response, 401, "requires a bearer token", code="unauthorized")
                assert response.headers["www-authenticate"] == "Bearer", (path, headers)
            for scheme in ("Bearer", "bearer"):
                good = client.request(
                    method, path, json=document, headers={"authorization": f"{scheme} {TOKEN}"}
                )
                assert good.status_code == (404 if "no/such" in path else 200), (path, good.text)
        for path in ("/v2/health/live", "/v2/health/ready"):
            assert client.get(path).status_code == 200, path


# ---------------------------------------------------------------- overload and timeouts


async def _burst(url: str, document: Any, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return list(await asyncio.gather(*(client.post(url, json=document) for _ in range(count))))


def test_a_full_queue_sheds_load_with_503_and_retry_after(serve_app: ServeApp, row: Row) -> None:
    slow = deployment("slow", "models:/slow@champion", max_queue=1, max_batch_size=1)
    url = serve_app({"server": {"inference_log": False}, "deployments": [slow]}).url
    responses: list[httpx.Response] = []
    for _ in range(5):  # a loaded machine may spread a burst out; one of a few always overflows
        responses += asyncio.run(_burst(f"{url}/v1/models/slow:predict", _good(row), 20))
        if any(r.status_code == 503 for r in responses):
            break
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503}, codes
    assert 200 in codes and 503 in codes, codes
    for response in responses:
        if response.status_code == 503:
            assert_error(response, 503, "overloaded", code="unavailable")
            assert int(response.headers["retry-after"]) >= 1
        else:
            assert response.json()["predictions"] == [0]


def test_a_deployment_timeout_answers_503_with_a_clear_message(
    serve_app: ServeApp, row: Row
) -> None:
    slow = deployment("slow", "models:/slow@champion", timeout_s=0.01)
    url = serve_app({"server": {"inference_log": False}, "deployments": [slow]}).url
    response = httpx.post(f"{url}/v1/models/slow:predict", json=_good(row))
    assert_error(
        response, 503, "longer than the deployment's timeout of 0.01 s", code="unavailable"
    )
    assert response.headers["retry-after"] == "1"
    assert httpx.get(f"{url}/v2/models/slow/ready").json()["ready"] is True


# ---------------------------------------------------------------- metrics


def _requests_total(url: str) -> dict[tuple[str, str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    counts = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name == "shipyard_requests_total":
                labels = sample.labels
                counts[labels["deployment"], labels["route"], labels["code"]] = sample.value
    return counts


def test_metrics_count_requests_by_error_code(server: str, row: Row) -> None:
    before = _requests_total(server)
    with httpx.Client(base_url=server) as client:
        for _ in range(3):
            client.post(PREDICT, json={"instances": []})  # 422
        client.post(PREDICT, content=b"{")  # 400
        client.post(PREDICT, content=b"{}", headers=_typed("text/plain"))  # 415
        client.post(INFER, json={"inputs": [_matrix(row, datatype="FLOAT")]})  # 400
        client.post(f"/v2/models/{MODEL}/versions/7/infer", json={"inputs": []})  # 404
        client.post(PREDICT, json=_good(row))  # 200
        client.post("/v1/models/made-up:predict", json={"instances": []})  # 404, no label
    after = _requests_total(server)

    def grew(route: str, code: str) -> float:
        return after.get((MODEL, route, code), 0.0) - before.get((MODEL, route, code), 0.0)

    assert grew("predict", "422") == 3
    assert grew("predict", "400") == 1
    assert grew("predict", "415") == 1
    assert grew("predict", "200") == 1
    assert grew("infer", "400") == 1
    assert grew("infer", "404") == 1
    # an unknown deployment is no label: callers cannot grow the metrics without bound
    assert not any(key[0] == "made-up" for key in after)


# ---------------------------------------------------------------- server bugs found by probing
# Each of these failed when written; the report that came with them says why and how to fix.


def test_a_non_ascii_digit_binary_header_length_is_a_400(server: str) -> None:
    """'²'.isdigit() is True but int('²') raises: the header check must take ASCII digits only."""
    response = httpx.post(
        server + INFER,
        content=b'{"inputs": []}',
        headers={"inference-header-content-length": b"\xb2"},  # latin-1 '²'
    )
    assert_error(response, 400, "Inference-Header-Content-Length must be a number")


@pytest.mark.parametrize(
    "shape",
    [
        [0, 2**62],
        [0, 2**64 - 1],
        [2**63, 0],
        # every dimension allowed alone, but together past any array (found by the OIP fuzz)
        [0, 16777216, 38707, 1096394948, 458, 373, 135476801, 5636],
    ],
)
def test_an_empty_tensor_with_a_huge_dimension_is_a_4xx(
    server: str, shape: list[int], subtests: Any
) -> None:
    """0 values fit any shape with a 0 in it, but numpy cannot make an array 2**62 wide."""
    for path, names in ((INFER, ["input"]), ("/v2/models/plans/infer", list(PLAN))):
        with subtests.test(msg=path):
            tensors = [{"name": n, "shape": shape, "datatype": "BYTES", "data": []} for n in names]
            response = httpx.post(server + path, json={"inputs": tensors})
            assert response.status_code in (400, 422), response.text
            assert_error(response, response.status_code)


@pytest.mark.parametrize(
    ("datatype", "value"),
    [("FP16", 1e300), ("FP32", 1e300), ("FP16", 65520), ("FP32", 3.4028235677973366e38)],
)
def test_a_number_too_large_for_a_float_datatype_is_a_422(
    server: str, row: Row, datatype: str, value: float
) -> None:
    """A value beyond the datatype's largest finite one (FP16: 65504; FP32: about 3.4028235e38;
    the last two cases are what the OIP fuzz in test_openapi_fuzz.py shrank to) is refused like
    an int out of range, never cast to inf; pytest's warnings-as-errors turn numpy's overflow
    RuntimeWarning into a 500 here."""
    tensor = _matrix(row, datatype=datatype, data=[1.0] * 29 + [value])
    response = httpx.post(server + INFER, json={"inputs": [tensor]})
    assert_error(response, 422, "Input 'input'", "range")


def test_errors_quote_values_as_the_caller_sent_them(server: str, row: Row) -> None:
    """Messages show JSON values (5, 'abc'), not numpy reprs such as np.int64(5)."""
    with httpx.Client(base_url=server) as client:
        responses = [
            client.post(PLANS, json={"instances": [{**PLAN, "plan": 5}]}),
            client.post(INFER, json={"inputs": [_matrix(row, data=["abc"] * 30)]}),
        ]
    for response in responses:
        assert "np." not in assert_error(response, 422)["error"]


def test_a_strict_deployment_refuses_unknown_oip_request_fields(server: str, row: Row) -> None:
    """Strict refuses unknown top-level fields on the JSON route; the OIP route must too."""
    response = httpx.post(
        server + "/v2/models/strict/infer", json={"inputs": _tensors(row), "trace": True}
    )
    assert_error(response, 422, "'trace'")


def test_repeated_host_headers_are_refused(server: str) -> None:
    """RFC 9112 §3.2: more than one Host header is a 400. The Guard checks the last one, while
    a proxy in front may route by the first."""
    for hosts in (("evil.example", "127.0.0.1"), ("127.0.0.1", "evil.example")):
        lines = "".join(f"Host: {host}\r\n" for host in hosts)
        request = f"GET /v2 HTTP/1.1\r\n{lines}Connection: close\r\n\r\n".encode()
        status, _, body = _raw(server, request)
        assert status in (400, 403), (hosts, status, body)


def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(server: str) -> None:
    """Starlette raises ClientDisconnect while the body is read; that is the client's doing,
    not a 500 in the metrics (and an ERROR with a traceback in the log)."""
    before = _requests_total(server)
    host, port = server.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        head = (
            f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n"
        )
        connection.sendall(head.encode() + b'{"instances": [')
        time.sleep(0.2)  # the server is now waiting for the rest of the body
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # the server notices the hang-up within milliseconds
        after = _requests_total(server)
        if after != before:
            break
        time.sleep(0.05)
    grown = {
        key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key)
    }
    assert not any(code.startswith("5") for (_, _, code) in grown), grown
