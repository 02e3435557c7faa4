"""The HTTP floor of the serving benchmark: a Starlette endpoint that answers a constant.

It reads the request body, as any predict route must, and returns a fixed JSON answer; served
by uvicorn with the settings a fast server uses (uvloop, httptools, no access log), it shows
how many requests per second a Python ASGI server does on this machine before any model work.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ANSWER = b'{"predictions":[1]}'


async def predict(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


async def ready(request: Request) -> Response:
    return Response(b"ready", media_type="text/plain")


app = Starlette(
    routes=[Route("/predict", predict, methods=["POST"]), Route("/ready", ready, methods=["GET"])]
)
