"""Model URIs: ``models:/name/3``, ``models:/name@alias`` (``@latest``), ``runs:/id/path``.

Parsing is pure, so the CLI, the Python API and the server all accept the same spellings and
reject the same mistakes with the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.core.errors import InvalidInput
from shipyard.core.names import check_entity_name

__all__ = [
    "LATEST",
    "ModelUri",
    "RunModelUri",
    "check_alias",
    "check_model_name",
    "parse_model_uri",
]

LATEST = "latest"
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_FORMS = "models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME@latest or runs:/RUN_ID/PATH"


def check_model_name(name: object) -> str:
    return check_entity_name("model", name)


def check_alias(alias: object, *, allow_latest: bool = False) -> str:
    if isinstance(alias, str) and _ALIAS.fullmatch(alias) and (allow_latest or alias != LATEST):
        return alias
    if alias == LATEST:
        raise InvalidInput(
            "'latest' is a reserved alias: it always means the newest ready version.",
            hint="Choose another alias name, e.g. 'champion'.",
        )
    raise InvalidInput(
        f"Invalid alias {alias!r}.",
        hint="Use up to 64 letters, digits, '_' or '-', starting with a letter "
        "(e.g. 'champion', 'challenger').",
    )


@dataclass(frozen=True)
class ModelUri:
    """A registered model version, by number or by alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}@{self.alias}"


@dataclass(frozen=True)
class RunModelUri:
    """A model logged in a run, registered or not."""

    run_id: str
    artifact_path: str

    def __str__(self) -> str:
        return f"runs:/{self.run_id}/{self.artifact_path}"


def parse_model_uri(uri: object) -> ModelUri | RunModelUri:
    if not isinstance(uri, str):
        raise InvalidInput(
            f"A model URI must be a string, got {type(uri).__name__}.", hint=f"Use {_FORMS}."
        )
    if uri.startswith("models:/"):
        rest = uri[len("models:/") :]
        if "@" in rest:
            name, alias = rest.split("@", 1)
            return ModelUri(_uri_name(name, uri), alias=_uri_alias(alias, uri))
        name, sep, version = rest.partition("/")
        if sep and version.isascii() and version.isdigit() and int(version) > 0:
            return ModelUri(_uri_name(name, uri), version=int(version))
    elif uri.startswith("runs:/"):
        run_id, sep, path = uri[len("runs:/") :].partition("/")
        if run_id and sep and path:
            return RunModelUri(run_id, path.rstrip("/"))
    raise InvalidInput(f"Cannot read the model URI {uri!r}.", hint=f"Use {_FORMS}.")


def _uri_name(name: str, uri: str) -> str:
    try:
        return check_model_name(name)
    except InvalidInput as exc:
        raise InvalidInput(
            f"The model URI {uri!r} has an invalid model name.", hint=exc.hint
        ) from None


def _uri_alias(alias: str, uri: str) -> str:
    try:
        return check_alias(alias, allow_latest=True)
    except InvalidInput as exc:
        raise InvalidInput(f"The model URI {uri!r} has an invalid alias.", hint=exc.hint) from None
