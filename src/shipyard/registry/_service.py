"""The model registry: numbered versions of named models, aliases, and an audit event per change.

Version numbers come from a counter on the model's row, bumped by one UPDATE inside the write
transaction: concurrent registrations serialise on that row lock (SQLite's write lock, or
PostgreSQL's row lock) and always get distinct, consecutive numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.core.errors import Conflict, InvalidInput, NotFound
from shipyard.core.ids import new_id
from shipyard.core.user import current_user
from shipyard.models._ref import MODEL_META_FILE, ModelRef
from shipyard.registry._lineage import version_datasets, version_metrics
from shipyard.registry._records import (
    AuditEvent,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
)
from shipyard.registry._uris import (
    LATEST,
    ModelUri,
    RunModelUri,
    check_alias,
    check_model_name,
    parse_model_uri,
)
from shipyard.store._schema import (
    model_aliases,
    model_events,
    model_version_tags,
    model_versions,
    registered_models,
)
from shipyard.tracking import TrackingService
from shipyard.tracking._sql import insert_for, now_ms
from shipyard.tracking._validation import check_text_values

__all__ = ["RegistryService"]

_MAX_DESCRIPTION = 10_000
# What only the registry itself records; record_event refuses these names.
_EVENT_ACTION = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CHANGE_ACTIONS = frozenset(
    {"register", "create_model", "set_alias", "delete_alias", "update", "set_tags"}
)


class RegistryService:
    """Registered models of one workspace; the files stay where the run logged them."""

    def __init__(self, tracking: TrackingService) -> None:
        self.tracking = tracking

    @property
    def _db(self) -> Any:
        return self.tracking.store.db

    # -- registering -----------------------------------------------------------------------
    def register(
        self,
        source: ModelRef | str,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Register a logged model (a ``ModelRef``, ``runs:/…`` or ``models:/…``) as version N+1."""
        name = check_model_name(name)
        description = _check_text("description", description)
        reason = _check_text("reason", reason)
        tag_values = check_text_values("tag", tags or {})
        run_id, path = self._source(source)
        flavor = self._logged_flavor(run_id, path)
        user = current_user()

        def work(conn: Connection) -> int:
            now = now_ms()
            model_id = _ensure_model(conn, name, now)
            conn.execute(
                sa.update(registered_models)
                .where(registered_models.c.id == model_id)
                .values(latest_version=registered_models.c.latest_version + 1, updated_ms=now)
            )
            version = int(
                conn.execute(
                    sa.select(registered_models.c.latest_version).where(
                        registered_models.c.id == model_id
                    )
                ).scalar_one()
            )
            version_id = new_id()
            conn.execute(
                model_versions.insert().values(
                    id=version_id,
                    model_id=model_id,
                    version=version,
                    run_id=run_id,
                    artifact_path=path,
                    flavor=flavor,
                    status=ModelVersionStatus.READY,
                    description=description,
                    created_by=user,
                    created_ms=now,
                    updated_ms=now,
                )
            )
            if tag_values:
                conn.execute(
                    model_version_tags.insert(),
                    [
                        {"version_id": version_id, "key": k, "value": v}
                        for k, v in tag_values.items()
                    ],
                )
            source_uri = f"runs:/{run_id}/{path}"
            _audit(conn, model_id, version, "register", {"source": source_uri}, reason, user)
            return version

        return self.get_version(name, self._db.write(work))

    def _source(self, source: ModelRef | str) -> tuple[str, str]:
        if isinstance(source, ModelRef):
            return self.tracking.resolve_run_id(source.run_id), source.artifact_path
        uri = parse_model_uri(source)
        if isinstance(uri, RunModelUri):
            return self.tracking.resolve_run_id(uri.run_id), uri.artifact_path
        found = self.resolve(uri)
        return found.run_id, found.artifact_path

    def _logged_flavor(self, run_id: str, path: str) -> str:
        try:
            meta = json.loads(self.tracking.get_artifact(run_id, f"{path}/{MODEL_META_FILE}"))
        except NotFound:
            raise NotFound(
                f"Run {run_id} has no model logged at {path!r}.",
                hint=f"Log one with run.log_model(model, {path!r}, input_example=...), "
                f"or list the run's files with: shipyard artifacts list {run_id}.",
            ) from None
        return str(meta["flavor"])

    # -- aliases, descriptions, status, tags -----------------------------------------------
    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str | None = None,
        evidence: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Point ``alias`` at ``version``, creating or moving it.

        ``evidence`` (JSON values, e.g. the gate report a promotion rests on) is kept in the
        audit event with the move.
        """
        name, alias = check_model_name(name), check_alias(alias)
        version, reason, user = (
            _check_version(version),
            _check_text("reason", reason),
            current_user(),
        )

        def work(conn: Connection) -> None:
            model_id = _require_model(conn, name)
            version_id, status = _require_version(conn, model_id, name, version)
            if status == ModelVersionStatus.ARCHIVED:
                raise Conflict(
                    f"Version {version} of {name!r} is archived; an alias cannot point at it.",
                    hint=f"Restore it first: shipyard models update {name} {version} "
                    "--status ready.",
                )
            previous = _alias_version(conn, model_id, alias)
            conn.execute(
                sa.delete(model_aliases).where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                )
            )
            conn.execute(
                model_aliases.insert().values(
                    model_id=model_id, alias=alias, version_id=version_id, updated_ms=now_ms()
                )
            )
            detail = {"alias": alias, "previous_version": previous, **dict(evidence or {})}
            _audit(conn, model_id, version, "set_alias", detail, reason, user)

        self._db.write(work)
        return self.get_version(name, version)

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        name, alias = check_model_name(name), check_alias(alias)
        reason, user = _check_text("reason", reason), current_user()

        def work(conn: Connection) -> None:
            model_id = _require_model(conn, name)
            previous = _alias_version(conn, model_id, alias)
            if previous is None:
                raise NotFound(
                    f"Model {name!r} has no alias {alias!r}.",
                    hint=f"See its aliases with: shipyard models show {name}.",
                )
            conn.execute(
                sa.delete(model_aliases).where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                )
            )
            _audit(conn, model_id, previous, "delete_alias", {"alias": alias}, reason, user)

        self._db.write(work)

    def update_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        status: str | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Change a version's description and/or status (``ready`` or ``archived``)."""
        name, version = check_model_name(name), _check_version(version)
        description = _check_text("description", description)
        reason, user = _check_text("reason", reason), current_user()
        if status is not None and status not in ModelVersionStatus.ALL:
            raise InvalidInput(
                f"Unknown model version status {status!r}.",
                hint=f"Use one of: {', '.join(ModelVersionStatus.ALL)}.",
            )
        changes = {
            k: v for k, v in (("description", description), ("status", status)) if v is not None
        }
        if not changes:
            raise InvalidInput(
                "Nothing to update.", hint="Pass a new description or status (ready, archived)."
            )

        def work(conn: Connection) -> None:
            model_id = _require_model(conn, name)
            version_id, _ = _require_version(conn, model_id, name, version)
            if status == ModelVersionStatus.ARCHIVED:
                held = _aliases_of(conn, version_id)
                if held:
                    raise Conflict(
                        f"Version {version} of {name!r} holds the aliases {', '.join(held)}.",
                        hint="Move or delete those aliases before archiving it.",
                    )
            conn.execute(
                sa.update(model_versions)
                .where(model_versions.c.id == version_id)
                .values(**changes, updated_ms=now_ms())
            )
            _audit(conn, model_id, version, "update", changes, reason, user)

        self._db.write(work)
        return self.get_version(name, version)

    def set_version_tags(
        self, name: str, version: int, tags: Mapping[str, Any], *, reason: str | None = None
    ) -> ModelVersion:
        name, version = check_model_name(name), _check_version(version)
        values = check_text_values("tag", tags)
        reason, user = _check_text("reason", reason), current_user()

        def work(conn: Connection) -> None:
            model_id = _require_model(conn, name)
            version_id, _ = _require_version(conn, model_id, name, version)
            conn.execute(
                sa.delete(model_version_tags).where(
                    model_version_tags.c.version_id == version_id,
                    model_version_tags.c.key.in_(list(values)),
                )
            )
            conn.execute(
                model_version_tags.insert(),
                [{"version_id": version_id, "key": k, "value": v} for k, v in values.items()],
            )
            _audit(conn, model_id, version, "set_tags", {"tags": values}, reason, user)

        if values:
            self._db.write(work)
        return self.get_version(name, version)

    def record_event(
        self,
        name: str,
        version: int | None,
        action: str,
        detail: Mapping[str, Any],
        *,
        reason: str | None = None,
    ) -> None:
        """Add an event that changes nothing to the model's audit trail — a monitoring alert, a
        retraining — so its history tells the whole story. ``detail`` must be JSON values."""
        name, reason, user = check_model_name(name), _check_text("reason", reason), current_user()
        if version is not None:
            version = _check_version(version)
        if not (isinstance(action, str) and _EVENT_ACTION.fullmatch(action)):
            raise InvalidInput(
                f"An event action is 1-32 lower-case letters, digits or '_', got {action!r}.",
                hint="Name the event after what happened, e.g. 'monitor_alert'.",
            )
        if action in _CHANGE_ACTIONS:
            raise InvalidInput(
                f"{action!r} is an action the registry records itself.",
                hint="Name the event after what happened, e.g. 'monitor_alert'.",
            )

        def work(conn: Connection) -> None:
            model_id = _require_model(conn, name)
            if version is not None:
                _require_version(conn, model_id, name, version)
            _audit(conn, model_id, version, action, dict(detail), reason, user)

        self._db.write(work)

    # -- reading ---------------------------------------------------------------------------
    def list_models(self) -> list[RegisteredModel]:
        def work(conn: Connection) -> list[RegisteredModel]:
            aliases: dict[int, dict[str, int]] = {}
            rows = conn.execute(
                sa.select(model_aliases.c.model_id, model_aliases.c.alias, model_versions.c.version)
                .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
                .order_by(model_aliases.c.alias)
            )
            for model_id, alias, version in rows:
                aliases.setdefault(model_id, {})[alias] = version
            models = conn.execute(
                sa.select(registered_models).order_by(registered_models.c.name)
            ).all()
            return [
                RegisteredModel(
                    m.name,
                    m.description,
                    m.latest_version,
                    m.created_ms,
                    m.updated_ms,
                    aliases.get(m.id, {}),
                )
                for m in models
            ]

        return list(self._db.read(work))

    def get_model(self, name: str) -> RegisteredModel:
        name = check_model_name(name)
        for model in self.list_models():
            if model.name == name:
                return model
        raise _no_model(name)

    def list_versions(self, name: str) -> list[ModelVersion]:
        name = check_model_name(name)

        def work(conn: Connection) -> list[int]:
            model_id = _require_model(conn, name)
            return list(
                conn.execute(
                    sa.select(model_versions.c.version)
                    .where(model_versions.c.model_id == model_id)
                    .order_by(model_versions.c.version)
                ).scalars()
            )

        return [self.get_version(name, v) for v in self._db.read(work)]

    def get_version(self, name: str, version: int) -> ModelVersion:
        name, version = check_model_name(name), _check_version(version)

        def work(conn: Connection) -> ModelVersion:
            model_id = _require_model(conn, name)
            version_id, _ = _require_version(conn, model_id, name, version)
            row = conn.execute(
                sa.select(model_versions).where(model_versions.c.id == version_id)
            ).one()
            return _version_of(conn, name, row)

        return self._db.read(work)  # type: ignore[no-any-return]

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The registered versions made from a model ``run_id`` logged (a prefix is enough), by
        model name and version: one lookup on the versions' run, not a walk of every model."""
        run_id = self.tracking.resolve_run_id(run_id)

        def work(conn: Connection) -> list[ModelVersion]:
            rows = conn.execute(
                sa.select(model_versions, registered_models.c.name.label("model_name"))
                .join(registered_models, registered_models.c.id == model_versions.c.model_id)
                .where(model_versions.c.run_id == run_id)
                .order_by(registered_models.c.name, model_versions.c.version)
            ).all()
            return [_version_of(conn, row.model_name, row) for row in rows]

        return list(self._db.read(work))

    def resolve(self, uri: str | ModelUri) -> ModelVersion:
        """The version a ``models:/`` URI names right now (aliases move; numbers do not)."""
        parsed = parse_model_uri(uri) if isinstance(uri, str) else uri
        if isinstance(parsed, RunModelUri):
            raise InvalidInput(
                f"{uri} names a run's model, not a registered version.",
                hint="Register it first with sy.register_model(uri, 'name').",
            )
        if parsed.version is not None:
            return self.get_version(parsed.name, parsed.version)
        alias = parsed.alias

        def work(conn: Connection) -> int:
            model_id = _require_model(conn, parsed.name)
            if alias == LATEST:
                found = conn.execute(
                    sa.select(sa.func.max(model_versions.c.version)).where(
                        model_versions.c.model_id == model_id,
                        model_versions.c.status == ModelVersionStatus.READY,
                    )
                ).scalar()
                if found is None:
                    raise NotFound(
                        f"Model {parsed.name!r} has no ready version for @latest.",
                        hint="Register one, or restore an archived version.",
                    )
                return int(found)
            version = _alias_version(conn, model_id, str(alias))
            if version is None:
                known = conn.execute(
                    sa.select(model_aliases.c.alias).where(model_aliases.c.model_id == model_id)
                ).scalars()
                raise NotFound(
                    f"Model {parsed.name!r} has no alias {alias!r}.",
                    hint=f"Its aliases: {', '.join(sorted(known)) or 'none yet'}; set one with: "
                    f"shipyard models alias set {parsed.name} {alias} VERSION.",
                )
            return version

        return self.get_version(parsed.name, self._db.read(work))

    def history(self, name: str) -> list[AuditEvent]:
        name = check_model_name(name)

        def work(conn: Connection) -> list[AuditEvent]:
            model_id = _require_model(conn, name)
            rows = conn.execute(
                sa.select(model_events)
                .where(model_events.c.model_id == model_id)
                .order_by(model_events.c.id)
            )
            return [
                AuditEvent(name, r.version, r.action, r.detail, r.reason, r.user, r.at_ms)
                for r in rows
            ]

        return list(self._db.read(work))


