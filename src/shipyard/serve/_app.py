"""The model server as an ASGI app (Starlette): routes, request handling and lifecycle.

A prediction request goes: read the body (size-limited, chunked or not) → decode the protocol →
pick the variant → check and prepare the input against that version's signature → queue it for
the micro-batcher → await the batch → encode. Each phase is timed and reported in the
``Server-Timing`` header. Errors a caller can fix get a 4xx with a message; only a failure of
the server itself is a 500, and it never carries a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard import __version__
from shipyard.core.errors import (
    Forbidden,
    InvalidInput,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    ShipyardError,
    StoreError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from shipyard.models._inputs import n_rows
from shipyard.serve._batcher import Batch, Outcome, Pending
from shipyard.serve._config import ServeConfig
from shipyard.serve._deployment import Deployment, ServedModel, Variant
from shipyard.serve._guard import REQUEST_ID, Guard, error_body
from shipyard.serve._metrics import CONTENT_TYPE, ServerMetrics
from shipyard.serve._protocol import (
    DecodedRequest,
    decode_infer,
    decode_predict,
    dumps,
    encode_infer,
    encode_predict,
    oip_datatype,
    tensor_metadata,
)

__all__ = ["ServerState", "build_app"]

log = logging.getLogger("shipyard.serve")
TOKEN_ENV = "SHIPYARD_API_TOKEN"
JSON = "application/json"
_STATUS: list[tuple[type[ShipyardError], int]] = [
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (MalformedRequest, 400),
    (InvalidInput, 422),
    (NotFound, 404),
    (Unauthorized, 401),
    (Forbidden, 403),
    (Unavailable, 503),
    (StoreError, 503),  # the artifact store failed: nothing was acknowledged, retrying may work
]


class ServerState:
    """Everything one server process holds: deployments, metrics and the inference log."""

    def __init__(self, config: ServeConfig, *, workspace: str | None = None) -> None:
        self.config = config
        self.workspace = workspace
        self.metrics = ServerMetrics()
        self.loader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="shipyard-loader")
        self.inference_log: Any = None
        self.deployments: dict[str, Deployment] = {
            spec.name: Deployment(
                spec,
                loader=self.loader,
                on_batch=self._batch_done,
                on_swap=self._swapped,
                want_proba=config.server.inference_log,
            )
            for spec in config.deployments
        }
        self._loading: list[asyncio.Task[None]] = []
        self.metrics.watch_labelled(
            "shipyard_queue_depth",
            "Requests waiting for a batch, per deployment variant.",
            ["deployment", "variant"],
            self._queue_depths,
        )
        self.metrics.watch(
            "shipyard_inference_log_dropped_rows",
            "Inference log rows dropped because the buffer was full.",
            "counter",
            lambda: float(self.inference_log.dropped_rows if self.inference_log else 0),
        )
        self.metrics.watch(
            "shipyard_shadow_dropped_requests",
            "Requests not copied to a shadow model because its queue was full.",
            "counter",
            lambda: float(sum(d.shadow_dropped for d in self.deployments.values())),
        )

    @property
    def ready(self) -> bool:
        return all(d.ready for d in self.deployments.values())

    def deployment(self, name: str) -> Deployment:
        found = self.deployments.get(name)
        if found is None:
            raise NotFound(
                f"No deployment named {name!r}; this server has {sorted(self.deployments)}.",
                hint="GET /v1/deployments lists them.",
            )
        return found

    async def start(self) -> None:
        if self.config.server.inference_log:
            from shipyard.core.config import resolve_settings
            from shipyard.serve._inference_log import InferenceLog

            settings = resolve_settings()
            self.inference_log = InferenceLog(settings.artifacts)
            self.inference_log.start()
        # Listen only once the models are loaded (or failed to, which /v2/health/ready and
        # /v1/deployments then report): workers sharing a port never answer "still loading".
        loop = asyncio.get_running_loop()
        self._loading = [loop.create_task(d.load()) for d in self.deployments.values()]
        await asyncio.gather(*self._loading, return_exceptions=True)
        # Move everything allocated so far out of the garbage collector's sight: its full
        # passes then stay short, and so does the latency tail.
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        """After the last request: stop watching aliases, drain batches, flush the log."""
        for task in self._loading:
            task.cancel()
        await asyncio.gather(*self._loading, return_exceptions=True)
        await asyncio.gather(*(d.close() for d in self.deployments.values()))
        if self.inference_log is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.inference_log.close)
        self.loader.shutdown(wait=False, cancel_futures=True)

    # ---- callbacks from deployments (on the event loop)

    def _batch_done(
        self, deployment: Deployment, served: ServedModel, variant: Variant, batch: Batch
    ) -> None:
        rows = sum(item.rows for item in batch.items)
        if rows:
            self.metrics.batch(deployment.name, variant.label, rows)
        if self.inference_log is None or not batch.items or batch.predictions is None:
            return
        from shipyard.serve._inference_log import LogBatch

        items = batch.items
        sampled = [item.log for item in items]
        inputs, predictions, probabilities = batch.inputs, batch.predictions, batch.probabilities
        if not all(sampled) and inputs is not None:
            mask = np.repeat(sampled, [item.rows for item in items])
            items = [item for item in items if item.log]
            if not items:
                return
            inputs = inputs.iloc[mask] if hasattr(inputs, "iloc") else inputs[mask]
            predictions = predictions[mask]
            probabilities = probabilities[mask] if probabilities is not None else None
        self.inference_log.append(  # a full buffer counts the drop itself
            LogBatch(
                deployment=deployment.name,
                model_name=served.version.name,
                model_version=served.version.version,
                variant=variant.label,
                role=variant.role,
                request_ids=[item.request_id for item in items],
                rows_per_request=[item.rows for item in items],
                received_ms=[item.received_ms for item in items],
                latency_ms=[(batch.finished - item.received) * 1000 for item in items],
                inputs=inputs,
                input_names=_names(served.model.signature.inputs),
                predictions=predictions,
                probabilities=probabilities,
                classes=served.classes,
            )
        )

    def _swapped(
        self, deployment: Deployment, variant: Variant, old: ServedModel | None, new: ServedModel
    ) -> None:
        previous = (old.version.version, old.model.backend) if old is not None else None
        self.metrics.model_served(
            deployment.name,
            variant.label,
            new.version.name,
            new.version.version,
            new.model.backend,
            previous,
        )

    def _queue_depths(self) -> list[tuple[list[str], float]]:
        return [
            ([d.name, v.label], float(v.current.batcher.depth))
            for d in self.deployments.values()
            for v in d.all_variants()
            if v.current is not None
        ]


def _names(inputs: Any) -> list[str] | None:
    return [c.name for c in inputs] if isinstance(inputs, tuple) else None


def build_app(config: ServeConfig, *, token: str | None = None) -> Any:
    """The ASGI app for ``config``; ``token`` defaults to $SHIPYARD_API_TOKEN."""
    state = ServerState(config)
    handlers = _Handlers(state)
    routes = [
        Route("/v2/health/live", handlers.live, methods=["GET"]),
        Route("/v2/health/ready", handlers.ready, methods=["GET"]),
        Route("/v2", handlers.server_metadata, methods=["GET"]),
        Route("/v2/models/{name}", handlers.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", handlers.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", handlers.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", handlers.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", handlers.infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", handlers.infer, methods=["POST"]),
        Route("/v1/models/{name}:predict", handlers.predict, methods=["POST"]),
        Route("/v1/models/{name}/feedback", handlers.feedback, methods=["POST"]),
        Route("/v1/deployments", handlers.deployments, methods=["GET"]),
        Route("/metrics", handlers.metrics, methods=["GET"]),
        Route("/openapi.json", handlers.openapi, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},  # type: ignore[dict-item]
    )
    app.state.shipyard = state
    server = config.server
    return Guard(
        app,
        allowed_hosts=server.accepted_hosts(),
        allowed_origins=frozenset(server.allowed_origins),
        token=token if token is not None else os.environ.get(TOKEN_ENV) or None,
        log_access=server.access_log,
    )


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own 404/405 as JSON like every other error."""
    content = {"error": f"{request.method} {request.url.path}: {exc.detail}", "code": "http"}
    if exc.status_code == 404:
        content["hint"] = "See GET /openapi.json for the routes of this server."
    return Response(dumps(content), exc.status_code, headers=exc.headers, media_type=JSON)


