"""The one exception tree of Shipyard.

Every error a user can meet derives from :class:`ShipyardError` and also from the builtin
that matches it, so ``except LookupError`` keeps working for callers who do not know us::

    ShipyardError                      (Exception)
    ├── InvalidInput                   (ValueError)   the caller asked for something malformed
    │   ├── ConfigError                               shipyard.toml or environment is wrong
    │   ├── InvalidArtifactName                       a logical artifact name is unsafe
    │   ├── InvalidFilter                             a search filter or order does not parse
    │   ├── MalformedRequest                          an HTTP body is not the JSON it must be
    │   ├── PayloadTooLarge                           an HTTP body is over the size limit
    │   └── UnsupportedMediaType                      an HTTP body has the wrong content type
    ├── NotFound                       (LookupError)  an experiment, run or artifact is missing
    ├── Unauthorized                   (PermissionError) a bearer token is missing or wrong
    ├── Forbidden                      (PermissionError) a Host or Origin is not allowed
    ├── Unavailable                    (RuntimeError) a server is overloaded, not ready or slow
    ├── Conflict                       (ValueError)   the request contradicts stored state
    ├── StoreError                     (RuntimeError) the database or artifact store failed
    │   └── ArtifactCorrupted                         a blob's bytes no longer match its digest
    └── RunFailed                      (RuntimeError) user code (a pipeline step, every tuning
                                                      trial) failed; the message names it

Errors raised by SQLAlchemy, fsspec or an object store are translated into these where they
enter Shipyard; they never leak to the user. Each class carries a stable ``code`` and every
message says what was wrong and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ArtifactCorrupted",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "InvalidArtifactName",
    "InvalidFilter",
    "InvalidInput",
    "MalformedRequest",
    "NotFound",
    "PayloadTooLarge",
    "RunFailed",
    "ShipyardError",
    "StoreError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "http_status",
]


class ShipyardError(Exception):
    """Root of every error Shipyard raises on purpose."""

    code = "shipyard_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} {hint}" if hint else message)


class InvalidInput(ShipyardError, ValueError):
    """The caller's input is malformed; fixing the input fixes the problem."""

    code = "invalid_input"


class ConfigError(InvalidInput):
    """The workspace configuration (``shipyard.toml`` or environment) is wrong."""

    code = "config_error"


class InvalidArtifactName(InvalidInput):
    """A logical artifact name could escape its run or be read two ways."""

    code = "invalid_artifact_name"


class InvalidFilter(InvalidInput):
    """A search filter or order-by clause does not parse."""

    code = "invalid_filter"


class MalformedRequest(InvalidInput):
    """An HTTP request body is not well-formed: not JSON, or not the structure the route takes."""

    code = "malformed_request"


class PayloadTooLarge(InvalidInput):
    """An HTTP request body is over the server's size limit (chunked bodies included)."""

    code = "payload_too_large"


class UnsupportedMediaType(InvalidInput):
    """An HTTP request body has a content type the route does not take."""

    code = "unsupported_media_type"


class Unauthorized(ShipyardError, PermissionError):
    """A request lacks the bearer token the server requires, or carries a wrong one."""

    code = "unauthorized"


class Forbidden(ShipyardError, PermissionError):
    """A request comes through a Host or from an Origin the server does not accept."""

    code = "forbidden"


class Unavailable(ShipyardError, RuntimeError):
    """A server cannot answer now (overloaded, still loading, timed out); retrying may work.

    ``retry_after`` is the number of seconds a client should wait, when the server knows.
    """

    code = "unavailable"

    def __init__(
        self, message: str, *, hint: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class NotFound(ShipyardError, LookupError):
    """An experiment, run or artifact that was asked for does not exist."""

    code = "not_found"


class Conflict(ShipyardError, ValueError):
    """The request contradicts what is already stored (e.g. changing a logged param)."""

    code = "conflict"


class StoreError(ShipyardError, RuntimeError):
    """The metadata database or the artifact store failed underneath us."""

    code = "store_error"


class ArtifactCorrupted(StoreError):
    """A stored blob no longer hashes to its digest: it is reported, never returned."""

    code = "artifact_corrupted"


class RunFailed(ShipyardError, RuntimeError):
    """User code run by Shipyard failed: a pipeline step, or every trial of a tuning study.

    The message names what failed and its error; the run that records it stays in the store.
    """

    code = "run_failed"


# The HTTP status of each error, most specific first: every HTTP entry point (the model server,
# the dashboard) answers a Shipyard error the same way.
_HTTP_STATUS: list[tuple[type[ShipyardError], int]] = [
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (MalformedRequest, 400),
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthorized, 401),
    (Forbidden, 403),
    (Unavailable, 503),
    (StoreError, 503),  # the store failed: nothing was acknowledged, retrying may work
]


def http_status(exc: ShipyardError) -> int:
    """The HTTP status of a Shipyard error: 4xx for the caller's mistakes, 503 to retry, 500
    for the rest."""
    return next((code for cls, code in _HTTP_STATUS if isinstance(exc, cls)), 500)