# -- helpers inside a transaction ------------------------------------------------------------
def _version_of(conn: Connection, name: str, row: Any) -> ModelVersion:
    """A ``model_versions`` row of model ``name`` with its tags, aliases and lineage."""
    tags = dict(
        conn.execute(
            sa.select(model_version_tags.c.key, model_version_tags.c.value)
            .where(model_version_tags.c.version_id == row.id)
            .order_by(model_version_tags.c.key)
        ).all()
    )
    return ModelVersion(
        name=name,
        version=row.version,
        run_id=row.run_id,
        artifact_path=row.artifact_path,
        flavor=row.flavor,
        status=row.status,
        description=row.description,
        created_by=row.created_by,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        tags=tags,
        aliases=tuple(_aliases_of(conn, row.id)),
        metrics=version_metrics(conn, row.run_id),
        datasets=tuple(version_datasets(conn, row.run_id)),
    )


def _ensure_model(conn: Connection, name: str, now: int) -> int:
    stmt = (
        insert_for(conn, registered_models)
        .values(name=name, created_ms=now, updated_ms=now)
        .on_conflict_do_nothing(index_elements=[registered_models.c.name])
        .returning(registered_models.c.id)
    )
    created = conn.execute(stmt).scalar()  # None when the model already existed
    if created is None:
        return _require_model(conn, name)
    _audit(conn, int(created), None, "create_model", {}, None, current_user())
    return int(created)


