"""Tokenizer and recursive-descent parser for run-search filters and orders.

Kept free of SQL on purpose: the parser turns user text into a small typed tree and does all
the checking that needs the user's text (positions, carets, suggestions), so the SQL side in
``_search.py`` can trust its input and every mistake is reported where the user made it.

Grammar (keywords are case-insensitive, ``and`` binds tighter than ``or``)::

    filter     := or_expr EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := primary ("and" primary)*
    primary    := "(" or_expr ")" | comparison
    comparison := entity op literal
                | entity ("in" | "not" "in") "(" literal ("," literal)* ")"
    entity     := ("metrics" | "params" | "tags" | "attributes") "." key  |  attribute
    order      := entity ["asc" | "desc"] EOF

Positions in messages are 1-based character offsets into the text, like PostgreSQL's.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn, TypeAlias

from shipyard.core.errors import InvalidFilter

__all__ = [
    "And",
    "Comparison",
    "EntityKind",
    "Expr",
    "Op",
    "Or",
    "OrderKey",
    "Value",
    "parse_filter",
    "parse_order_by",
]

EntityKind: TypeAlias = Literal["metric", "param", "tag", "attribute"]
Op: TypeAlias = Literal["=", "!=", "<", "<=", ">", ">=", "like", "ilike", "in", "not in"]
Value: TypeAlias = str | float | int | tuple[str, ...]
_ValueType: TypeAlias = Literal["number", "string", "time"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One condition; for attributes ``key`` is the ``runs`` column name (e.g. ``start_ms``)."""

    kind: EntityKind
    key: str
    op: Op
    value: Value


@dataclass(frozen=True, slots=True)
class And:
    """All operands must hold."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand must hold."""

    operands: tuple[Expr, ...]


Expr: TypeAlias = Comparison | And | Or


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``order_by`` item; ``key`` as in :class:`Comparison`."""

    kind: EntityKind
    key: str
    descending: bool


FILTER_HINT = (
    "Valid filters look like: metrics.auc > 0.9 and params.model = 'lgbm' | "
    "tags.team != 'a' or (metrics.loss <= 1e-3 and status = 'FINISHED') | "
    "params.lr in ('0.1', '0.01') | name ilike '%fold%' | metrics.`val loss` < 2. "
    "Entities: metrics.KEY (numbers: = != < <= > >=), params.KEY and tags.KEY (quoted strings: "
    "= != like ilike in, not in), attributes: run_id, name, status, parent_id (strings) and "
    "start_time, end_time (integer ms since the epoch). Quote keys with spaces or dots in "
    "backticks."
)
ORDER_HINT = (
    "Valid order_by items look like: 'metrics.auc desc', 'params.model', 'start_time asc', "
    "'name'; one key per item, optionally followed by asc or desc."
)

_ENTITY_PREFIXES: dict[str, EntityKind] = {
    "metrics": "metric", "metric": "metric", "params": "param", "param": "param",
    "tags": "tag", "tag": "tag", "attributes": "attribute", "attribute": "attribute",
    "attr": "attribute",
}  # fmt: skip
_ATTRIBUTES: dict[str, tuple[str, _ValueType]] = {
    "run_id": ("id", "string"), "id": ("id", "string"), "name": ("name", "string"),
    "status": ("status", "string"), "parent_id": ("parent_id", "string"),
    "start_time": ("start_ms", "time"), "end_time": ("end_ms", "time"),
}  # fmt: skip
_OPS: dict[str, Op] = {
    "=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}  # fmt: skip
_KEYWORD_OPS: dict[str, Op] = {"in": "in", "like": "like", "ilike": "ilike"}
_STRING_OPS: frozenset[Op] = frozenset({"=", "!=", "like", "ilike", "in", "not in"})
_NUMBER_OPS: frozenset[Op] = frozenset({"=", "!=", "<", "<=", ">", ">="})
_MAX_DEPTH = 64
_INT64 = 2**63
_MAX_LITERAL = 2**1000  # far beyond any metric, yet safe to turn into a float

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
      | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<ident>[^\W\d]\w*|`)
      | (?P<string>['"])
      | (?P<op><=|>=|<>|!=|==|=|<|>)
      | (?P<punct>[(),])""",
    re.VERBOSE,
)
_SEGMENT_RE = re.compile(r"[\w\-/:]+")


