"""What one dashboard process holds: its access settings and the secret its forms are signed
with. Everything else is read from the workspace on each request."""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

from fastapi import Request

__all__ = ["UiState", "state_of"]


@dataclass(frozen=True)
class UiState:
    """``token``: ``SHIPYARD_API_TOKEN``; when set, actions (promote, roll back, notes) need it.
    ``secret`` signs the CSRF tokens and the sign-in cookie; it lives as long as the process."""

    token: str | None = None
    allowed_hosts: frozenset[str] | None = None  # None: any
    allowed_origins: frozenset[str] = frozenset()
    servers: tuple[str, ...] = ()  # model servers whose live state the deployments pages show
    secret: bytes = field(default_factory=lambda: os.urandom(32))

    @property
    def auth_required(self) -> bool:
        return self.token is not None

    def sign(self, purpose: str, value: str = "") -> str:
        """An HMAC of ``value`` for ``purpose``, so a cookie or form field cannot be forged."""
        return hmac.new(self.secret, f"{purpose}:{value}".encode(), "sha256").hexdigest()

    def token_matches(self, given: str | None) -> bool:
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())


def state_of(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state