Handler = Callable[[Any, Request], Awaitable[Response]]


def _answer_errors(route: str) -> Callable[[Handler], Handler]:
    """Turn Shipyard errors into 4xx/503 JSON, anything else into a bare 500, and count both."""

    def wrap(handler: Handler) -> Handler:
        async def run(self: Any, request: Request) -> Response:
            started = time.perf_counter()
            name = request.path_params.get("name", "")
            try:
                response = await handler(self, request)
            except ShipyardError as exc:
                status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
                headers = {}
                if isinstance(exc, Unavailable) and exc.retry_after is not None:
                    headers["retry-after"] = str(max(1, round(exc.retry_after)))
                response = Response(
                    error_body(exc, request.scope[REQUEST_ID]), status, headers, media_type=JSON
                )
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                response = Response(
                    dumps(
                        {
                            "error": "The server failed to answer this request.",
                            "code": "internal",
                            "id": request.scope[REQUEST_ID],
                        }
                    ),
                    500,
                    media_type=JSON,
                )
            state: ServerState = request.app.state.shipyard
            if name in state.deployments:
                elapsed = time.perf_counter() - started
                state.metrics.request(name, route, response.status_code, elapsed)
            return response

        return run

    return wrap


class _Handlers:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.limit = state.config.server.max_body_bytes

    # ---- health and metadata

    async def live(self, request: Request) -> Response:
        return Response(b'{"live":true}', media_type=JSON)

    async def ready(self, request: Request) -> Response:
        ready = self.state.ready
        return Response(dumps({"ready": ready}), 200 if ready else 503, media_type=JSON)

    async def server_metadata(self, request: Request) -> Response:
        content = {
            "name": "shipyard",
            "version": __version__,
            "extensions": ["binary_tensor_data"],
        }
        return Response(dumps(content), media_type=JSON)

    @_answer_errors("metadata")
    async def model_metadata(self, request: Request) -> Response:
        deployment = self.state.deployment(request.path_params["name"])
        served = _primary(deployment, request)
        signature = served.model.signature
        outputs = [
            {
                "name": "predict",
                "datatype": oip_datatype(_output_dtype(served)),
                "shape": [-1],
            }
        ]
        if served.model.has_proba:
            width = served.model.metadata.get("proba_width")
            outputs.append({"name": "proba", "datatype": "FP64", "shape": [-1, width]})
        content = {
            "name": deployment.name,
            "versions": sorted(
                {str(v.current.version.version) for v in deployment.variants if v.current}
            ),
            "platform": f"shipyard_{served.model.flavor}",
            "inputs": tensor_metadata(signature),
            "outputs": outputs,
            "parameters": {
                "model": served.version.name,
                "backend": served.model.backend,
                "classes": served.classes,
            },
        }
        return Response(dumps(content), media_type=JSON)

    @_answer_errors("ready")
    async def model_ready(self, request: Request) -> Response:
        deployment = self.state.deployment(request.path_params["name"])
        ready = deployment.ready
        if ready and "version" in request.path_params:
            _primary(deployment, request)
        content = {"name": deployment.name, "ready": ready}
        return Response(dumps(content), 200 if ready else 503, media_type=JSON)

    async def deployments(self, request: Request) -> Response:
        content = {"deployments": [d.status() for d in self.state.deployments.values()]}
        return Response(dumps(content), media_type=JSON)

    async def metrics(self, request: Request) -> Response:
        return Response(self.state.metrics.render(), media_type=CONTENT_TYPE)

    async def openapi(self, request: Request) -> Response:
        from shipyard.serve._openapi import openapi_document

        return Response(dumps(openapi_document(self.state)), media_type=JSON)

    # ---- predictions

    @_answer_errors("predict")
    async def predict(self, request: Request) -> Response:
        return await self._predict(request, oip=False)

    @_answer_errors("infer")
    async def infer(self, request: Request) -> Response:
        return await self._predict(request, oip=True)

    async def _predict(self, request: Request, *, oip: bool) -> Response:
        received = time.perf_counter()
        received_ms = int(time.time() * 1000)
        deployment = self.state.deployment(request.path_params["name"])
        header_length = _binary_header_length(request) if oip else None
        _require_json(request, binary=header_length is not None)
        body = await _read_body(request, self.limit)
        if "version" in request.path_params:
            variant, served = _pinned(deployment, request.path_params["version"])
        else:
            variant = deployment.pick(request.headers)
            served = variant.serving()
        model = served.model
        strict = deployment.spec.strict
        decoded: DecodedRequest = (
            decode_infer(body, model.signature, strict=strict, header_length=header_length)
            if oip
            else decode_predict(body, model.signature, strict=strict)
        )
        if decoded.proba and not model.has_proba:
            raise InvalidInput(
                "This model gives no class probabilities.",
                hint="Ask for 'predict' only; probabilities exist for classifiers.",
            )
        prepared = model.prepare(decoded.payload)
        request_id: str = request.scope[REQUEST_ID]
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
        outcome = await _within(future, deployment.spec.timeout_s)
        serialize_start = time.perf_counter()
        version = served.version
        headers = {
            "shipyard-model": version.name,
            "shipyard-model-version": str(version.version),
            "shipyard-variant": variant.label,
        }
        if oip:
            content, json_length = encode_infer(
                outcome.predictions,
                outcome.probabilities,
                model_name=deployment.name,
                model_version=version.version,
                request_id=decoded.request_id or request_id,
                binary=decoded.binary_output,
            )
            if json_length is not None:
                headers["inference-header-content-length"] = str(json_length)
        else:
            content = encode_predict(
                outcome.predictions,
                outcome.probabilities,
                served.classes,
                model_name=version.name,
                model_version=version.version,
                request_id=request_id,
            )
        self._copy_to_shadow(deployment, decoded, pending)
        done = time.perf_counter()
        headers["server-timing"] = _server_timing(
            parsed - received, outcome, done - serialize_start, done - received
        )
        media = "application/octet-stream" if "inference-header-content-length" in headers else JSON
        return Response(content, headers=headers, media_type=media)

    def _copy_to_shadow(
        self, deployment: Deployment, decoded: DecodedRequest, primary: Pending
    ) -> None:
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

    # ---- feedback

    @_answer_errors("feedback")
    async def feedback(self, request: Request) -> Response:
        deployment = self.state.deployment(request.path_params["name"])
        _require_json(request, binary=False)
        body = await _read_body(request, self.limit)
        records = _feedback_records(body)
        log_ = self.state.inference_log
        if log_ is None:
            raise Unavailable(
                "This server keeps no inference log, so it cannot record feedback.",
                hint="Start it with inference_log = true in the [server] table.",
            )
        written = await asyncio.get_running_loop().run_in_executor(
            None, log_.write_feedback, deployment.name, records
        )
        return Response(dumps({"recorded": written}), media_type=JSON)


