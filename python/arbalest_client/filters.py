"""Filters: an expression builder (``col("price") < 10``) and a SQL-like ``where`` string
parser, both compiling to the server's filter JSON (docs/protocol.md: ``{"field", "op",
"value"}`` nodes, nested with ``{"logic": "and"|"or"|"not", "filters": [...]}``).

Builder::

    (col("price") < 10) & col("tag").isin(["a", "b"])
    ~col("tag").startswith("draft") | col("score").is_null()

``where`` strings (see :func:`parse_where` for the grammar)::

    "price < 10 and tag in ('a', 'b')"
    "not (tag like 'draft%') or score is null"
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math
from typing import Any, Iterable

from .errors import InvalidArgument, WhereSyntaxError

__all__ = ["Expr", "Column", "col", "parse_where", "to_filter_json"]


def _plain(value: Any, what: str = "filter value") -> Any:
    """A JSON-serializable form of a filter value (numpy scalars, datetimes, decimals)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(f"{what} {value!r} is not a finite number")
        return float(value)
    if isinstance(value, _decimal.Decimal):
        return float(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars (np.int64, np.float32, np.str_, ...)
    if callable(item) and getattr(value, "shape", None) == ():
        return _plain(item(), what)
    if hasattr(value, "as_py"):  # pyarrow scalars
        return _plain(value.as_py(), what)
    raise InvalidArgument(f"{what} {value!r} of type {type(value).__name__} is not a number, "
                          "string, boolean, date or None")


class Expr:
    """A boolean filter: combine with ``&``, ``|`` and ``~``."""

    __array_ufunc__ = None  # numpy scalars defer to our reflected operators
    __hash__ = object.__hash__

    def to_json(self) -> dict:
        raise NotImplementedError

    def __and__(self, other):
        return _combine("and", self, other)

    def __or__(self, other):
        return _combine("or", self, other)

    def __rand__(self, other):
        return _Dangling("and", other, self)

    def __ror__(self, other):
        return _Dangling("or", other, self)

    def __invert__(self):
        return Not(self)

    def __bool__(self):
        raise TypeError(
            "a filter has no truth value: combine filters with & | ~ (not and/or/not), and "
            "parenthesize comparisons, e.g. (col('a') < 1) | (col('b') > 2)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()!r})"


class Comparison(Expr):
    def __init__(self, field: str, op: str, value: Any):
        self.field, self.op = field, op
        if op in ("in", "not in"):
            self.value = [_plain(v) for v in value]
        else:
            self.value = _plain(value)

    def to_json(self) -> dict:
        return {"field": self.field, "op": self.op, "value": self.value}

    def __invert__(self):
        flipped = {"in": "not in", "not in": "in", "=": "!=", "!=": "="}
        if self.op in flipped:  # also keeps null tests as = / != null
            return Comparison(self.field, flipped[self.op], self.value)
        return Not(self)


class Logic(Expr):
    def __init__(self, logic: str, operands: list[Expr]):
        self.logic, self.operands = logic, operands

    def to_json(self) -> dict:
        return {"logic": self.logic, "filters": [o.to_json() for o in self.operands]}


class Not(Expr):
    def __init__(self, operand: Expr):
        self.operand = operand

    def to_json(self) -> dict:
        return {"logic": "not", "filters": [self.operand.to_json()]}

    def __invert__(self):
        return self.operand


def _combine(logic: str, left, right) -> Expr:
    if isinstance(right, _Dangling) or not isinstance(right, Expr):
        return NotImplemented
    operands = []
    for side in (left, right):
        if isinstance(side, Logic) and side.logic == logic:
            operands.extend(side.operands)
        else:
            operands.append(side)
    return Logic(logic, operands)


class _Dangling:
    """``col("a") < 10 & f`` is parsed by Python as ``col("a") < (10 & f)``: ``&`` binds
    tighter than comparisons. ``10 & f`` becomes this, and the comparison that receives it
    builds ``(col("a") < 10) & f``, what was meant. Anything else done with it is an error."""

    __array_ufunc__ = None

    def __init__(self, logic: str, value: Any, rest: Expr):
        self.logic, self.value, self.rest = logic, value, rest

    def __bool__(self):
        raise TypeError(
            "ambiguous filter: Python's & and | bind tighter than comparisons; parenthesize "
            "each comparison, e.g. (col('a') < 1) & (col('b') > 2)")


class Column:
    """A column reference; comparisons give filters. ``col("a") == None`` tests for null."""

    __array_ufunc__ = None
    __hash__ = object.__hash__

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"column name must be a non-empty string, got {name!r}")
        self.name = name

    def _compare(self, op: str, value):
        if isinstance(value, _Dangling):
            left = self._compare(op, value.value)
            return _combine(value.logic, left, value.rest)
        if isinstance(value, (Column, Expr)):
            raise TypeError(f"{self.name} {op} ...: filters compare a column with a value, "
                            "not with another column or filter (parenthesize comparisons "
                            "combined with & and |)")
        if value is None and op not in ("=", "!="):
            raise InvalidArgument(f"null can only be compared with == or != (column "
                                  f"{self.name!r})")
        return Comparison(self.name, op, value)

    def __eq__(self, value):  # type: ignore[override]
        return self._compare("=", value)

    def __ne__(self, value):  # type: ignore[override]
        return self._compare("!=", value)

    def __lt__(self, value):
        return self._compare("<", value)

    def __le__(self, value):
        return self._compare("<=", value)

    def __gt__(self, value):
        return self._compare(">", value)

    def __ge__(self, value):
        return self._compare(">=", value)

    def isin(self, values: Iterable) -> Comparison:
        return Comparison(self.name, "in", _values(values, self.name))

    def not_in(self, values: Iterable) -> Comparison:
        return Comparison(self.name, "not in", _values(values, self.name))

    def contains(self, text: str) -> Comparison:
        return Comparison(self.name, "contains", text)

    def startswith(self, prefix: str) -> Comparison:
        return Comparison(self.name, "prefix", prefix)

    def is_null(self) -> Comparison:
        return Comparison(self.name, "=", None)

    def is_not_null(self) -> Comparison:
        return Comparison(self.name, "!=", None)

    def between(self, low, high) -> Expr:
        """low <= column <= high."""
        return Logic("and", [Comparison(self.name, ">=", low), Comparison(self.name, "<=", high)])

    def __and__(self, other):
        raise TypeError(f"col({self.name!r}) is a column, not a filter: compare it first, and "
                        "parenthesize comparisons combined with & and |")

    __or__ = __rand__ = __ror__ = __invert__ = __and__

    def __bool__(self):
        raise TypeError(f"col({self.name!r}) has no truth value")

    def __repr__(self) -> str:
        return f"col({self.name!r})"


def _values(values, name) -> list:
    if isinstance(values, (str, bytes)):
        raise InvalidArgument(f"isin on {name!r} takes a list of values, not a string")
    out = list(values.tolist() if hasattr(values, "tolist") else values)
    if not out:
        raise InvalidArgument(f"isin on {name!r} needs at least one value")
    return out


def col(name: str) -> Column:
    """A column to filter on: ``col("price") < 10``."""
    return Column(name)


# -- where strings --------------------------------------------------------------------------

_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "like", "between",
             "contains", "startswith"}
