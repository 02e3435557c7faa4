"""Schemathesis over the server's own OpenAPI document (GET /openapi.json): whatever it sends to
any operation, valid or not, the server never answers 5xx, and its answers match the document.

The document comes from a real server (the ``serve_app`` fixture), so its request bodies are
the deployments' real signatures: 30 float columns for ``fuzz-bc``, a category, a string and an
int column for ``fuzz-plans``. Each operation gets schema-valid and schema-violating cases from
Hypothesis, derandomized, so a run is repeatable.

Schemathesis' own pytest loader (``schemathesis.pytest.from_fixture``) cannot be used: with
pytest 9 it fails on ``request.node._nodeid``, which pytest removed. The tests therefore draw
cases from each operation's Hypothesis strategy (``APIOperation.as_strategy``) themselves, one
subtest per operation. A last test draws OIP tensors the protocol's way, deeper than the
document's loose tensor schema lets Schemathesis go.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shipyard.serve._protocol import DATATYPES as DATATYPE_NAMES
from tests.serve.conftest import MODEL, ServeApp, deployment

pytestmark = pytest.mark.slow

TOKEN = "fuzz-token"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _config() -> dict[str, Any]:
    # Deployment names of their own keep the inference log these requests write (the feedback
    # route needs one) apart from other tests' deployments in the shared workspace.
    return {
        "server": {"max_body_bytes": 64 * 1024},
        "deployments": [
            deployment("fuzz-bc", f"models:/{MODEL}@champion"),
            deployment("fuzz-plans", "models:/plans@champion"),
        ],
    }


def _fuzz(url: str, subtests: Any, *, examples: int, headers: dict[str, str]) -> dict[str, Any]:
    """Fuzz every operation of the server at ``url``; the statuses each operation answered."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", headers=headers)
    statuses: dict[str, Counter[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        statuses[operation.label] = Counter()
        with subtests.test(msg=operation.label):
            _fuzz_one(operation, examples, headers, statuses[operation.label])
    return statuses


def _fuzz_one(
    operation: Any, examples: int, headers: dict[str, str], answered: Counter[int]
) -> None:
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case: Any) -> None:
        response = case.call_and_validate(checks=CHECKS, headers=headers, timeout=30)
        answered[response.status_code] += 1

    check()


def _routes(name: str) -> list[str]:
    return [
        f"POST /v1/models/{name}:predict",
        f"POST /v1/models/{name}/feedback",
        f"GET /v2/models/{name}",
        f"GET /v2/models/{name}/ready",
        f"POST /v2/models/{name}/infer",
    ]


SERVER_ROUTES = ["GET /v2/health/live", "GET /v2/health/ready", "GET /v2", "GET /v1/deployments"]
ALL_ROUTES = {*SERVER_ROUTES, "GET /metrics", *_routes("fuzz-bc"), *_routes("fuzz-plans")}


def test_no_operation_answers_5xx(serve_app: ServeApp, subtests: Any) -> None:
    statuses = _fuzz(serve_app(_config()).url, subtests, examples=40, headers={})
    assert set(statuses) == ALL_ROUTES
    # valid cases got through: predictions made, feedback recorded, not only errors
    assert statuses["POST /v1/models/fuzz-bc:predict"][200] > 0, statuses
    assert statuses["POST /v1/models/fuzz-bc/feedback"][200] > 0, statuses
    assert {400, 422} <= set(statuses["POST /v1/models/fuzz-plans:predict"]), statuses


def test_no_operation_answers_5xx_with_a_bearer_token(serve_app: ServeApp, subtests: Any) -> None:
    url = serve_app(_config(), token=TOKEN).url
    statuses = _fuzz(url, subtests, examples=15, headers={"Authorization": f"Bearer {TOKEN}"})
    assert set(statuses) == ALL_ROUTES
    assert not any(401 in answered for answered in statuses.values()), statuses
    assert statuses["GET /metrics"][200] > 0 and statuses["GET /v2/models/fuzz-bc"][200] > 0


# ---------------------------------------------------------------- OIP tensors, drawn deeper
# The document declares a tensor's datatype as any string and its data as any list, so the
# cases above rarely get past "unknown datatype". Here tensors are drawn the way the protocol
# defines them (real datatypes, shapes with 0, small and huge dimensions, values of one kind or
# mixed, as many as the shape needs or not), so decoding, preparation and prediction are fuzzed.

DATATYPES = [*DATATYPE_NAMES, "FLOAT", ""]
_NAMES = ["input", "mean radius", "worst area", "plan", "country", "seats", "extra"]
_DIMS = st.one_of(st.integers(0, 3), st.sampled_from([30, 2**31, 2**62, 2**63, 2**64 - 1]))
_NUMBERS = st.one_of(st.integers(-(2**65), 2**65), st.floats(allow_nan=False, allow_infinity=False))
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=4))
_KINDS = [_NUMBERS, st.integers(-5, 40), st.sampled_from(["basic", "pro", "fr", "x"]), _SCALARS]
_DATA = st.lists(st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3)), max_size=6)