@dataclass(frozen=True, slots=True)
class _Token:
    """``kind`` is ident/string/number/op/punct/eof; ``pos`` is the 0-based start index."""

    kind: str
    pos: int
    text: str
    parts: tuple[str, ...] = ()
    string: str = ""
    number: float | int = 0
    keyword: str = ""


class _Source:
    """The text being parsed plus how to report a mistake in it."""

    def __init__(self, text: str, what: str, hint: str) -> None:
        self.text, self.what, self.hint = text, what, hint

    def fail(self, pos: int, detail: str) -> NoReturn:
        """Raise InvalidFilter quoting the text with a caret under 0-based ``pos``."""
        shown = re.sub(r"\s", " ", self.text)
        message = (
            f"Invalid {self.what} at position {pos + 1}: {detail}.\n    {shown}\n    {' ' * pos}^\n"
        )
        raise InvalidFilter(message, hint=self.hint)


def _read_quoted(src: _Source, start: int, quote: str) -> tuple[str, int]:
    """Read a quoted run from ``start`` (the quote); return its value and the end index.

    A doubled quote stands for one quote. In strings a backslash escapes a quote or a
    backslash and is kept before anything else, so LIKE escapes like ``a\\_b`` reach the SQL.
    """
    text, out, i = src.text, [], start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "`" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(nxt if nxt in "'\"\\" else ch + nxt)
            i += 2
        elif ch == quote and text.startswith(quote * 2, i):
            out.append(quote)
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    kind = "quoted key" if quote == "`" else "string"
    src.fail(start, f"unterminated {kind}: the {quote} here is never closed")


def _read_ident(src: _Source, start: int) -> tuple[_Token, int]:
    """Read ``seg(.seg)*`` where a segment is a bare word or a backtick-quoted key."""
    text, parts, i = src.text, [], start
    while True:
        if text.startswith("`", i):
            part, i = _read_quoted(src, i, "`")
        else:
            match = _SEGMENT_RE.match(text, i)
            if match is None:
                src.fail(i, f"expected a key after '{text[start:i]}'; quote odd keys in backticks")
            part, i = match.group(), match.end()
        parts.append(part)
        if not text.startswith(".", i):
            break
        i += 1
    bare_word = len(parts) == 1 and not text.startswith("`", start)
    keyword = parts[0].lower() if bare_word else ""
    return _Token("ident", start, text[start:i], tuple(parts), keyword=keyword), i


def _read_number(src: _Source, match: re.Match[str]) -> _Token:
    """Turn a numeric literal into an int (plain digits) or a finite float."""
    text = match.group()
    if re.match(r"[\w.`]", src.text[match.end() : match.end() + 1]):
        src.fail(match.start(), f"invalid number '{text}{src.text[match.end()]}...'")
    number: float | int = float(text) if re.search(r"[.eE]", text) else int(text)
    if not math.isfinite(number) or abs(number) > _MAX_LITERAL:
        src.fail(match.start(), f"number '{text}' is out of range")
    return _Token("number", match.start(), text, number=number)


def _tokenize(src: _Source) -> list[_Token]:
    """Split the text into tokens, ending with an ``eof`` token at the end of the text."""
    tokens: list[_Token] = []
    i, text = 0, src.text
    while i < len(text):
        match = _TOKEN_RE.match(text, i)
        if match is None:
            src.fail(i, f"unexpected character '{text[i]}'")
        group = match.lastgroup
        if group == "ident":
            token, i = _read_ident(src, i)
            tokens.append(token)
            continue
        if group == "string":
            value, end = _read_quoted(src, i, match.group())
            tokens.append(_Token("string", i, text[i:end], string=value))
            i = end
            continue
        if group == "number":
            tokens.append(_read_number(src, match))
        elif group in ("op", "punct"):
            tokens.append(_Token(group, i, match.group()))
        i = match.end()
    tokens.append(_Token("eof", len(text), ""))
    return tokens


def _describe(token: _Token) -> str:
    """Name a token the way the user typed it, for 'got ...' in messages."""
    return "end of input" if token.kind == "eof" else f"'{token.text}'"