_OPERATORS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")


class _Token:
    __slots__ = ("kind", "value", "pos", "text")

    def __init__(self, kind, value, pos, text):
        self.kind, self.value, self.pos, self.text = kind, value, pos, text

    def __repr__(self):
        return f"{self.kind}:{self.value!r}@{self.pos}"


def _tokenize(text: str) -> list[_Token]:
    """Kinds: ident, keyword, number, string, op, '(' ')' ',' and end."""
    tokens, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        start = i
        if c in "(),":
            tokens.append(_Token(c, c, i, c))
            i += 1
        elif c in "'\"":  # a string literal; the quote doubled inside stands for itself
            quote, i, chars = c, i + 1, []
            while True:
                if i >= n:
                    raise WhereSyntaxError("unterminated string", text, start)
                if text[i] == quote:
                    if i + 1 < n and text[i + 1] == quote:
                        chars.append(quote)
                        i += 2
                        continue
                    i += 1
                    break
                if text[i] == "\\" and i + 1 < n and text[i + 1] in ("\\", quote):
                    chars.append(text[i + 1])
                    i += 2
                    continue
                chars.append(text[i])
                i += 1
            tokens.append(_Token("string", "".join(chars), start, text[start:i]))
        elif c == "`":  # a quoted column name
            end = text.find("`", i + 1)
            if end == -1:
                raise WhereSyntaxError("unterminated `quoted` column name", text, start)
            if end == i + 1:
                raise WhereSyntaxError("empty column name", text, start)
            tokens.append(_Token("ident", text[i + 1:end], start, text[start:end + 1]))
            i = end + 1
        elif c.isdigit() or (c in "+-." and i + 1 < n and
                             (text[i + 1].isdigit() or text[i + 1] == ".")):
            i += 1
            while i < n and (text[i].isalnum() or text[i] in "._" or
                             (text[i] in "+-" and text[i - 1] in "eE")):
                i += 1
            raw = text[start:i].replace("_", "")
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    raise WhereSyntaxError(f"malformed number {text[start:i]!r}", text,
                                           start) from None
                if not math.isfinite(value):
                    raise WhereSyntaxError(f"number {text[start:i]!r} is not finite", text,
                                           start)
            tokens.append(_Token("number", value, start, text[start:i]))
        elif c.isalpha() or c == "_":
            while i < n and (text[i].isalnum() or text[i] in "_."):
                i += 1
            word = text[start:i]
            if word.lower() in _KEYWORDS:
                tokens.append(_Token("keyword", word.lower(), start, word))
            else:
                tokens.append(_Token("ident", word, start, word))
        else:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    tokens.append(_Token("op", op, i, op))
                    i += len(op)
                    break
            else:
                raise WhereSyntaxError(f"unexpected character {c!r}", text, i)
    tokens.append(_Token("end", None, n, "end of input"))
    return tokens


