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
    InvalidInput,
    MalformedRequest,
    NotFound,
    ShipyardError,
    Unavailable,
)
from shipyard.serve._batcher import Batch
from shipyard.serve._config import ServeConfig
from shipyard.serve._deployment import Deployment, ServedModel, Variant
from shipyard.serve._guard import REQUEST_ID, AccessLog, Guard
from shipyard.serve._metrics import CONTENT_TYPE, ServerMetrics
from shipyard.serve._predict import (
    ClientDisconnected,
    PredictRoutes,
    error_response,
    internal_error,
    pinned,
    read_body,
    require_json,
)
from shipyard.serve._protocol import (
    dumps,
    oip_datatype,
    tensor_metadata,
)

__all__ = ["ServerState", "build_app"]

log = logging.getLogger("shipyard.serve")
TOKEN_ENV = "SHIPYARD_API_TOKEN"
JSON = "application/json"


class ServerState:
    """Everything one server process holds: deployments, metrics and the inference log."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.metrics = ServerMetrics()
        self.loader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="shipyard-loader")
        self.inference_log: Any = None
        self.access_log = AccessLog() if config.server.access_log else None
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
        if self.access_log is not None:
            self.access_log.flush()
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
        PredictRoutes(state),
        allowed_hosts=server.accepted_hosts(),
        allowed_origins=frozenset(server.allowed_origins),
        token=token if token is not None else os.environ.get(TOKEN_ENV) or None,
        access_log=state.access_log,
    )


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own 404/405 as JSON like every other error."""
    content = {
        "error": f"{request.method} {request.url.path}: {exc.detail}",
        "code": "http",
        "id": request.scope.get(REQUEST_ID),
    }
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
                status, headers, body = error_response(exc, request.scope[REQUEST_ID])
                response = Response(body, status, dict(_text(headers)))
            except ClientDisconnected:
                return Response(status_code=499)  # the client hung up: nothing to count
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                status, headers, body = internal_error(request.scope[REQUEST_ID])
                response = Response(body, status, dict(_text(headers)))
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

    @_answer_errors("feedback")
    async def feedback(self, request: Request) -> Response:
        deployment = self.state.deployment(request.path_params["name"])
        headers = dict(request.scope["headers"])
        require_json(headers, binary=False)
        body = await read_body(headers, request.receive, self.limit)
        records = _feedback_records(body)
        inference_log = self.state.inference_log
        if inference_log is None:
            raise Unavailable(
                "This server keeps no inference log, so it cannot record feedback.",
                hint="Start it with inference_log = true in the [server] table.",
            )
        written = await asyncio.get_running_loop().run_in_executor(
            None, inference_log.write_feedback, deployment.name, records
        )
        return Response(dumps({"recorded": written}), media_type=JSON)


def _primary(deployment: Deployment, request: Request) -> ServedModel:
    """The version metadata and readiness speak for: the pinned one, else the first variant."""
    if "version" in request.path_params:
        return pinned(deployment, request.path_params["version"])[1]
    return deployment.variants[0].serving()


def _text(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]


def _output_dtype(served: ServedModel) -> str:
    outputs = served.model.signature.outputs
    return getattr(outputs, "dtype", "object")


def _feedback_records(body: bytes) -> list[Any]:
    """``{"request_id", "label", "row"?}`` or ``{"feedback": [such objects]}``."""
    import orjson

    from shipyard.serve._inference_log import Feedback
    from shipyard.serve._log_tables import MAX_ROW

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
        if row is not None and (
            not isinstance(row, int) or isinstance(row, bool) or not 0 <= row <= MAX_ROW
        ):
            raise InvalidInput(f"{where}: row must be an integer from 0 to {MAX_ROW}.")
        records.append(Feedback(request_id=request_id, label=item["label"], row=row))
    return records