class _Parser:
    """One pass over the tokens of one filter or order item."""

    def __init__(self, src: _Source, expecting: str) -> None:
        self.src, self.expecting = src, expecting
        self.tokens = _tokenize(src)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        token = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def at_keyword(self, word: str) -> bool:
        return self.tok.keyword == word

    def parse_or(self) -> Expr:
        operands = [self.parse_and()]
        while self.at_keyword("or"):
            self.advance()
            operands.append(self.parse_and())
        return _combine(Or, operands)

    def parse_and(self) -> Expr:
        operands = [self.parse_primary()]
        while self.at_keyword("and"):
            self.advance()
            operands.append(self.parse_primary())
        return _combine(And, operands)

    def parse_primary(self) -> Expr:
        if self.tok.text != "(":
            return self.parse_comparison()
        opener = self.advance()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            self.src.fail(opener.pos, f"parentheses nest deeper than {_MAX_DEPTH} levels")
        inner = self.parse_or()
        if self.tok.text != ")":
            self.src.fail(
                self.tok.pos,
                f"expected ')' to close the '(' at position {opener.pos + 1}, "
                f"got {_describe(self.tok)}",
            )
        self.advance()
        self.depth -= 1
        return inner

    def parse_entity(self) -> tuple[EntityKind, str, _ValueType, _Token]:
        """Resolve ``metrics.x`` / ``params.x`` / ``tags.x`` / ``attributes.x`` / ``x``."""
        token = self.tok
        if token.kind != "ident" or token.keyword in ("and", "or", "in", "not", "like", "ilike"):
            self.src.fail(token.pos, f"expected {self.expecting}, got {_describe(token)}")
        self.advance()
        parts = token.parts
        if len(parts) == 1:
            if parts[0].lower() in _ENTITY_PREFIXES:
                self.src.fail(token.pos, f"'{parts[0]}' needs a key, e.g. {parts[0]}.auc")
            column, value_type = _attribute(self.src, token, parts[0], bare=True)
            return "attribute", column, value_type, token
        kind = _ENTITY_PREFIXES.get(parts[0].lower())
        if kind is None:
            suggestion = _suggest(parts[0].lower(), ("metrics", "params", "tags", "attributes"))
            self.src.fail(
                token.pos,
                f"unknown entity '{parts[0]}'{suggestion}; use metrics., params., tags. or "
                "attributes. (quote keys containing dots in backticks)",
            )
        key = ".".join(parts[1:])
        if not key:
            self.src.fail(token.pos, f"'{token.text}' has an empty key")
        if kind == "attribute":
            column, value_type = _attribute(self.src, token, key, bare=False)
            return kind, column, value_type, token
        return kind, key, "number" if kind == "metric" else "string", token

    def parse_op(self, entity: _Token) -> Op:
        token = self.advance()
        if token.kind == "op":
            return _OPS[token.text]
        if token.keyword in _KEYWORD_OPS:
            return _KEYWORD_OPS[token.keyword]
        if token.keyword == "not":
            if self.at_keyword("in"):
                self.advance()
                return "not in"
            self.src.fail(self.tok.pos, f"expected 'in' after 'not', got {_describe(self.tok)}")
        self.src.fail(
            token.pos,
            f"expected an operator after '{entity.text}', got {_describe(token)}",
        )

    def parse_comparison(self) -> Comparison:
        kind, key, value_type, entity = self.parse_entity()
        op_pos = self.tok.pos
        op = self.parse_op(entity)
        allowed = _STRING_OPS if value_type == "string" else _NUMBER_OPS
        if op not in allowed:
            what = {"string": "strings", "number": "numbers", "time": "integer ms times"}
            self.src.fail(
                op_pos,
                f"'{entity.text}' compares as {what[value_type]}, so '{op}' is not allowed; "
                f"use one of {', '.join(sorted(allowed))}",
            )
        if op in ("in", "not in"):
            return Comparison(kind, key, op, self.parse_list(entity, op))
        value = self.parse_literal(entity, value_type)
        return Comparison(kind, key, op, value)

    def parse_list(self, entity: _Token, op: str) -> tuple[str, ...]:
        if self.tok.text != "(":
            self.src.fail(self.tok.pos, f"expected '(' after '{op}', got {_describe(self.tok)}")
        self.advance()
        if self.tok.text == ")":
            self.src.fail(self.tok.pos, f"'{op} ()' needs at least one value, e.g. ('a', 'b')")
        values: list[str] = []
        while True:
            values.append(str(self.parse_literal(entity, "string")))
            closer = self.advance()
            if closer.text == ")":
                return tuple(values)
            if closer.text != ",":
                self.src.fail(
                    closer.pos, f"expected ',' or ')' in the list, got {_describe(closer)}"
                )

    def parse_literal(self, entity: _Token, value_type: _ValueType) -> str | float | int:
        token = self.advance()
        if value_type == "string":
            if token.kind == "number":
                self.src.fail(
                    token.pos,
                    f"'{entity.text}' holds strings: quote the value, e.g. "
                    f"{entity.text} = '{token.text}'",
                )
            if token.kind != "string":
                self.src.fail(token.pos, f"expected a quoted string, got {_describe(token)}")
            return token.string
        if token.kind == "string":
            self.src.fail(
                token.pos,
                f"'{entity.text}' holds numbers: remove the quotes around {token.text}",
            )
        if token.kind != "number":
            self.src.fail(token.pos, f"expected a number, got {_describe(token)}")
        if value_type == "number":
            return float(token.number)
        if float(token.number).is_integer() and abs(token.number) < _INT64:
            return int(token.number)
        self.src.fail(token.pos, f"'{entity.text}' takes integer milliseconds since the epoch")


