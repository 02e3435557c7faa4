"""``/login`` and ``/logout``: a browser signs in with the workspace's API token once, and its
actions then carry a signed cookie instead of the token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from shipyard.ui._security import AUTH_COOKIE, check_csrf, session_of
from shipyard.ui._state import state_of
from shipyard.ui._templates import render

__all__ = ["router"]

router = APIRouter()


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Any:
    return render(request, "login.html", {"next": _local(next), "failed": False})


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Any:
    check_csrf(request, csrf)
    state = state_of(request)
    if not state.token_matches(token):
        return render(request, "login.html", {"next": _local(next), "failed": True}, 401)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        AUTH_COOKIE, state.sign("auth", session_of(request)), httponly=True, samesite="strict"
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()]) -> Any:
    check_csrf(request, csrf)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(AUTH_COOKIE)
    return response


def _local(target: str) -> str:
    """Only a path on this site: a sign-in must never redirect elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