def _require_model(conn: Connection, name: str) -> int:
    found = conn.execute(
        sa.select(registered_models.c.id).where(registered_models.c.name == name)
    ).scalar()
    if found is None:
        raise _no_model(name)
    return int(found)


def _no_model(name: str) -> NotFound:
    return NotFound(
        f"No registered model named {name!r}.",
        hint="List them with: shipyard models list; register one with sy.register_model().",
    )


def _require_version(conn: Connection, model_id: int, name: str, version: int) -> tuple[str, str]:
    row = conn.execute(
        sa.select(model_versions.c.id, model_versions.c.status).where(
            model_versions.c.model_id == model_id, model_versions.c.version == version
        )
    ).first()
    if row is None:
        raise NotFound(
            f"Model {name!r} has no version {version}.",
            hint=f"List its versions with: shipyard models versions {name}.",
        )
    return str(row.id), str(row.status)


def _alias_version(conn: Connection, model_id: int, alias: str) -> int | None:
    found = conn.execute(
        sa.select(model_versions.c.version)
        .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
        .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
    ).scalar()
    return None if found is None else int(found)


def _aliases_of(conn: Connection, version_id: str) -> list[str]:
    return list(
        conn.execute(
            sa.select(model_aliases.c.alias)
            .where(model_aliases.c.version_id == version_id)
            .order_by(model_aliases.c.alias)
        ).scalars()
    )


def _audit(
    conn: Connection,
    model_id: int,
    version: int | None,
    action: str,
    detail: dict[str, Any],
    reason: str | None,
    user: str | None,
) -> None:
    conn.execute(
        model_events.insert().values(
            model_id=model_id,
            version=version,
            action=action,
            detail=detail,
            reason=reason,
            user=user,
            at_ms=now_ms(),
        )
    )


def _check_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        text = str(version)
        if isinstance(version, str) and text.isascii() and text.isdigit() and int(text) > 0:
            return int(text)
        raise InvalidInput(
            f"A model version is a positive integer, got {version!r}.",
            hint="Versions are numbered 1, 2, 3 …; list them with: shipyard models versions NAME.",
        )
    return version


def _check_text(what: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_DESCRIPTION:
        raise InvalidInput(
            f"The {what} must be text of at most {_MAX_DESCRIPTION} characters.",
            hint=f"Pass a short string as {what}.",
        )
    return value
