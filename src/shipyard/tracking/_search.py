"""Run search as pure code: filter and order text in, one SQLAlchemy ``Select`` out, no I/O.

The parser (``_filter_parser``) reports mistakes against the user's text; this module turns
the checked tree into SQL that every store backend runs the same way:

* metric/param/tag conditions become ``runs.id IN (SELECT run_id FROM <table> WHERE key = :k
  AND value <op> :v)`` so each one is answered by the (key, value) / (key, run_id) indexes and
  a run never appears twice;
* ``!=`` and ``not in`` on params, tags and metrics mean "has the key, with another value";
  on nullable attributes (``parent_id``, ``end_time``) they also match the missing value;
* ``like`` is case-sensitive everywhere (SQLite's LIKE is not, so there it becomes GLOB) and
  ``ilike`` is case-insensitive everywhere; ``\\`` escapes ``%`` and ``_`` in both;
* ordering by a metric, param or tag puts runs without that key last in both directions,
  and ``runs.id`` always breaks ties so pages never overlap or skip rows;
* every value reaches the database as a bound parameter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import operator
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from shipyard.core.errors import InvalidFilter, InvalidInput
from shipyard.store._schema import latest_metrics, params, runs, tags
from shipyard.tracking._filter_parser import (
    And,
    Comparison,
    EntityKind,
    Expr,
    Or,
    OrderKey,
    Value,
    parse_filter,
    parse_order_by,
)

__all__ = [
    "MAX_RESULTS",
    "build_search_query",
    "decode_page_token",
    "encode_page_token",
    "validate_limit",
]

MAX_RESULTS = 50_000
"""Largest page a search may ask for; bigger result sets are read page by page."""

_MAX_OFFSET = 2**31 - 1  # OFFSET binds as a 32-bit INTEGER on PostgreSQL
_KEYED_TABLES: dict[EntityKind, sa.Table] = {
    "metric": latest_metrics,
    "param": params,
    "tag": tags,
}
_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_PAGE_TOKEN_HINT = (
    "Pass the next_page_token from the previous page unchanged, or leave page_token out to "
    "start from the first page."
)


def build_search_query(
    experiment_ids: Sequence[int],
    filter: str | None,
    order_by: Sequence[str] | None,
    limit: int,
    offset: int,
) -> sa.Select[Any]:
    """Return the ``SELECT`` of all ``runs`` columns for one page of a search.

    Raises :class:`InvalidFilter` for a filter or order that does not parse and
    :class:`InvalidInput` for a limit or offset out of range, before touching any database.
    """
    limit = validate_limit(limit)
    offset = _validate_offset(offset)
    expr = parse_filter(filter)
    source, ordering = _ordering(parse_order_by(order_by))
    query = (
        sa.select(runs)
        .select_from(source)
        .where(runs.c.experiment_id.in_(list(experiment_ids)))
        .order_by(*ordering)
        .limit(limit)
        .offset(offset)
    )
    return query if expr is None else query.where(_condition(expr))


def validate_limit(limit: int) -> int:
    """Return ``limit`` if it is an int from 1 to :data:`MAX_RESULTS`, else raise InvalidInput."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(
            f"limit must be an integer from 1 to {MAX_RESULTS}, got {limit!r}.",
            hint="Read bigger result sets page by page with page_token.",
        )
    return limit


def encode_page_token(offset: int) -> str:
    """Return an opaque, url-safe token that :func:`decode_page_token` turns back into offset."""
    offset = _validate_offset(offset)
    payload = {"v": 1, "offset": offset, "check": _token_check(offset)}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(token: str | None) -> int:
    """Return the offset a page token stands for; ``None`` or ``""`` is the first page (0).

    The token carries a checksum, so a truncated, edited or made-up token is refused with
    :class:`InvalidFilter` instead of silently returning the wrong page.
    """
    if token is None or token == "":
        return 0
    offset = _read_token(token) if isinstance(token, str) else None
    if offset is None:
        shown = token if not isinstance(token, str) or len(token) <= 40 else token[:37] + "..."
        raise InvalidFilter(
            f"Invalid page_token {shown!r}: it is not a token this search returned, or it was "
            "altered.",
            hint=_PAGE_TOKEN_HINT,
        )
    return offset


