"""The prediction routes, on raw ASGI: the hot path of the server.

``POST /v1/models/{name}:predict`` and ``POST /v2/models/{name}[/versions/{v}]/infer`` skip
the web framework's request, response and middleware objects: at a few thousand requests a
second per core those cost more than the model. A request goes: read the body (size-limited,
chunked or not) → decode the protocol → pick the variant → check and prepare the input against
that version's signature → queue it for the micro-batcher → await the batch → encode. Each phase
is timed into the ``Server-Timing`` header.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.core.errors import (
    InvalidInput,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    ShipyardError,
    Unavailable,
    UnsupportedMediaType,
    http_status,
)
from shipyard.models._inputs import n_rows
from shipyard.serve._batcher import Outcome, Pending
from shipyard.serve._protocol import (
    DecodedRequest,
    decode_infer,
    decode_predict,
    encode_infer,
    encode_predict,
)

if TYPE_CHECKING:
    from shipyard.models._package import LoadedModel
    from shipyard.serve._app import ServerState
    from shipyard.serve._deployment import Deployment, ServedModel, Variant

__all__ = [
    "Answer",
    "ClientDisconnected",
    "PredictRoutes",
    "error_response",
    "internal_error",
    "pinned",
    "read_body",
    "require_json",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = Mapping[bytes, bytes]

JSON = b"application/json"
log = logging.getLogger("shipyard.serve")
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, headers, body


class ClientDisconnected(Exception):
    """The client hung up before sending its whole request: there is no one to answer."""


def error_response(exc: ShipyardError, request_id: str) -> Answer:
    """(status, headers, JSON body) for a Shipyard error."""
    content: dict[str, Any] = {"error": exc.message, "code": exc.code, "id": request_id}
    if exc.hint:
        content["hint"] = exc.hint
    headers = [(b"content-type", JSON)]
    if isinstance(exc, Unavailable) and exc.retry_after is not None:
        headers.append((b"retry-after", str(max(1, round(exc.retry_after))).encode()))
    return http_status(exc), headers, orjson.dumps(content)


class PredictRoutes:
    """Matches and answers the prediction routes; everything else goes to the framework."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.limit = state.config.server.max_body_bytes

    def match(self, scope: Scope) -> tuple[str, str, str | None] | None:
        """(route, deployment name, pinned version) for a prediction path, else None."""
        path: str = scope["path"]
        if path.startswith("/v1/models/") and path.endswith(":predict"):
            name = path[len("/v1/models/") : -len(":predict")]
            return ("predict", name, None) if "/" not in name else None
        if path.startswith("/v2/models/") and path.endswith("/infer"):
            parts = path[len("/v2/models/") : -len("/infer")].split("/")
            if len(parts) == 1:
                return "infer", parts[0], None
            if len(parts) == 3 and parts[1] == "versions":
                return "infer", parts[0], parts[2]
        return None

    async def __call__(
        self,
        route: tuple[str, str, str | None],
        method: str,
        headers: Headers,
        receive: Receive,
        send: Send,
        request_id: str,
    ) -> int:
        """Answer one prediction request; returns the status sent."""
        kind, name, version = route
        started = time.perf_counter()
        if method != "POST":
            await _send(send, *_method_not_allowed(method, kind, request_id))
            return 405
        try:
            status, headers_out, content = await self._answer(
                kind == "infer", name, version, headers, receive, request_id, started
            )
        except ShipyardError as exc:
            status, headers_out, content = error_response(exc, request_id)
        except ClientDisconnected:
            return 499  # nobody to answer; not the server's error, not the caller's mistake
        except Exception:
            log.exception("%s %s failed", kind, name)
            status, headers_out, content = internal_error(request_id)
        headers_out.append((b"x-request-id", request_id.encode()))
        if status != 200:  # successful answers carry the full breakdown already
            total = (time.perf_counter() - started) * 1000
            headers_out.append((b"server-timing", f"total;dur={total:.3f}".encode()))
        await _send(send, status, headers_out, content)
        if name in self.state.deployments:
            self.state.metrics.request(name, kind, status, time.perf_counter() - started)
        return status

    async def _answer(
        self,
        oip: bool,
        name: str,
        version: str | None,
        headers: Headers,
        receive: Receive,
        request_id: str,
        received: float,
    ) -> Answer:
        received_ms = int(time.time() * 1000)
        deployment = self.state.deployment(name)
        header_length = _binary_header_length(headers) if oip else None
        require_json(headers, binary=header_length is not None)
        body = await read_body(headers, receive, self.limit)
        if version is not None:
            variant, served = pinned(deployment, version)
        else:
            variant = deployment.pick(headers)
            served = variant.serving()
        decoded, prepared = _decode_and_prepare(
            served.model, body, oip=oip, strict=deployment.spec.strict, header_length=header_length
        )
        rate = deployment.spec.log_sample_rate
        pending = Pending(
            prepared,
            n_rows(prepared),
            decoded.proba,
            request_id,
            received_ms,
            received,
            log=rate >= 1 or random.random() < rate,
        )
        future = served.batcher.submit(pending)
        parsed = time.perf_counter()
        outcome = await future  # the batcher answers Unavailable after the deployment's timeout
        serialize_start = time.perf_counter()
        served_version = served.version
        binary = False
        extra = [
            (b"shipyard-model", served_version.name.encode()),
            (b"shipyard-model-version", str(served_version.version).encode()),
            (b"shipyard-variant", variant.label.encode()),
        ]
        if oip:
            content, json_length = encode_infer(
                outcome.predictions,
                outcome.probabilities,
                model_name=deployment.name,
                model_version=served_version.version,
                request_id=decoded.request_id or request_id,
                binary=decoded.binary_output,
            )
            if json_length is not None:
                binary = True
                extra.append((b"inference-header-content-length", str(json_length).encode()))
        else:
            content = encode_predict(
                outcome.predictions,
                outcome.probabilities,
                served.classes,
                model_name=served_version.name,
                model_version=served_version.version,
                request_id=request_id,
            )
        _copy_to_shadow(deployment, decoded, pending)
        done = time.perf_counter()
        timing = _server_timing(parsed - received, outcome, done - serialize_start, done - received)
        extra.append((b"server-timing", timing.encode()))
        extra.append((b"content-type", b"application/octet-stream" if binary else JSON))
        return 200, extra, content


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _method_not_allowed(method: str, kind: str, request_id: str) -> Answer:
    content = {
        "error": f"{method} is not allowed on the {kind} route.",
        "code": "http",
        "id": request_id,
        "hint": "Send predictions with POST.",
    }
    headers = [(b"content-type", JSON), (b"allow", b"POST"), (b"x-request-id", request_id.encode())]
    return 405, headers, orjson.dumps(content)