def _attribute(src: _Source, token: _Token, name: str, *, bare: bool) -> tuple[str, _ValueType]:
    """Map an attribute name to its column, or explain which names exist."""
    found = _ATTRIBUTES.get(name.lower())
    if found is not None:
        return found
    suggestion = _suggest(name.lower(), tuple(_ATTRIBUTES))
    extra = f"; for a metric, param or tag write metrics.{name}, params.{name} or tags.{name}"
    src.fail(
        token.pos,
        f"unknown attribute '{name}'{suggestion}; attributes are "
        f"{', '.join(_ATTRIBUTES)}{extra if bare else ''}",
    )


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _combine(cls: type[And] | type[Or], operands: list[Expr]) -> Expr:
    """Build an And/Or, flattening nested nodes of the same kind; one operand stays itself."""
    if len(operands) == 1:
        return operands[0]
    flat: list[Expr] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, cls) else (operand,))
    return cls(tuple(flat))


def parse_filter(text: str | None) -> Expr | None:
    """Parse a filter; ``None`` or blank text means "no filter" and returns ``None``."""
    if text is None or not text.strip():
        return None
    parser = _Parser(_Source(text, "filter", FILTER_HINT), "a condition such as metrics.auc > 0.9")
    expr = parser.parse_or()
    if parser.tok.kind != "eof":
        parser.src.fail(
            parser.tok.pos,
            f"unexpected {_describe(parser.tok)} after a complete condition; "
            "join conditions with 'and' or 'or'",
        )
    return expr


def parse_order_by(items: str | Sequence[str] | None) -> tuple[OrderKey, ...]:
    """Parse ``order_by`` items such as ``"metrics.auc desc"``; a lone string is one item."""
    if items is None:
        return ()
    if isinstance(items, str):
        items = [items]
    return tuple(_parse_order_item(item) for item in items)


def _parse_order_item(item: object) -> OrderKey:
    if not isinstance(item, str) or not item.strip():
        raise InvalidFilter(
            f"Invalid order_by item {item!r}: expected a non-empty string.", hint=ORDER_HINT
        )
    parser = _Parser(_Source(item, "order_by item", ORDER_HINT), "a key such as metrics.auc")
    kind, key, _, _ = parser.parse_entity()
    descending = False
    if parser.tok.keyword in ("asc", "desc"):
        descending = parser.advance().keyword == "desc"
    if parser.tok.kind != "eof":
        if parser.tok.text == ",":
            detail = "one key per item: pass a list such as ['metrics.auc desc', 'name']"
        else:
            detail = f"expected 'asc', 'desc' or the end, got {_describe(parser.tok)}"
        parser.src.fail(parser.tok.pos, detail)
    return OrderKey(kind, key, descending)
