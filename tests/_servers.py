"""A real uvicorn server on a free port of 127.0.0.1, in a thread of the test process: a real
socket and HTTP stack, quicker to start than a child process. The dashboard's and the model
server's tests both use it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, Self


class InThreadServer:
    """``app`` under uvicorn in a daemon thread; :meth:`start` returns once it listens and, when
    ``ready`` is given, once ``ready()`` is true too."""

    def __init__(
        self,
        app: Any,
        *,
        lifespan: Literal["auto", "on", "off"] = "auto",
        ready: Callable[[], bool] | None = None,
        failure: str = "the test server did not start",
    ) -> None:
        import uvicorn

        self.config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan=lifespan, access_log=False, log_config=None
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._ready = ready
        self._failure = failure

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self, timeout: float = 30.0) -> Self:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not (self.server.started and (self._ready is None or self._ready())):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(self._failure)
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
