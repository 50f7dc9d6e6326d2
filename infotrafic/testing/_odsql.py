"""The subset of ODSQL ``where`` the loopback server understands.

Grammar (keywords case-insensitive)::

    expr       := and_expr ("OR" and_expr)*
    and_expr   := unary ("AND" unary)*
    unary      := "NOT" unary | "(" expr ")" | predicate
    predicate  := field op literal | field ["NOT"] "IN" "(" literal ("," literal)* ")"
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal    := "text" | 'text' | number | date'ISO date or datetime'

Date literals without an offset are read in the request's ``timezone``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ODSQLSyntaxError", "compile_where"]


class ODSQLSyntaxError(ValueError):
    """The ``where`` expression is malformed (the server answers 400 ``ODSQLError``)."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<date>date'[^']*')
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)

#: ``mask(frame)``: the frame is anything whose ``frame[field]`` gives a Series.
Mask = Callable[[Any], "np.ndarray[Any, np.dtype[np.bool_]]"]


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ODSQLSyntaxError(
                f"unexpected character at position {pos}: {text[pos : pos + 10]!r}"
            )
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, fields: dict[str, str], tz: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.fields = fields
        self.tz = tz

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].upper() == word:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            got = "end of expression" if tok is None else repr(tok[1])
            raise ODSQLSyntaxError(f"expected {value or kind}, got {got}")
        self.i += 1
        return tok[1]

    def parse(self) -> Mask:
        mask = self.expr()
        if self.peek() is not None:
            raise ODSQLSyntaxError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return mask

    def expr(self) -> Mask:
        parts = [self.and_expr()]
        while self.keyword("OR"):
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda df: np.logical_or.reduce([p(df) for p in parts])

    def and_expr(self) -> Mask:
        parts = [self.unary()]
        while self.keyword("AND"):
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda df: np.logical_and.reduce([p(df) for p in parts])

    def unary(self) -> Mask:
        if self.keyword("NOT"):
            inner = self.unary()
            return lambda df: ~inner(df)
        tok = self.peek()
        if tok == ("punct", "("):
            self.i += 1
            inner = self.expr()
            self.expect("punct", ")")
            return inner
        return self.predicate()

    def field(self) -> str:
        name = self.expect("word").strip("`")
        if name not in self.fields:
            raise ODSQLSyntaxError(f"Unknown field: {name}")
        return name

    def literal(self, field: str) -> Any:
        tok = self.peek()
        if tok is None:
            raise ODSQLSyntaxError("expected a value, got end of expression")
        kind, text = tok
        self.i += 1
        if kind == "date":
            try:
                stamp = pd.Timestamp(text[5:-1])
            except ValueError as exc:
                raise ODSQLSyntaxError(f"invalid date literal {text}") from exc
            if stamp.tzinfo is None:
                stamp = stamp.tz_localize(self.tz, nonexistent="shift_forward", ambiguous=True)
            return stamp.tz_convert("UTC")
        if kind == "str":
            value: Any = re.sub(r"\\(.)", r"\1", text[1:-1])
        elif kind == "num":
            value = float(text)
        else:
            raise ODSQLSyntaxError(f"expected a value, got {text!r}")
        if self.fields[field] == "datetime":
            try:
                return _as_utc(pd.Timestamp(value), self.tz)
            except (TypeError, ValueError) as exc:
                raise ODSQLSyntaxError(f"{value!r} is not a date for {field}") from exc
        if self.fields[field] == "text":
            return str(value).removesuffix(".0") if kind == "num" else value
        if kind == "str":
            try:
                return float(value)
            except ValueError as exc:
                raise ODSQLSyntaxError(f"{value!r} is not a number for {field}") from exc
        return value

    def predicate(self) -> Mask:
        name = self.field()
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect("punct", "(")
            values = [self.literal(name)]
            while self.peek() == ("punct", ","):
                self.i += 1
                values.append(self.literal(name))
            self.expect("punct", ")")
            if negate:
                return lambda df: ~df[name].isin(values).to_numpy()
            return lambda df: df[name].isin(values).to_numpy()
        if negate:
            raise ODSQLSyntaxError("NOT after a field name must be followed by IN")
        op = self.expect("op")
        value = self.literal(name)
        ops: dict[str, Callable[[pd.Series, Any], pd.Series]] = {
            "=": lambda s, v: s == v,
            "!=": lambda s, v: s != v,
            "<>": lambda s, v: s != v,
            "<": lambda s, v: s < v,
            "<=": lambda s, v: s <= v,
            ">": lambda s, v: s > v,
            ">=": lambda s, v: s >= v,
        }
        fn = ops[op]
        return lambda df: fn(df[name], value).fillna(False).to_numpy(dtype=bool)


def _as_utc(stamp: pd.Timestamp, tz: str) -> pd.Timestamp:
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz, nonexistent="shift_forward", ambiguous=True)
    return stamp.tz_convert("UTC")


def compile_where(text: str, fields: dict[str, str], tz: str = "UTC") -> Mask:
    r"""Compile a ``where`` expression into a function returning a boolean mask of a frame.

    Parameters
    ----------
    text : str
        The ODSQL expression.
    fields : dict
        Field name -> ``"text"``, ``"double"`` or ``"datetime"`` (datetime columns must be
        tz-aware UTC in the frame).
    tz : str, default "UTC"
        Time zone of date literals without an offset.

    Returns
    -------
    callable
        ``mask(frame) -> numpy bool array``.

    Raises
    ------
    ODSQLSyntaxError
        Malformed expression or unknown field.

    Examples
    --------
    >>> df = pd.DataFrame({"iu_ac": ["1", "2", "3"],
    ...                    "t_1h": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"],
    ...                                           utc=True)})
    >>> m = compile_where("t_1h >= date'2024-02-01' AND iu_ac IN ('1', '3')",
    ...                   {"iu_ac": "text", "t_1h": "datetime"})
    >>> m(df).tolist()
    [False, False, True]
    """
    if not text.strip():
        raise ODSQLSyntaxError("empty expression")
    return _Parser(text, fields, tz).parse()