def _read_token(token: str) -> int | None:
    """Decode and verify a token; ``None`` for anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict) or set(payload) != {"v", "offset", "check"}:
        return None
    offset = payload["offset"]
    valid = (
        payload["v"] == 1
        and type(offset) is int
        and 0 <= offset <= _MAX_OFFSET
        and payload["check"] == _token_check(offset)
    )
    return offset if valid else None


def _token_check(offset: int) -> str:
    """A short digest that makes hand-edited tokens fail loudly (integrity, not secrecy)."""
    return hashlib.sha256(f"shipyard-page-token:{offset}".encode()).hexdigest()[:12]


def _validate_offset(offset: int) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= _MAX_OFFSET:
        raise InvalidInput(
            f"offset must be a non-negative integer, got {offset!r}.", hint=_PAGE_TOKEN_HINT
        )
    return offset


def _condition(expr: Expr) -> ColumnElement[bool]:
    """Compile a parsed filter into one boolean SQL expression over ``runs``."""
    if isinstance(expr, And):
        return sa.and_(*(_condition(operand) for operand in expr.operands))
    if isinstance(expr, Or):
        return sa.or_(*(_condition(operand) for operand in expr.operands))
    if expr.kind == "attribute":
        return _attribute_condition(expr)
    table = _KEYED_TABLES[expr.kind]
    matching = sa.select(table.c.run_id).where(
        table.c.key == expr.key, _compare(table.c.value, expr.op, expr.value)
    )
    return runs.c.id.in_(matching)


def _attribute_condition(expr: Comparison) -> ColumnElement[bool]:
    """Compare a ``runs`` column; "not equal" on a nullable column also matches NULL."""
    column = runs.c[expr.key]
    condition = _compare(column, expr.op, expr.value)
    if column.nullable and expr.op in ("!=", "not in"):
        return sa.or_(column.is_(None), condition)
    return condition


def _compare(column: sa.ColumnElement[Any], op: str, value: Value) -> ColumnElement[bool]:
    """``column <op> value`` with ``value`` bound as a parameter."""
    if op == "in":
        return column.in_(list(value) if isinstance(value, tuple) else [value])
    if op == "not in":
        return column.not_in(list(value) if isinstance(value, tuple) else [value])
    if op == "like":
        return _CaseSensitiveLike(column, _like_pattern(str(value)))
    if op == "ilike":
        return column.ilike(_like_pattern(str(value)), escape="\\")
    return _COMPARE[op](column, value)


def _like_pattern(pattern: str) -> str:
    """Make a trailing lone backslash literal: PostgreSQL rejects a pattern ending in ESCAPE."""
    stripped = pattern.rstrip("\\")
    if (len(pattern) - len(stripped)) % 2:
        return pattern + "\\"
    return pattern


def _like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (``\\`` escape) to SQLite GLOB, which is case-sensitive."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            literal = next(chars, "\\")
        elif ch in "%_":
            out.append("*" if ch == "%" else "?")
            continue
        else:
            literal = ch
        out.append(f"[{literal}]" if literal in "*?[" else literal)
    return "".join(out)


class _CaseSensitiveLike(ColumnElement[bool]):
    """``column LIKE pattern ESCAPE '\\'``, compiled as GLOB on SQLite.

    SQLite's LIKE ignores ASCII case, PostgreSQL's does not; users expect ``like`` to mean
    the same on both, so SQLite gets the equivalent case-sensitive GLOB. Both forms carry
    their own bound parameter and take part in the cache key, so cached SQL stays correct.
    """

    inherit_cache = True
    type = sa.Boolean()
    _is_implicitly_boolean = True  # a predicate: no "= 1" around it on SQLite
    # SQLAlchemy declares this as an instance attribute, hence no ClassVar
    _traverse_internals: list[tuple[str, InternalTraversal]] = [  # noqa: RUF012
        ("like_clause", InternalTraversal.dp_clauseelement),
        ("glob_clause", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: sa.ColumnElement[Any], pattern: str) -> None:
        self.like_clause = column.like(pattern, escape="\\")
        self.glob_clause = column.op("GLOB", is_comparison=True)(
            sa.bindparam(None, _like_to_glob(pattern), type_=sa.String())
        )


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.like_clause, **kw))


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_like_sqlite(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.glob_clause, **kw))


def _ordering(
    keys: Sequence[OrderKey],
) -> tuple[sa.FromClause, list[ColumnElement[Any]]]:
    """Return the FROM (runs plus one outer join per keyed order) and the ORDER BY terms."""
    if not keys:
        return runs, [runs.c.start_ms.desc(), runs.c.id.desc()]
    source: sa.FromClause = runs
    terms: list[ColumnElement[Any]] = []
    for n, key in enumerate(keys):
        if key.kind == "attribute":
            column: sa.ColumnElement[Any] = runs.c[key.key]
            missing_last = bool(runs.c[key.key].nullable)
        else:
            joined = _KEYED_TABLES[key.kind].alias(f"order_{n}")
            on = sa.and_(joined.c.run_id == runs.c.id, joined.c.key == key.key)
            source = sa.outerjoin(source, joined, on)
            column, missing_last = joined.c.value, True
        if missing_last:
            terms.append(sa.case((column.is_(None), 1), else_=0))
        terms.append(column.desc() if key.descending else column.asc())
    if not any(key.kind == "attribute" and key.key == "id" for key in keys):
        terms.append(runs.c.id.desc())
    return source, terms