def _primary(deployment: Deployment, request: Request) -> ServedModel:
    """The version metadata and readiness speak for: the pinned one, else the first variant."""
    if "version" in request.path_params:
        return _pinned(deployment, request.path_params["version"])[1]
    return deployment.variants[0].serving()


def _pinned(deployment: Deployment, wanted: str) -> tuple[Variant, ServedModel]:
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


def _output_dtype(served: ServedModel) -> str:
    outputs = served.model.signature.outputs
    return getattr(outputs, "dtype", "object")


def _require_json(request: Request, *, binary: bool) -> None:
    """JSON routes take JSON; a missing type is allowed (non-browser clients such as
    tritonclient send none), form and text types are refused so no HTML form can post here."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not media or media == JSON or media.endswith("+json"):
        return
    if binary and media == "application/octet-stream":
        return
    raise UnsupportedMediaType(
        f"Content-Type {media!r} is not accepted here.",
        hint="Send the body as JSON with 'Content-Type: application/json'.",
    )


def _binary_header_length(request: Request) -> int | None:
    value = request.headers.get("inference-header-content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise MalformedRequest("Inference-Header-Content-Length must be a number of bytes.")
    return int(value)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 once it passes ``limit`` bytes, whether or not it is chunked."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {limit} bytes.",
        hint="Send fewer rows per request, or raise max_body_bytes in the [server] table.",
    )


async def _within(future: asyncio.Future[Outcome], seconds: float) -> Outcome:
    try:
        async with asyncio.timeout(seconds):
            return await future
    except TimeoutError:
        raise Unavailable(
            f"The prediction took longer than the deployment's timeout of {seconds} s.",
            hint="Retry, send fewer rows, or raise timeout_s for the deployment.",
            retry_after=1,
        ) from None


def _server_timing(parse_s: float, outcome: Outcome, serialize_s: float, total_s: float) -> str:
    return (
        f"parse;dur={parse_s * 1000:.3f}, queue;dur={outcome.queue_s * 1000:.3f}, "
        f"predict;dur={outcome.predict_s * 1000:.3f}, serialize;dur={serialize_s * 1000:.3f}, "
        f'total;dur={total_s * 1000:.3f}, batch;desc="rows={outcome.batch_rows}"'
    )


def _feedback_records(body: bytes) -> list[Any]:
    """``{"request_id", "label", "row"?}`` or ``{"feedback": [such objects]}``."""
    import orjson

    from shipyard.serve._inference_log import Feedback

    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"The request body is not valid JSON: {exc}.") from None
    if isinstance(document, dict) and "feedback" in document:
        items = document["feedback"]
        if not isinstance(items, list) or not items:
            raise MalformedRequest('"feedback" must be a non-empty list of objects.')
    else:
        items = [document]
    records = []
    for position, item in enumerate(items):
        where = f"Feedback {position}"
        if not isinstance(item, dict):
            raise MalformedRequest(f"{where} is not an object with request_id and label.")
        request_id, row = item.get("request_id"), item.get("row")
        if not isinstance(request_id, str) or not request_id or len(request_id) > 128:
            raise InvalidInput(f"{where} needs a request_id: the id a prediction returned.")
        if "label" not in item or isinstance(item["label"], dict):
            raise InvalidInput(f"{where} needs a label: the true value (number, string, bool).")
        if row is not None and (not isinstance(row, int) or isinstance(row, bool) or row < 0):
            raise InvalidInput(f"{where}: row must be a non-negative integer.")
        records.append(Feedback(request_id=request_id, label=item["label"], row=row))
    return records
