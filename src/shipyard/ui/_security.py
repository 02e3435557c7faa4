"""Actions from the browser: CSRF tokens for forms and the token sign-in.

Every visitor gets a random ``shipyard_session`` cookie (HttpOnly, SameSite=Strict). A form's
CSRF token is an HMAC of that session under the process's secret, so a page on another site can
neither read nor forge it (double submit, signed). When ``SHIPYARD_API_TOKEN`` is set, actions
also need the token: scripts send ``Authorization: Bearer``; a browser signs in once on
``/login`` and gets an ``shipyard_auth`` cookie signed the same way.
"""

from __future__ import annotations

import hmac
import os

from fastapi import Request

from shipyard.core.errors import Forbidden, Unauthorized
from shipyard.serve._guard import bearer_matches
from shipyard.ui._state import state_of

__all__ = [
    "AUTH_COOKIE",
    "SESSION_COOKIE",
    "check_csrf",
    "csrf_token",
    "new_session",
    "require_action_auth",
    "same_text",
    "signed_in",
]

SESSION_COOKIE = "shipyard_session"
AUTH_COOKIE = "shipyard_auth"


def same_text(given: str, expected: str) -> bool:
    """Constant-time equality of a value from the request with one this server signed.
    ``hmac.compare_digest`` refuses non-ASCII ``str`` (TypeError: a 500), so bytes are compared;
    a malformed value simply does not match."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def new_session() -> str:
    return os.urandom(16).hex()


def session_of(request: Request) -> str:
    """The visitor's session id (the middleware sets the cookie on the first response)."""
    session: str = request.cookies.get(SESSION_COOKIE) or request.state.new_session
    return session


def csrf_token(request: Request) -> str:
    return state_of(request).sign("csrf", session_of(request))


def check_csrf(request: Request, given: str | None) -> None:
    if not given or not same_text(given, csrf_token(request)):
        raise Forbidden(
            "The form's CSRF token is missing or stale.",
            hint="Reload the page and submit the form again.",
        )


def signed_in(request: Request) -> bool:
    state = state_of(request)
    if not state.auth_required:
        return True
    cookie = request.cookies.get(AUTH_COOKIE, "")
    return bool(cookie) and same_text(cookie, state.sign("auth", session_of(request)))


def require_action_auth(request: Request) -> None:
    """Allow an action: no token configured, a matching bearer token, or a signed-in browser."""
    state = state_of(request)
    if not state.auth_required or signed_in(request):
        return
    headers = {k.lower().encode(): v.encode() for k, v in request.headers.items()}
    if bearer_matches(headers, (state.token or "").encode()):
        return
    raise Unauthorized(
        "This action needs the workspace's API token.",
        hint="Sign in on /login with SHIPYARD_API_TOKEN, or send 'Authorization: Bearer <token>'.",
    )
