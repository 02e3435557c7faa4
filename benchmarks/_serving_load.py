"""The serving benchmark's fallback load generator, for machines without wrk.

``python _serving_load.py URL BODY_FILE CONNECTIONS SECONDS`` keeps CONNECTIONS HTTP/1.1
keep-alive connections busy for SECONDS, each sending the same JSON POST and waiting for its
answer (a closed loop, like wrk), and prints one JSON line with the same fields as the wrk
script's: requests, duration, errors by kind and latency percentiles. Every loop is bounded by
the deadline, and the whole run by the deadline plus one request timeout.

Plain asyncio streams rather than an HTTP library: the client should cost as little CPU as
possible, since it shares the machine with the server it measures. It is slower than wrk all
the same, so figures taken with it are lower bounds for the fastest servers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

REQUEST_TIMEOUT_S = 10.0


@dataclass
class Tally:
    latencies_us: list[float] = field(default_factory=list)
    requests: int = 0
    status: int = 0  # answers with a status of 400 or more, as wrk counts them
    non2xx: int = 0
    connect: int = 0
    read: int = 0
    timeout: int = 0


class Closed(Exception):
    """The server closed the connection (or asked to) after this answer."""


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; its status and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, headers.get("connection") != "close"


async def connection(host: str, port: int, request: bytes, deadline: float, tally: Tally) -> None:
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            start = time.perf_counter()
            writer.write(request)
            status, keep = await asyncio.wait_for(read_answer(reader), REQUEST_TIMEOUT_S)
            tally.latencies_us.append((time.perf_counter() - start) * 1e6)
            tally.requests += 1
            tally.status += status >= 400
            tally.non2xx += not 200 <= status < 300
            if not keep:
                writer.close()
                writer = None
        except TimeoutError:
            tally.timeout += 1
            close(writer)
            writer = None
        except OSError:
            tally.connect += 1
            close(writer)
            writer = None
            await asyncio.sleep(0.01)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            tally.read += 1
            close(writer)
            writer = None
    close(writer)


def close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


async def run(url: str, body: bytes, connections: int, seconds: float) -> Tally:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    tally = Tally()
    deadline = time.perf_counter() + seconds
    tasks = [
        asyncio.ensure_future(connection(host, port, request, deadline, tally))
        for _ in range(connections)
    ]
    _, pending = await asyncio.wait(tasks, timeout=seconds + REQUEST_TIMEOUT_S + 1)
    for task in pending:  # stuck past every bound: counted as timed out
        task.cancel()
        tally.timeout += 1
    return tally


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * pct / 100))]


def main(argv: list[str]) -> int:
    url, body_file, connections, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    with open(body_file, "rb") as handle:
        body = handle.read()
    try:
        import uvloop  # the client should not be the bottleneck

        uvloop.install()
    except ImportError:
        pass
    started = time.perf_counter()
    tally = asyncio.run(run(url, body, connections, seconds))
    duration_us = (time.perf_counter() - started) * 1e6
    latencies = sorted(tally.latencies_us)
    answer = {
        "requests": tally.requests,
        "duration_us": duration_us,
        "connect": tally.connect,
        "read": tally.read,
        "write": 0,
        "status": tally.status,
        "non2xx": tally.non2xx,
        "timeout": tally.timeout,
        "p50_us": percentile(latencies, 50),
        "p99_us": percentile(latencies, 99),
        "mean_us": sum(latencies) / len(latencies) if latencies else 0.0,
        "max_us": latencies[-1] if latencies else 0.0,
    }
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