class _Parser:
    """Recursive descent over the grammar in :func:`parse_where`."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, message: str, token: _Token | None = None):
        token = token or self.tok
        found = "the end of input" if token.kind == "end" else repr(token.text)
        raise WhereSyntaxError(f"where: {message}, found {found}", self.text, token.pos)

    def accept(self, kind: str, value=None) -> _Token | None:
        tok = self.tok
        if tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, value=None, what: str = "") -> _Token:
        tok = self.accept(kind, value)
        if tok is None:
            self.error(f"expected {what or value or kind}")
        return tok

    def parse(self) -> Expr:
        if self.tok.kind == "end":
            self.error("expected a condition")
        expr = self.or_expr()
        if self.tok.kind != "end":
            self.error("expected 'and', 'or' or the end")
        return expr

    def or_expr(self) -> Expr:
        operands = [self.and_expr()]
        while self.accept("keyword", "or"):
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Logic("or", operands)

    def and_expr(self) -> Expr:
        operands = [self.not_expr()]
        while self.accept("keyword", "and"):
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else Logic("and", operands)

    def not_expr(self) -> Expr:
        if self.accept("keyword", "not"):
            return Not(self.not_expr())
        return self.predicate()

    def predicate(self) -> Expr:
        if self.accept("("):
            expr = self.or_expr()
            self.expect(")", what="')'")
            return expr
        if self.tok.kind in ("number", "string") or \
                (self.tok.kind == "keyword" and self.tok.value in ("true", "false", "null")):
            return self.reversed_comparison()
        name_tok = self.tok
        if name_tok.kind != "ident":
            self.error("expected a column name, a literal or '('")
        self.i += 1
        name = name_tok.value
        if op := self.accept("op"):
            value_tok = self.tok
            value = self.literal()
            if value is None and op.value not in ("=", "==", "!=", "<>"):
                self.error("null can only be compared with = or !=", value_tok)
            return Comparison(name, _canonical(op.value), value)
        negated = bool(self.accept("keyword", "not"))
        if self.accept("keyword", "in"):
            return Comparison(name, "not in" if negated else "in", self.literal_list())
        if self.accept("keyword", "like"):
            return self.like(name, negated)
        if self.accept("keyword", "between"):
            low = self.literal()
            self.expect("keyword", "and", "'and'")
            high = self.literal()
            expr = Logic("and", [Comparison(name, ">=", low), Comparison(name, "<=", high)])
            return Not(expr) if negated else expr
        if not negated:
            if self.accept("keyword", "is"):
                is_not = bool(self.accept("keyword", "not"))
                self.expect("keyword", "null", "'null'")
                return Comparison(name, "!=" if is_not else "=", None)
            for word, op in (("contains", "contains"), ("startswith", "prefix")):
                if self.accept("keyword", word):
                    return Comparison(name, op, self.string(word))
        self.error(f"expected an operator after column {name!r} (=, !=, <, <=, >, >=, in, "
                   "not in, like, between, is null, contains, startswith)")

    def reversed_comparison(self) -> Expr:
        """``10 > price`` is ``price < 10``."""
        value_tok = self.tok
        value = self.literal()
        op = self.expect("op", what="a comparison operator")
        name = self.expect("ident", what="a column name").value
        if value is None and op.value not in ("=", "==", "!=", "<>"):
            self.error("null can only be compared with = or !=", value_tok)
        flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op.value, op.value)
        return Comparison(name, _canonical(flipped), value)

    def literal(self):
        tok = self.tok
        if tok.kind in ("number", "string"):
            self.i += 1
            return tok.value
        if tok.kind == "keyword" and tok.value in ("true", "false", "null"):
            self.i += 1
            return {"true": True, "false": False, "null": None}[tok.value]
        self.error("expected a value (a number, a 'string', true, false or null)")

    def string(self, what: str) -> str:
        tok = self.tok
        if tok.kind != "string":
            self.error(f"expected a 'string' after {what}")
        self.i += 1
        return tok.value

    def literal_list(self) -> list:
        self.expect("(", what="'(' opening the list")
        values = [self.literal()]
        while self.accept(","):
            values.append(self.literal())
        self.expect(")", what="',' or ')'")
        if any(v is None for v in values):
            self.error("null is not allowed in an 'in' list (use 'is null')",
                       self.tokens[self.i - 1])
        return values

    def like(self, name: str, negated: bool) -> Expr:
        tok = self.tok
        pattern = self.string("like")
        body = pattern
        if "_" in body.replace("\\_", ""):
            self.error("like patterns support only % at the start and/or end ('abc%', "
                       "'%abc%'); '_' is not supported", tok)
        lead, trail = body.startswith("%"), body.endswith("%") and len(body) > 1
        core = body[1 if lead else 0:len(body) - 1 if trail else len(body)]
        if "%" in core or not core:
            self.error("like patterns support only % at the start and/or end ('abc%', "
                       "'%abc%')", tok)
        if lead and trail:
            expr = Comparison(name, "contains", core)
        elif trail:
            expr = Comparison(name, "prefix", core)
        elif lead:
            self.error("like '%suffix' (a suffix match) is not supported by the server", tok)
        else:
            expr = Comparison(name, "=", core)
        return ~expr if negated else expr


def _canonical(op: str) -> str:
    return {"==": "=", "<>": "!="}.get(op, op)


def parse_where(text: str) -> Expr:
    """Parses a SQL-like condition into a filter.

    Grammar (keywords case-insensitive)::

        condition  := or_expr
        or_expr    := and_expr ("or" and_expr)*
        and_expr   := not_expr ("and" not_expr)*
        not_expr   := "not" not_expr | predicate
        predicate  := "(" or_expr ")"
                    | column op value | value op column
                    | column ["not"] "in" "(" value ("," value)* ")"
                    | column ["not"] "between" value "and" value
                    | column ["not"] "like" 'abc%' | '%abc%' | 'abc'
                    | column "is" ["not"] "null"
                    | column "contains" 'text' | column "startswith" 'text'
        op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
        value      := number | 'string' | "string" | true | false | null
        column     := name (letters, digits, _ and .) | `any name`

    Raises :class:`WhereSyntaxError` (an :class:`InvalidArgument`) with the position.
    """
    if not isinstance(text, str):
        raise InvalidArgument(f"where must be a string, got {type(text).__name__}")
    return _Parser(text).parse()


def to_filter_json(filter=None, where: str | None = None):
    """The server's ``filters`` value for a filter (Expr, a where string, a dict or list of
    filter JSON nodes), ANDed with ``where``; None when there is none."""
    parts = []
    for item in (filter, where):
        if item is None:
            continue
        if isinstance(item, str):
            item = parse_where(item)
        if isinstance(item, _Dangling):
            bool(item)
        if isinstance(item, Expr):
            parts.append(item.to_json())
        elif isinstance(item, dict):
            parts.append(item)
        elif isinstance(item, list):
            parts.extend(item)
        elif isinstance(item, Column):
            raise InvalidArgument(f"{item!r} is a column, not a filter: compare it to a value")
        else:
            raise InvalidArgument(f"filter must be a col(...) expression, a where string, or "
                                  f"filter JSON; got {type(item).__name__}")
    if not parts:
        return None
    return parts
