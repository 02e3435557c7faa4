"""Run search: the filter/order parser, page tokens, and the SQL it builds on SQLite and PostgreSQL.

The SQL tests seed one experiment of 20 runs whose params, tags and latest metrics follow
simple formulas (see ``_make_runs``); expected results come from the same formulas evaluated
in Python, plus a few hand-written exact orders, so every filter is checked against an oracle.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from shipyard.core.errors import InvalidFilter, InvalidInput
from shipyard.store import _schema as schema
from shipyard.tracking._filter_parser import (
    And,
    Comparison,
    Expr,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from shipyard.tracking._search import (
    MAX_RESULTS,
    build_search_query,
    decode_page_token,
    encode_page_token,
    validate_limit,
)

INJECTION = "x' or 1=1 --"


def metric(key: str, op: str, value: float) -> Comparison:
    return Comparison("metric", key, op, value)  # type: ignore[arg-type]


def param(key: str, op: str, value: str | tuple[str, ...]) -> Comparison:
    return Comparison("param", key, op, value)  # type: ignore[arg-type]


def tag(key: str, op: str, value: str | tuple[str, ...]) -> Comparison:
    return Comparison("tag", key, op, value)  # type: ignore[arg-type]


def attr(key: str, op: str, value: str | int | tuple[str, ...]) -> Comparison:
    return Comparison("attribute", key, op, value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parser: good input

GOOD_FILTERS: list[tuple[str, Expr]] = [
    ("metrics.auc > 0.9", metric("auc", ">", 0.9)),
    ("metrics.auc>0.9", metric("auc", ">", 0.9)),
    ("METRICS.auc >= 1", metric("auc", ">=", 1.0)),
    ("metrics.auc == -1", metric("auc", "=", -1.0)),
    ("metrics.auc <> 0", metric("auc", "!=", 0.0)),
    ("metrics.loss <= 1e-3", metric("loss", "<=", 0.001)),
    ("metrics.loss < .5", metric("loss", "<", 0.5)),
    ("metrics.x > 2.", metric("x", ">", 2.0)),
    ("metrics.x > +3E2", metric("x", ">", 300.0)),
    ("metrics.`val loss` < 2", metric("val loss", "<", 2.0)),
    ("metrics.`a``b` = 1", metric("a`b", "=", 1.0)),
    ("metrics.train.acc > 0.5", metric("train.acc", ">", 0.5)),
    ("metrics.`train.acc` > 0.5", metric("train.acc", ">", 0.5)),
    ("metrics.train/loss < 1", metric("train/loss", "<", 1.0)),
    ("metric.auc > 1", metric("auc", ">", 1.0)),
    ("params.model = 'lgbm'", param("model", "=", "lgbm")),
    ('params.model = "lgbm"', param("model", "=", "lgbm")),
    ("param.model != ''", param("model", "!=", "")),
    ("params.model = 'it''s'", param("model", "=", "it's")),
    (r"params.model = 'it\'s'", param("model", "=", "it's")),
    (r'params.m = "say \"hi\""', param("m", "=", 'say "hi"')),
    (r"params.p = 'C:\\dir'", param("p", "=", "C:\\dir")),
    (r"params.m like 'a\_b%'", param("m", "like", r"a\_b%")),
    (f'params.m = "{INJECTION}"', param("m", "=", INJECTION)),
    ("params.lr in ('0.1', '0.01')", param("lr", "in", ("0.1", "0.01"))),
    ("params.lr NOT IN ('0.1')", param("lr", "not in", ("0.1",))),
    ("params.model LIKE 'lg%'", param("model", "like", "lg%")),
    ('tags.team != "a"', tag("team", "!=", "a")),
    ("tag.`team name` in ('a','b')", tag("team name", "in", ("a", "b"))),
    ("name ILike '%fold%'", attr("name", "ilike", "%fold%")),
    ("attributes.status = 'FINISHED'", attr("status", "=", "FINISHED")),
    ("Status = 'FINISHED'", attr("status", "=", "FINISHED")),
    ("run_id = 'abc'", attr("id", "=", "abc")),
    ("attributes.id not in ('abc')", attr("id", "not in", ("abc",))),
    ("parent_id = 'p'", attr("parent_id", "=", "p")),
    ("start_time >= 1700000000000", attr("start_ms", ">=", 1700000000000)),
    ("attributes.end_time < 1e3", attr("end_ms", "<", 1000)),
    (
        "metrics.a > 1 and metrics.b < 2 AND metrics.c = 3",
        And((metric("a", ">", 1.0), metric("b", "<", 2.0), metric("c", "=", 3.0))),
    ),
    (
        "metrics.a > 1 or metrics.b < 2 and metrics.c = 3",
        Or((metric("a", ">", 1.0), And((metric("b", "<", 2.0), metric("c", "=", 3.0))))),
    ),
    (
        "(metrics.a > 1 OR metrics.b < 2) and metrics.c = 3",
        And((Or((metric("a", ">", 1.0), metric("b", "<", 2.0))), metric("c", "=", 3.0))),
    ),
    ("((metrics.a > 1))", metric("a", ">", 1.0)),
    (
        "tags.team != \"a\" or (metrics.loss <= 1e-3 and attributes.status = 'FINISHED')",
        Or(
            (
                tag("team", "!=", "a"),
                And((metric("loss", "<=", 0.001), attr("status", "=", "FINISHED"))),
            )
        ),
    ),
    (
        "metrics.auc > 0.9 and params.model = 'lgbm'\n  and name ilike '%fold%'",
        And(
            (metric("auc", ">", 0.9), param("model", "=", "lgbm"), attr("name", "ilike", "%fold%"))
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), GOOD_FILTERS, ids=[f for f, _ in GOOD_FILTERS])
def test_parse_good_filter(text: str, expected: Expr) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_blank_filter_means_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


# ---------------------------------------------------------------------------- parser: bad input

BAD_FILTERS: list[tuple[str, int, str]] = [
    ("metrics.auc xyz", 13, "expected an operator after 'metrics.auc', got 'xyz'"),
    ("metrics.auc > 0.9 and", 22, "expected a condition such as metrics.auc > 0.9, got end"),
    ("metricz.auc > 1", 1, "unknown entity 'metricz' (did you mean 'metrics'?)"),
    ("attributes.colour = 'red'", 1, "unknown attribute 'colour'"),
    ("auc > 0.5", 1, "write metrics.auc, params.auc or tags.auc"),
    ("strat_time > 5", 1, "did you mean 'start_time'?"),
    ("(metrics.auc > 1", 17, "expected ')' to close the '(' at position 1, got end of input"),
    ("params.model = 'lgbm", 16, "unterminated string"),
    ("metrics.`val loss < 2", 9, "unterminated quoted key"),
    ("params.lr in ()", 15, "'in ()' needs at least one value"),
    ("params.lr not in ()", 19, "'not in ()' needs at least one value"),
    ("metrics.auc > 1 metrics.loss < 2", 17, "join conditions with 'and' or 'or'"),
    ("params.lr = 0.1", 13, "quote the value, e.g. params.lr = '0.1'"),
    ("params.lr in ('0.1', 0.01)", 22, "quote the value"),
    ("tags.team = 7", 13, "quote the value"),
    ("name = 7", 8, "quote the value"),
    ("metrics.auc > 'high'", 15, "remove the quotes"),
    ("metrics.auc like '0.%'", 13, "'like' is not allowed"),
    ("metrics.auc in (1, 2)", 13, "'in' is not allowed"),
    ("params.model > 'a'", 14, "'>' is not allowed"),
    ("start_time > 1.5", 14, "integer milliseconds"),
    ("start_time like '1%'", 12, "'like' is not allowed"),
    ("metrics > 1", 1, "'metrics' needs a key, e.g. metrics.auc"),
    ("metrics. > 1", 9, "expected a key after 'metrics.'"),
    ("tags.`` = 'x'", 1, "empty key"),
    ("metrics.auc >> 1", 14, "expected a number, got '>'"),
    ("metrics.auc ! 1", 13, "unexpected character '!'"),
    ("metrics.auc = ", 15, "expected a number, got end of input"),
    ("params.model not like 'x'", 18, "expected 'in' after 'not', got 'like'"),
    ("params.lr in '0.1'", 14, "expected '(' after 'in'"),
    ("params.lr in ('0.1' '0.2')", 21, "expected ',' or ')' in the list, got ''0.2''"),
    ("params.lr in ('0.1',)", 21, "expected a quoted string, got ')'"),
    ("params.lr in ('0.1'", 20, "expected ',' or ')' in the list, got end of input"),
    ("and metrics.auc > 1", 1, "expected a condition such as metrics.auc > 0.9, got 'and'"),
    ("()", 2, "expected a condition such as metrics.auc > 0.9, got ')'"),
    ("metrics.auc > 1)", 16, "unexpected ')' after a complete condition"),
    ("metrics.auc > 1.2.3", 15, "invalid number"),
    ("metrics.auc > 1e999", 15, "out of range"),
    ("params.a = 'x' and or params.b = 'y'", 20, "got 'or'"),
    ("metrics.auc > 1\nand name xyz", 26, "expected an operator after 'name', got 'xyz'"),
    ("metrics.auc > 1\tand xyz = 'a'", 21, "unknown attribute 'xyz'"),
    ("0.5 < metrics.auc", 1, "expected a condition such as metrics.auc > 0.9, got '0.5'"),
    ("(" * 70 + "metrics.a > 1" + ")" * 70, 65, "nest deeper than 64 levels"),
]


@pytest.mark.parametrize(
    ("text", "position", "fragment"), BAD_FILTERS, ids=[f for f, *_ in BAD_FILTERS]
)
def test_bad_filter_points_at_the_mistake(text: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    message = str(info.value)
    assert f"Invalid filter at position {position}: " in message
    assert fragment in message
    lines = info.value.message.splitlines()
    shown = text.replace("\n", " ").replace("\t", " ")
    assert lines[1] == f"    {shown}"
    assert lines[2] == "    " + " " * (position - 1) + "^"
    assert info.value.hint is not None and "metrics.auc > 0.9" in info.value.hint
    assert isinstance(info.value, ValueError)


# ------------------------------------------------------------------------------------- order_by

GOOD_ORDERS: list[tuple[str, OrderKey]] = [
    ("metrics.auc desc", OrderKey("metric", "auc", True)),
    ("metrics.`val loss` DESC", OrderKey("metric", "val loss", True)),
    ("params.model", OrderKey("param", "model", False)),
    ("tags.team ASC", OrderKey("tag", "team", False)),
    ("start_time asc", OrderKey("attribute", "start_ms", False)),
    ("attributes.end_time desc", OrderKey("attribute", "end_ms", True)),
    ("name", OrderKey("attribute", "name", False)),
    ("run_id desc", OrderKey("attribute", "id", True)),
]


@pytest.mark.parametrize(("text", "expected"), GOOD_ORDERS, ids=[o for o, _ in GOOD_ORDERS])
def test_parse_good_order(text: str, expected: OrderKey) -> None:
    assert parse_order_by([text]) == (expected,)


def test_order_by_list_none_and_lone_string() -> None:
    assert parse_order_by(None) == ()
    assert parse_order_by([]) == ()
    assert parse_order_by("metrics.auc desc") == (OrderKey("metric", "auc", True),)
    assert parse_order_by(["metrics.auc desc", "name"]) == (
        OrderKey("metric", "auc", True),
        OrderKey("attribute", "name", False),
    )


BAD_ORDERS: list[tuple[object, str]] = [
    ("metrics.auc dsc", "position 13: expected 'asc', 'desc' or the end, got 'dsc'"),
    ("metrics.auc desc desc", "position 18: expected 'asc', 'desc' or the end"),
    ("metrics.auc desc, name", "position 17: one key per item"),
    ("colour", "position 1: unknown attribute 'colour'"),
    ("metricz.auc", "position 1: unknown entity 'metricz'"),
    ("metrics", "position 1: 'metrics' needs a key"),
    ("desc", "position 1: unknown attribute 'desc'"),
    ("asc name", "position 1: unknown attribute 'asc'"),
    ("", "expected a non-empty string"),
    ("   ", "expected a non-empty string"),
    (5, "expected a non-empty string"),
]


@pytest.mark.parametrize(("item", "fragment"), BAD_ORDERS, ids=[str(o) for o, _ in BAD_ORDERS])
def test_bad_order_by(item: object, fragment: str) -> None:
    with pytest.raises(InvalidFilter, match="Invalid order_by item") as info:
        parse_order_by([item])  # type: ignore[list-item]
    assert fragment in str(info.value)
    assert "metrics.auc desc" in str(info.value.hint)


# ------------------------------------------------------------------------ page tokens and limit


@pytest.mark.parametrize("offset", [0, 1, 3, 100, 49_999, 2**31 - 1])
def test_page_token_round_trip(offset: int) -> None:
    token = encode_page_token(offset)
    assert token.isascii() and "=" not in token and "+" not in token and "/" not in token
    assert decode_page_token(token) == offset


@pytest.mark.parametrize("token", [None, ""])
def test_missing_page_token_is_first_page(token: str | None) -> None:
    assert decode_page_token(token) == 0


def _b64(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _tampered_tokens() -> list[str]:
    good = encode_page_token(20)
    payload = json.loads(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))
    return [
        "garbage",
        "!!!not base64!!!",
        good[:-3],
        good + "AAAA",
        good[:5] + ("A" if good[5] != "A" else "B") + good[6:],
        _b64({**payload, "offset": 40}),
        _b64({**payload, "offset": -1}),
        _b64({**payload, "offset": "20"}),
        _b64({**payload, "v": 2}),
        _b64({**payload, "extra": 1}),
        _b64([20]),
        _b64(20),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "x" * 500,
    ]


@pytest.mark.parametrize("token", _tampered_tokens())
def test_tampered_page_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidFilter, match="Invalid page_token") as info:
        decode_page_token(token)
    assert "next_page_token from the previous page" in str(info.value)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("offset", [-1, True, 1.5, "3", 2**31])
def test_encode_page_token_rejects_bad_offsets(offset: object) -> None:
    with pytest.raises(InvalidInput, match="offset"):
        encode_page_token(offset)  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [1, 10, MAX_RESULTS])
def test_validate_limit_accepts(limit: int) -> None:
    assert validate_limit(limit) == limit


@pytest.mark.parametrize("limit", [0, -1, MAX_RESULTS + 1, True, 1.5, "10", None])
def test_validate_limit_rejects(limit: object) -> None:
    with pytest.raises(InvalidInput, match=f"limit must be an integer from 1 to {MAX_RESULTS}"):
        validate_limit(limit)  # type: ignore[arg-type]


def test_build_rejects_bad_input_before_touching_a_database() -> None:
    with pytest.raises(InvalidFilter, match="position 13"):
        build_search_query([1], "metrics.auc xyz", None, 10, 0)
    with pytest.raises(InvalidFilter, match="order_by"):
        build_search_query([1], None, ["metrics.auc sideways"], 10, 0)
    with pytest.raises(InvalidInput, match="limit"):
        build_search_query([1], None, None, 0, 0)
    with pytest.raises(InvalidInput, match="offset"):
        build_search_query([1], None, None, 10, -5)


DIALECTS: list[sa.engine.Dialect] = [
    sqlite.dialect(),
    postgresql.dialect(),  # type: ignore[no-untyped-call]
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=["sqlite", "postgresql"])
def test_values_are_bound_never_inlined(dialect: sa.engine.Dialect) -> None:
    text = f"params.m = \"{INJECTION}\" or tags.`we'ird` like 'a%' or name ilike 'zz%'"
    query = build_search_query([1], text, ["metrics.`odd key` desc"], 10, 0)
    compiled = query.compile(dialect=dialect)
    sql = str(compiled)
    for literal in ("1=1", "we'ird", "odd key", "zz%", "a%", "'a"):
        assert literal not in sql
    assert INJECTION in compiled.params.values()


# --------------------------------------------------------------------------------- SQL: dataset


@dataclass
class Run:
    """One seeded run, with the same facts the database holds."""

    i: int
    id: str
    name: str
    status: str
    start_ms: int
    end_ms: int | None
    parent_id: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def _make_runs() -> list[Run]:
    runs = []
    for i in range(20):
        status = "FINISHED" if i % 2 == 0 else "FAILED" if i % 3 == 0 else "RUNNING"
        start = 1000 + (i % 5) * 10
        run = Run(
            i=i,
            id=f"run-{i:02d}",
            name="FOLD_upper" if i == 12 else f"fold-{i}" if i < 10 else f"Trial {i}",
            status=status,
            start_ms=start,
            end_ms=None if status == "RUNNING" else start + 5,
            parent_id="run-00" if 1 <= i <= 4 else None,
        )
        if i != 19:
            run.params["model"] = ["lgbm", "xgb", "LGBM-v2"][i % 3]
        run.params["lr"] = "0.1" if i % 2 == 0 else "0.01"
        if i not in (5, 15):
            run.tags["team"] = "a" if i < 10 else "b"
        if i % 4 != 3:
            run.metrics["auc"] = i / 20
        run.metrics["loss"] = [1.0, 0.1, 0.01, 0.001, 0.0001][i % 5]
        if i < 5:
            run.metrics["val loss"] = float(i)
            run.metrics["train.acc"] = i / 4
        runs.append(run)
    runs[7].tags["note"] = INJECTION
    runs[2].tags["pct"] = "100%"
    runs[3].tags["pct"] = "1000"
    return runs


RUNS = _make_runs()


def _seed(conn: sa.Connection) -> None:
    conn.execute(
        schema.experiments.insert(),
        [{"id": 1, "name": "main", "created_ms": 0}, {"id": 2, "name": "other", "created_ms": 0}],
    )
    rows = [
        {
            "id": r.id,
            "experiment_id": 1,
            "parent_id": r.parent_id,
            "name": r.name,
            "status": r.status,
            "start_ms": r.start_ms,
            "end_ms": r.end_ms,
        }
        for r in RUNS
    ]
    rows.append(dict(rows[0], id="other-0", experiment_id=2, start_ms=5000))
    conn.execute(schema.runs.insert(), rows)
    everything = [*RUNS, Run(0, "other-0", "", "", 0, None, None, RUNS[0].params, {}, {})]
    for table, attr_name in ((schema.params, "params"), (schema.tags, "tags")):
        kv = [
            {"run_id": r.id, "key": k, "value": v}
            for r in everything
            for k, v in getattr(r, attr_name).items()
        ]
        conn.execute(table.insert(), kv)
    metric_rows = [
        {"run_id": r.id, "key": k, "value": v, "step": 0, "timestamp_ms": 0}
        for r in everything
        for k, v in r.metrics.items()
    ]
    conn.execute(schema.latest_metrics.insert(), metric_rows)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """A seeded database (SQLite file or PostgreSQL schema), disposed afterwards."""
    eng = sa.create_engine(db_url)
    try:
        schema.metadata.create_all(eng)
        with eng.begin() as conn:
            _seed(conn)
        yield eng
    finally:
        eng.dispose()


def search(
    engine: sa.Engine,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    *,
    limit: int = 1000,
    offset: int = 0,
    experiments: Sequence[int] = (1,),
) -> list[str]:
    with engine.connect() as conn:
        query = build_search_query(experiments, filter, order_by, limit, offset)
        rows = conn.execute(query).mappings().all()
    assert all(set(row) == set(schema.runs.c.keys()) for row in rows)
    return [row["id"] for row in rows]


def ids(*numbers: int) -> list[str]:
    return [f"run-{i:02d}" for i in numbers]


def newest_first(pred: Callable[[Run], bool]) -> list[str]:
    """The default order (start desc, id desc) of the runs that satisfy ``pred``."""
    chosen = [r for r in RUNS if pred(r)]
    return [r.id for r in sorted(chosen, key=lambda r: (r.start_ms, r.id), reverse=True)]


# --------------------------------------------------------------------------------- SQL: filters

Pred = Callable[[Run], bool]


def _m(key: str, test: Callable[[float], bool]) -> Pred:
    return lambda r: key in r.metrics and test(r.metrics[key])


def _p(key: str, test: Callable[[str], bool]) -> Pred:
    return lambda r: key in r.params and test(r.params[key])


def _t(key: str, test: Callable[[str], bool]) -> Pred:
    return lambda r: key in r.tags and test(r.tags[key])


FILTER_CASES: list[tuple[str, Pred]] = [
    ("metrics.auc > 0.5", _m("auc", lambda v: v > 0.5)),
    ("metrics.auc >= 0.5", _m("auc", lambda v: v >= 0.5)),
    ("metrics.auc < 0.2", _m("auc", lambda v: v < 0.2)),
    ("metrics.auc <= 0.2", _m("auc", lambda v: v <= 0.2)),
    ("metrics.auc = 0.25", _m("auc", lambda v: v == 0.25)),
    ("metrics.auc != 0.25", _m("auc", lambda v: v != 0.25)),
    ("metrics.auc > -1", _m("auc", lambda v: True)),
    ("metrics.loss <= 1e-3", _m("loss", lambda v: v <= 1e-3)),
    ("metrics.`val loss` < 2", _m("val loss", lambda v: v < 2)),
    ("metrics.train.acc >= 0.5", _m("train.acc", lambda v: v >= 0.5)),
    ("metrics.`train.acc` >= 0.5", _m("train.acc", lambda v: v >= 0.5)),
    ("metrics.nope > 0", lambda r: False),
    ("params.model = 'lgbm'", _p("model", lambda v: v == "lgbm")),
    ("params.model != 'lgbm'", _p("model", lambda v: v != "lgbm")),
    ("params.model like 'lg%'", _p("model", lambda v: v.startswith("lg"))),
    ("params.model like 'LG%'", _p("model", lambda v: v.startswith("LG"))),
    ("params.model ilike 'lg%'", _p("model", lambda v: v.lower().startswith("lg"))),
    ("params.model like '%-v_'", _p("model", lambda v: v == "LGBM-v2")),
    ("params.model like 'xgb'", _p("model", lambda v: v == "xgb")),
    ("params.model like 'XGB'", lambda r: False),
    ("params.lr in ('0.1', '0.01')", _p("lr", lambda v: True)),
    ("params.lr not in ('0.1')", _p("lr", lambda v: v != "0.1")),
    ("params.model in ('xgb', 'nope')", _p("model", lambda v: v == "xgb")),
    ("params.model not in ('xgb', 'lgbm')", _p("model", lambda v: v == "LGBM-v2")),
    ("tags.team = 'a'", _t("team", lambda v: v == "a")),
    ("tags.team != 'a'", _t("team", lambda v: v != "a")),
    ('tags.team = "b"', _t("team", lambda v: v == "b")),
    (r"tags.pct like '100\%'", _t("pct", lambda v: v == "100%")),
    ("tags.pct like '100%'", _t("pct", lambda v: v.startswith("100"))),
    ("status = 'FINISHED'", lambda r: r.status == "FINISHED"),
    ("attributes.status != 'FINISHED'", lambda r: r.status != "FINISHED"),
    ("STATUS in ('FAILED', 'RUNNING')", lambda r: r.status in ("FAILED", "RUNNING")),
    ("name like 'fold-%'", lambda r: r.name.startswith("fold-")),
    ("name ilike '%fold%'", lambda r: "fold" in r.name.lower()),
    (r"name like 'FOLD\_%'", lambda r: r.name.startswith("FOLD_")),
    (r"name like 'FOLD\%%'", lambda r: False),
    ("name = 'Trial 11'", lambda r: r.name == "Trial 11"),
    ("start_time >= 1030", lambda r: r.start_ms >= 1030),
    (
        "attributes.start_time < 1020 and end_time > 0",
        lambda r: r.start_ms < 1020 and r.end_ms is not None,
    ),
    ("end_time = 1015", lambda r: r.end_ms == 1015),
    ("end_time != 1015", lambda r: r.end_ms != 1015),
    ("parent_id = 'run-00'", lambda r: r.parent_id == "run-00"),
    ("parent_id != 'run-00'", lambda r: r.parent_id != "run-00"),
    ("parent_id not in ('run-00')", lambda r: r.parent_id != "run-00"),
    ("run_id = 'run-03'", lambda r: r.id == "run-03"),
    ("id in ('run-01', 'run-02', 'other-0')", lambda r: r.id in ("run-01", "run-02")),
    (
        "metrics.auc > 0.5 and params.model = 'lgbm'",
        lambda r: r.metrics.get("auc", -1) > 0.5 and r.params.get("model") == "lgbm",
    ),
    (
        "tags.team != 'a' or (metrics.loss <= 1e-3 and attributes.status = 'FINISHED')",
        lambda r: (
            r.tags.get("team", "a") != "a" or (r.metrics["loss"] <= 1e-3 and r.status == "FINISHED")
        ),
    ),
    (
        "params.lr = '0.1' AND (tags.team = 'a' OR tags.team = 'b') AND metrics.auc > 0.2",
        lambda r: (
            r.params["lr"] == "0.1"
            and r.tags.get("team") in ("a", "b")
            and r.metrics.get("auc", 0) > 0.2
        ),
    ),
    (
        "(metrics.auc > 0.8 or metrics.auc < 0.1) and params.model != 'xgb'",
        lambda r: (
            "auc" in r.metrics
            and not 0.1 <= r.metrics["auc"] <= 0.8
            and r.params.get("model", "xgb") != "xgb"
        ),
    ),
    (f'tags.note = "{INJECTION}"', lambda r: r.tags.get("note") == INJECTION),
    ("tags.note = 'x'' or 1=1 --'", lambda r: r.tags.get("note") == INJECTION),
    (f'params.model = "{INJECTION}"', lambda r: False),
    (f"name = \"{INJECTION}\" or name = ''", lambda r: False),
]


@pytest.mark.parametrize(("text", "pred"), FILTER_CASES, ids=[f for f, _ in FILTER_CASES])
def test_filter_selects_exactly_the_matching_runs(engine: sa.Engine, text: str, pred: Pred) -> None:
    assert search(engine, text) == newest_first(pred)


def test_injection_value_is_a_literal(engine: sa.Engine) -> None:
    assert search(engine, f'tags.note = "{INJECTION}"') == ids(7)
    assert search(engine, f"params.model = '{INJECTION.replace(chr(39), chr(39) * 2)}'") == []
    assert len(search(engine)) == 20


def test_experiment_ids_scope_the_search(engine: sa.Engine) -> None:
    assert search(engine, "params.model = 'lgbm'", experiments=[2]) == ["other-0"]
    both = search(engine, "params.model = 'lgbm'", experiments=[1, 2])
    assert both == ["other-0", *newest_first(_p("model", lambda v: v == "lgbm"))]
    assert search(engine, experiments=[]) == []
    assert search(engine, experiments=[99]) == []


# ---------------------------------------------------------------------------------- SQL: orders

MISSING_AUC = ids(19, 15, 11, 7, 3)  # no auc metric; id desc breaks the tie
ORDER_CASES: list[tuple[list[str] | None, list[str]]] = [
    (None, ids(19, 14, 9, 4, 18, 13, 8, 3, 17, 12, 7, 2, 16, 11, 6, 1, 15, 10, 5, 0)),
    ([], ids(19, 14, 9, 4, 18, 13, 8, 3, 17, 12, 7, 2, 16, 11, 6, 1, 15, 10, 5, 0)),
    (["metrics.auc desc"], ids(18, 17, 16, 14, 13, 12, 10, 9, 8, 6, 5, 4, 2, 1, 0) + MISSING_AUC),
    (["metrics.auc"], ids(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18) + MISSING_AUC),
    (["metrics.auc asc"], ids(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18) + MISSING_AUC),
    (["metrics.`val loss` desc"], ids(4, 3, 2, 1, 0, *range(19, 4, -1))),
    (["metrics.`val loss`"], ids(0, 1, 2, 3, 4, *range(19, 4, -1))),
    (["metrics.nope desc"], ids(*range(19, -1, -1))),
    (["run_id"], ids(*range(20))),
    (["attributes.id desc"], ids(*range(19, -1, -1))),
    (["start_time asc"], ids(15, 10, 5, 0, 16, 11, 6, 1, 17, 12, 7, 2, 18, 13, 8, 3, 19, 14, 9, 4)),
    (
        ["tags.team desc", "metrics.auc"],
        ids(10, 12, 13, 14, 16, 17, 18, 19, 11, 0, 1, 2, 4, 6, 8, 9, 7, 3, 5, 15),
    ),
    (
        ["tags.team", "run_id desc"],
        ids(9, 8, 7, 6, 4, 3, 2, 1, 0, 19, 18, 17, 16, 14, 13, 12, 11, 10, 15, 5),
    ),
    (
        ["params.lr", "end_time desc"],
        ids(9, 3, 15, 19, 17, 13, 11, 7, 5, 1, 14, 4, 18, 8, 12, 2, 16, 6, 10, 0),
    ),
    (
        ["status", "start_time desc"],
        ids(9, 3, 15, 14, 4, 18, 8, 12, 2, 16, 6, 10, 0, 19, 13, 17, 7, 11, 1, 5),
    ),
]


@pytest.mark.parametrize(
    ("order_by", "expected"), ORDER_CASES, ids=[str(o) for o, _ in ORDER_CASES]
)
def test_order(engine: sa.Engine, order_by: list[str] | None, expected: list[str]) -> None:
    assert search(engine, None, order_by) == expected


def test_order_with_filter_and_missing_keys_last(engine: sa.Engine) -> None:
    # team 'a' is runs 0-9 but 5; lr '0.1' (even runs) sorts after '0.01'; 3 and 7 lack auc.
    got = search(engine, "tags.team != 'b'", ["params.lr desc", "metrics.auc desc"])
    assert got == ids(8, 6, 4, 2, 0, 9, 1, 7, 3)
    got = search(engine, "status = 'RUNNING'", ["metrics.auc desc"])
    assert got == ids(17, 13, 5, 1, 19, 11, 7)


# ---------------------------------------------------------------------------------- SQL: paging


@pytest.mark.parametrize(
    ("text", "order_by", "page_size"),
    [
        (None, None, 3),
        (None, ["metrics.auc desc"], 4),
        ("params.lr = '0.1' or tags.team = 'b'", ["tags.team", "metrics.loss"], 5),
        ("metrics.auc >= 0", ["name"], 20),
        ("metrics.auc >= 0", ["params.model desc"], 1),
    ],
)
def test_paging_with_tokens_covers_every_run_once(
    engine: sa.Engine, text: str | None, order_by: list[str] | None, page_size: int
) -> None:
    everything = search(engine, text, order_by)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        offset = decode_page_token(token)
        page = search(engine, text, order_by, limit=page_size, offset=offset)
        seen.extend(page)
        pages += 1
        if len(page) < page_size:
            break
        token = encode_page_token(offset + len(page))
    assert seen == everything
    assert pages == len(everything) // page_size + 1


def test_limit_and_offset_slice_the_order(engine: sa.Engine) -> None:
    full = search(engine, None, ["metrics.auc desc"])
    assert search(engine, None, ["metrics.auc desc"], limit=5) == full[:5]
    assert search(engine, None, ["metrics.auc desc"], limit=5, offset=13) == full[13:18]
    assert search(engine, None, ["metrics.auc desc"], limit=MAX_RESULTS, offset=19) == full[19:]
    assert search(engine, None, None, limit=10, offset=20) == []
    assert search(engine, None, None, limit=10, offset=2**31 - 1) == []


def test_cached_statements_keep_each_like_pattern(engine: sa.Engine) -> None:
    """The SQLite GLOB rewrite must not let a cached statement reuse an old pattern."""
    for pattern, model in [("lg%", "lgbm"), ("LG%", "LGBM-v2"), ("x%", "xgb")] * 2:
        want = newest_first(_p("model", model.__eq__))
        assert search(engine, f"params.model like '{pattern}'") == want