def _decode_and_prepare(
    model: LoadedModel, body: bytes, *, oip: bool, strict: bool, header_length: int | None
) -> tuple[DecodedRequest, Any]:
    """The request as the model's prepared input. Everything here reads the caller's bytes, so
    any conversion error that slips past the checks (numpy has many) is the input's fault: 422,
    never 500."""
    try:
        decoded = (
            decode_infer(body, model.signature, strict=strict, header_length=header_length)
            if oip
            else decode_predict(body, model.signature, strict=strict)
        )
        if decoded.proba and not model.has_proba:
            raise InvalidInput(
                "This model gives no class probabilities.",
                hint="Ask for 'predict' only; probabilities exist for classifiers.",
            )
        return decoded, model.prepare(decoded.payload)
    except InvalidInput:
        raise
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:
        raise InvalidInput(
            f"The input could not be read: {type(exc).__name__}: {exc}",
            hint="Check the request against GET /openapi.json or the model's metadata.",
        ) from None


def _copy_to_shadow(deployment: Deployment, decoded: DecodedRequest, primary: Pending) -> None:
    """Offer the request to the shadow's queue; a full queue drops the copy, never waits."""
    shadow = deployment.shadow
    if shadow is None or shadow.current is None:
        return
    copy = Pending(
        decoded.payload,
        decoded.rows,
        False,
        primary.request_id,
        primary.received_ms,
        primary.received,
        log=primary.log,
    )
    if not shadow.current.batcher.offer(copy):
        deployment.shadow_dropped += 1


def internal_error(request_id: str) -> Answer:
    """A 500 that says only that the server failed: the traceback goes to the server's log."""
    content = {
        "error": "The server failed to answer this request.",
        "code": "internal",
        "id": request_id,
    }
    return 500, [(b"content-type", JSON)], orjson.dumps(content)


def pinned(deployment: Deployment, wanted: str) -> tuple[Variant, ServedModel]:
    """For OIP routes with /versions/{version}: the variant serving exactly that version."""
    for variant in deployment.variants:
        current = variant.current
        if current is not None and str(current.version.version) == wanted:
            return variant, current
    serving = sorted({str(v.current.version.version) for v in deployment.variants if v.current})
    raise NotFound(
        f"Deployment {deployment.name!r} does not serve version {wanted!r}; it serves {serving}.",
        hint="Leave the version out to let the deployment's traffic split choose.",
    )


def require_json(headers: Headers, *, binary: bool) -> None:
    """JSON routes take JSON; a missing type is allowed (non-browser clients such as
    tritonclient send none), form and text types are refused so no HTML form can post here."""
    raw = headers.get(b"content-type", b"")
    media = raw.split(b";", 1)[0].strip().lower()
    if not media or media == JSON or media.endswith(b"+json"):
        return
    if binary and media == b"application/octet-stream":
        return
    raise UnsupportedMediaType(
        f"Content-Type {media.decode('latin-1')!r} is not accepted here.",
        hint="Send the body as JSON with 'Content-Type: application/json'.",
    )


def _binary_header_length(headers: Headers) -> int | None:
    value = headers.get(b"inference-header-content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise MalformedRequest("Inference-Header-Content-Length must be a number of bytes.")
    return int(value)


async def read_body(headers: Headers, receive: Receive, limit: int) -> bytes:
    """The body, refused with 413 once it passes ``limit`` bytes, whether or not it is chunked."""
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {limit} bytes.",
        hint="Send fewer rows per request, or raise max_body_bytes in the [server] table.",
    )


def _server_timing(parse_s: float, outcome: Outcome, serialize_s: float, total_s: float) -> str:
    return (
        f"parse;dur={parse_s * 1000:.3f}, queue;dur={outcome.queue_s * 1000:.3f}, "
        f"predict;dur={outcome.predict_s * 1000:.3f}, serialize;dur={serialize_s * 1000:.3f}, "
        f'total;dur={total_s * 1000:.3f}, batch;desc="rows={outcome.batch_rows}"'
    )