@st.composite
def _tensors(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.lists(_DIMS, max_size=3))
    count = math.prod(shape)
    if count <= 64 and draw(st.integers(0, 3)):  # mostly as many values as the shape needs
        kind = draw(st.sampled_from(_KINDS))
        data: Any = draw(st.lists(kind, min_size=count, max_size=count))
    else:
        data = draw(_DATA)
    return {
        "name": draw(st.sampled_from(_NAMES)),
        "datatype": draw(st.sampled_from(DATATYPES)),
        "shape": shape,
        "data": data,
    }


@st.composite
def _matrices(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One [rows, 30] numeric tensor: what fuzz-bc takes, with values of any size."""
    rows = draw(st.integers(1, 2))
    datatype = draw(st.sampled_from(["FP64", "FP32", "FP16", "INT64", "INT8", "UINT8", "BOOL"]))
    data = draw(st.lists(_NUMBERS, min_size=rows * 30, max_size=rows * 30))
    return [{"name": "input", "datatype": datatype, "shape": [rows, 30], "data": data}]


@st.composite
def _plan_columns(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One tensor per fuzz-plans column, each of any datatype and kind of values."""
    rows = draw(st.integers(1, 3))
    return [
        {
            "name": name,
            "datatype": draw(st.sampled_from(["BYTES", "INT64", "INT32", "FP64", "UINT8"])),
            "shape": [rows],
            "data": draw(
                st.lists(st.sampled_from(_KINDS).flatmap(lambda k: k), min_size=rows, max_size=rows)
            ),
        }
        for name in ("plan", "country", "seats")
    ]


_REQUESTS = st.fixed_dictionaries(
    {
        "inputs": st.one_of(
            st.lists(_tensors(), min_size=1, max_size=3), _matrices(), _plan_columns()
        )
    },
    optional={
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["predict", "proba", "x"])}), max_size=2
        ),
        "parameters": st.fixed_dictionaries({"binary_data_output": st.booleans()}),
    },
)


def test_oip_tensors_never_answer_5xx(serve_app: ServeApp) -> None:
    import httpx

    url = serve_app(_config()).url
    statuses: list[int] = []
    with httpx.Client(base_url=url, timeout=30) as client:

        @settings(
            max_examples=300,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(path=st.sampled_from(["fuzz-bc", "fuzz-plans"]), document=_REQUESTS)
        def check(path: str, document: dict[str, Any]) -> None:
            response = client.post(f"/v2/models/{path}/infer", content=json.dumps(document))
            statuses.append(response.status_code)
            assert response.status_code < 500, f"{path}: {json.dumps(document)} -> {response.text}"
            if response.status_code >= 400:
                body = response.json()
                assert body["error"] and body["id"] == response.headers["x-request-id"]

        check()
    assert {200, 400, 422} <= set(statuses), sorted(set(statuses))
