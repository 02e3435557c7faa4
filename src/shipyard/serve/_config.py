"""What a server runs: its own settings and its deployments, from the command line or a TOML file.

A deployment file looks like::

    [server]
    host = "127.0.0.1"
    port = 8000

    [[deployments]]
    name = "churn"
    model = "models:/churn@champion"
    traffic = { champion = 90, challenger = 10 }   # aliases (or models:/ URIs) of the model
    shadow = "candidate"
    max_batch_size = 64

Everything is checked before the server starts, so a typo is an error message, not a server
that comes up and answers 500.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shipyard.core.errors import ConfigError

__all__ = [
    "DeploymentSpec",
    "ServeConfig",
    "ServerSettings",
    "load_deployment_file",
]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")


class DeploymentSpec(BaseModel):
    """One model behind one route: which versions get traffic, and how requests are batched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Route name: /v2/models/{name}, /v1/models/{name}:predict.")
    model: str = Field(description="models:/NAME@ALIAS, models:/NAME/VERSION or NAME.")
    traffic: dict[str, int] | None = Field(
        default=None, description="Weights by alias (or models:/ URI), e.g. champion=90."
    )
    shadow: str | None = Field(default=None, description="Alias or URI that gets a copy.")
    sticky_header: str | None = Field(
        default=None, description="Request header whose value keeps a caller on one variant."
    )
    backend: Literal["auto", "native", "onnx"] = "auto"
    max_batch_size: int = Field(default=64, ge=1, le=100_000)
    max_wait_ms: float = Field(default=2.0, ge=0, le=10_000)
    max_queue: int = Field(default=1024, ge=1, le=1_000_000, description="Requests waiting.")
    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    strict: bool = Field(default=False, description="Refuse unknown input fields with 422.")
    log_sample_rate: float = Field(default=1.0, ge=0, le=1)
    poll_seconds: float = Field(default=5.0, gt=0, le=86_400)

    @field_validator("name")
    @classmethod
    def _route_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid deployment name: use letters, digits, '.', '_' "
                "and '-', starting with a letter or digit"
            )
        return value

    @field_validator("sticky_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER.fullmatch(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value.lower() if value else value

    @field_validator("traffic")
    @classmethod
    def _weights(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("traffic needs at least one alias with a weight")
        if any(weight < 0 for weight in value.values()) or sum(value.values()) <= 0:
            raise ValueError("traffic weights must be >= 0 and add up to more than 0")
        return value


class ServerSettings(BaseModel):
    """The server process: where it listens, what it accepts, and how it shuts down."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    allowed_hosts: list[str] | None = Field(
        default=None, description="Host header values accepted; default: local names + host."
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed to call the server."
    )
    access_log: bool = True
    inference_log: bool = True
    drain_seconds: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value or any(c in value for c in "/ "):
            raise ValueError(f"{value!r} is not a host name or address")
        return value

    def accepted_hosts(self) -> frozenset[str]:
        """Host header names (without port) that the server answers; '*' accepts any."""
        if self.allowed_hosts is not None:
            return frozenset(h.lower() for h in self.allowed_hosts)
        hosts = set(LOCAL_HOSTS)
        if not _is_wildcard(self.host):
            hosts.add(self.host.lower())
        return frozenset(hosts)


class ServeConfig(BaseModel):
    """A whole server: its settings and one or more deployments with distinct names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: ServerSettings = ServerSettings()
    deployments: list[DeploymentSpec]

    @model_validator(mode="after")
    def _distinct(self) -> ServeConfig:
        if not self.deployments:
            raise ValueError("there are no deployments: add a [[deployments]] table")
        names = [d.name for d in self.deployments]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"deployment names must be unique; repeated: {repeated}")
        return self

    @classmethod
    def parse(cls, data: dict[str, Any], *, source: str) -> ServeConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(
                f"{source} is not a valid serving configuration: {problems}.",
                hint="See `shipyard serve --help` and the README's serving section.",
            ) from None

    def to_env(self) -> str:
        """JSON for the environment, so that worker processes rebuild the same config."""
        return self.model_dump_json()


def load_deployment_file(path: str | os.PathLike[str]) -> ServeConfig:
    """Read a deployment TOML file ([server] and [[deployments]] tables)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the deployment file {file}: {exc.strerror or exc}.",
            hint="Pass the path of an existing TOML file with -f.",
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}.", hint="Fix the syntax.") from None
    return ServeConfig.parse(data, source=str(file))


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False
