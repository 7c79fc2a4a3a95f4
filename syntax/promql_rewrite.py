"""Give every metric selector of a PromQL query the team's matchers, changing nothing else.

Grafana stores queries with its own syntax inside (`$__rate_interval`, `${instance}`, `[[job]]`),
and a person reads them in the panel editor, so the rewritten query must be the original text
with matchers added and not one character more. `promql-parser` parses but cannot print an
expression back as it was written (`bar` comes back as `bar{}`, spacing and comments are lost,
Grafana's macros are not PromQL at all), so the rewrite works on tokens of the original text:

1. a small PromQL tokenizer that knows Grafana's variable syntax (strings, comments and
   variables are opaque), and a scan that finds every metric selector: a metric name that is
   not a function, keyword or grouping label, with or without `{...}`, or a bare `{...}`;
2. the matchers go in at each selector: `foo` -> `foo{M}`, `foo{a="b"}` -> `foo{a="b", M}`;
3. proof with the real parser: the original and the rewritten text (Grafana variables given
   values that parse) must parse to the same tree, selector for selector, except that every
   selector now carries the matchers. A selector the scan missed fails that check.

Grafana's variable syntax is its own `variableRegex` (grafana/grafana,
public/app/features/variables/utils.ts): `$var`, `[[var]]`, `[[var:fmt]]`, `${var}`,
`${var.field}`, `${var:fmt}`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import promql_parser as pp

from syntax.promql import MACROS, parse_text
from syntax.template import SELECTOR  # the placeholder teams write by hand; injected as it is

VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")
_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[a-zA-Z0-9_]*")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_OPERATORS = ("==", "!=", "<=", ">=", "=~", "!~", "(", ")", "{", "}", "[", "]", ",", "+", "-", "*", "/", "%",
              "^", "<", ">", "=", "@")
_LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_OPERATOR_KEYWORDS = {"and", "or", "unless", "bool", "atan2"}
_NUMBER_WORDS = {"inf", "nan"}
_AGGREGATIONS = {"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk",
                 "count_values", "quantile", "limitk", "limit_ratio"}
# The matcher the proof injects where the real matchers go: no query names it.
_PROOF = ("__adopt_scope__", "=", "1")
_PROOF_TEXT = '__adopt_scope__="1"'


# Grafana's global variables are `$__name`: the ones a Prometheus query may hold (the macros of
# syntax.promql, and `$__from`/`$__to`, e.g. `@ ${__to:date:seconds}`) get stand-ins; any other is
# a typo the parser must report.
_GLOBALS = {m.strip("${}") for m in MACROS} | {"__from", "__to"}


class RewriteError(ValueError):
    """A query the team's matchers cannot be given faithfully; the message says why."""


@dataclass(frozen=True)
class Token:
    kind: str  # space, comment, string, variable, number, ident, punct
    text: str


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(expr):
        c = expr[i]
        if m := _SPACE.match(expr, i):
            tokens.append(Token("space", m.group()))
        elif c == "#":
            end = expr.find("\n", i)
            end = len(expr) if end < 0 else end
            tokens.append(Token("comment", expr[i:end]))
            i = end
            continue
        elif c in "\"'`":
            end = _string_end(expr, i)
            tokens.append(Token("string", expr[i:end]))
            i = end
            continue
        elif m := VARIABLE.match(expr, i):
            tokens.append(Token("variable", m.group()))
        elif m := _NUMBER.match(expr, i):
            tokens.append(Token("number", m.group()))
        elif m := _IDENT.match(expr, i):
            tokens.append(Token("ident", m.group()))
        else:
            op = next((op for op in _OPERATORS if expr.startswith(op, i)), None)
            if op is None:
                raise RewriteError(f"unexpected character {c!r} at {i}: {expr}")
            tokens.append(Token("punct", op))
            i += len(op)
            continue
        i += len(tokens[-1].text)
    return tokens


def _string_end(expr: str, start: int) -> int:
    quote, i = expr[start], start + 1
    while i < len(expr):
        if expr[i] == "\\" and quote != "`":
            i += 2
            continue
        if expr[i] == quote:
            return i + 1
        i += 1
    raise RewriteError(f"unterminated string at {start}: {expr}")


@dataclass
class _Word:
    """Adjacent identifier, number and variable tokens: `http_requests_total`, `${prefix}_total`, `5m`."""

    first: int  # token indexes, inclusive
    last: int
    text: str
    kinds: frozenset[str]

    @property
    def lone_variable(self) -> bool:
        return self.kinds == {"variable"}


@dataclass
class _Selector:
    name: _Word | None
    open: int | None  # index of `{` and `}` when the selector has braces
    close: int | None


class _Scan:
    """Find the metric selectors of a tokenized query, and what each variable stands for."""

    def __init__(self, expr: str, tokens: list[Token]):
        self.expr = expr
        self.tokens = tokens
        self.items = self._items()  # significant tokens and words, in order
        self.selectors: list[_Selector] = []
        # For the proof: a parseable stand-in for each variable token (by token index).
        self.stand_ins: dict[int, str] = {}
        self.value_variables: list[str] = []
        self._run()

    def _items(self) -> list[_Word | int]:
        items: list[_Word | int] = []
        i = 0
        while i < len(self.tokens):
            token = self.tokens[i]
            if token.kind in ("space", "comment"):
                i += 1
                continue
            if token.kind in ("ident", "variable"):
                j = i
                while j + 1 < len(self.tokens) and self.tokens[j + 1].kind in ("ident", "variable", "number"):
                    j += 1
                span = self.tokens[i:j + 1]
                items.append(_Word(i, j, "".join(t.text for t in span), frozenset(t.kind for t in span)))
                i = j + 1
                continue
            items.append(i)
            i += 1
        return items

    def _punct(self, at: int) -> str | None:
        if at < len(self.items) and isinstance(self.items[at], int):
            token = self.tokens[self.items[at]]
            return token.text if token.kind == "punct" else None
        return None

    def _matching(self, at: int, open_: str, close: str) -> int:
        depth = 0
        for k in range(at, len(self.items)):
            p = self._punct(k)
            if p == open_:
                depth += 1
            elif p == close:
                depth -= 1
                if depth == 0:
                    return k
        raise RewriteError(f"unbalanced '{open_}': {self.expr}")

    def _variables_in(self, first: int, last: int, stand_in) -> None:
        for t in range(first, last + 1):
            token = self.tokens[t]
            if token.kind == "variable" and (not _name(token.text).startswith("__") or _name(token.text) in _GLOBALS):
                self.stand_ins[t] = stand_in(token.text)

    def _run(self) -> None:
        k = 0
        items = self.items
        while k < len(items):
            item = items[k]
            if isinstance(item, int):
                p = self._punct(k)
                if p == "{":  # a selector without a metric name: {__name__="x", ...}
                    close = self._matching(k, "{", "}")
                    self._selector(None, k, close)
                    k = close + 1
                    continue
                if p == "[":  # a range or subquery: durations only
                    close = self._matching(k, "[", "]")
                    self._variables_in(items[k], items[close], _duration)
                    k = close + 1
                    continue
                if p == "@":  # `@ 1609746000`, `@ start()`
                    k += 1
                    if k < len(items) and isinstance(items[k], _Word) and self._punct(k + 1) != "(":
                        self._variables_in(items[k].first, items[k].last, _number)
                        k += 1
                    continue
                k += 1
                continue
            word = item.text.lower()
            following = self._punct(k + 1)
            if word in _LABEL_LIST_KEYWORDS:
                if following == "(":
                    close = self._matching(k + 1, "(", ")")
                    self._variables_in(items[k + 1], items[close], lambda _: "__grafana_variable")
                    k = close + 1
                else:
                    k += 1
                continue
            if word == "offset":
                k += 1
                if self._punct(k) == "-":
                    k += 1
                if k < len(items) and isinstance(items[k], _Word):
                    self._variables_in(items[k].first, items[k].last, _duration)
                    k += 1
                continue
            if word in _OPERATOR_KEYWORDS or word in _NUMBER_WORDS and item.kinds == {"ident"}:
                k += 1
                continue
            if following == "(":  # a function or an aggregation
                self._variables_in(item.first, item.last, lambda _: "__grafana_variable")
                k += 1
                continue
            if word in _AGGREGATIONS and isinstance(items[k + 1] if k + 1 < len(items) else None, _Word) \
                    and items[k + 1].text.lower() in ("by", "without"):
                k += 1
                continue
            if item.lone_variable and following not in ("{", "["):
                # A value (`topk($n, ...)`, `> $threshold`), not a selector.
                self._variables_in(item.first, item.last, _number)
                self.value_variables.append(item.text)
                k += 1
                continue
            self._variables_in(item.first, item.last, lambda _: "__grafana_variable")
            if following == "{":
                close = self._matching(k + 1, "{", "}")
                self._selector(item, k + 1, close)
                k = close + 1
            else:
                self.selectors.append(_Selector(item, None, None))
                k += 1

    def _selector(self, name: _Word | None, open_: int, close: int) -> None:
        first, last = self.items[open_], self.items[close]
        self._variables_in(first, last, lambda _: "__grafana_variable")  # label names; values are strings
        self.selectors.append(_Selector(name, first, last))


def _name(variable: str) -> str:
    m = VARIABLE.fullmatch(variable)
    return next((g for g in (m.group(1), m.group(2), m.group(4)) if g), "") if m else ""


def _duration(variable: str) -> str:
    return "1m"  # a variable in a range or after `offset` stands for a duration


def _number(variable: str) -> str:
    return "1"  # one standing alone stands for a number: `topk($n, ...)`, `> $threshold`


def stand_ins(expr: str) -> str:
    """`expr` with every Grafana variable outside strings replaced by something that parses in its place.

    For parse-only checks (selectors, metric contract); Grafana's macros should be given values
    first (syntax.promql.substitute_macros). An expression that does not tokenize is returned
    as it is, for the parser to report.
    """
    try:
        tokens = tokenize(expr)
        return _join(tokens, {}, _Scan(expr, tokens).stand_ins)
    except RewriteError:
        return expr


# --------------------------------------------------------------------------------------------
# Matchers
# --------------------------------------------------------------------------------------------

Matcher = tuple[str, str, str]  # (label, operator as written: = != =~ !~, value)
_OPS = {str(pp.MatchOp.Equal): "=", str(pp.MatchOp.NotEqual): "!=", str(pp.MatchOp.Re): "=~", str(pp.MatchOp.NotRe): "!~"}


def _matchers_of(node: pp.VectorSelector) -> set[Matcher]:
    return {(m.name, _OPS[str(m.op)], m.value) for m in node.matchers.matchers}


def parse_matchers(selector: str) -> list[Matcher]:
    """`job="a", env=~"p.*"` as ordered (label, operator, value) triples; RewriteError if not matchers."""
    try:
        node = parse_text("{" + selector + "}")
    except ValueError as e:
        raise RewriteError(f"not valid label matchers ({e}): {selector}") from None
    by_text = _matchers_of(node)
    # The parser's set has no order; keep the order they are written in.
    order = [m.group(1) for m in re.finditer(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", _strip_strings(selector))]
    return sorted(by_text, key=lambda m: (order.index(m[0]) if m[0] in order else len(order), m))


def _strip_strings(text: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', text)


def matcher_text(matcher: Matcher) -> str:
    name, op, value = matcher
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}{op}"{escaped}"'


# --------------------------------------------------------------------------------------------
# The rewrite
# --------------------------------------------------------------------------------------------

def scope(expr: str, selector: str) -> str:
    """`expr` with `selector`'s matchers in every metric selector, every other character kept.

    `selector` is label matchers (`job="api", env="prod"`) or the placeholder `%(selector)s`,
    which goes in as it is (a stack fills it in later). A selector that already has one of the
    matchers does not get it twice; one that says the opposite (`job="other"` for a team whose
    selector is `job="api"`) could never return data, so it is refused. RewriteError when the
    query is not PromQL or when a selector cannot be given the matchers faithfully.
    """
    placeholder = selector == SELECTOR
    if SELECTOR in expr:  # scoped by hand, perhaps not everywhere: fill the placeholder, then scope the rest
        concrete = _PROOF_TEXT if placeholder else selector
        out = scope(expr.replace(SELECTOR, concrete), concrete)
        return out.replace(_PROOF_TEXT, SELECTOR) if placeholder else out
    required = [] if placeholder else parse_matchers(selector)
    tokens = tokenize(expr)
    scan = _Scan(expr, tokens)
    if not scan.selectors and scan.value_variables and re.fullmatch(r"[\s()]*", expr.replace(scan.value_variables[0], "", 1)):
        raise RewriteError(f"the query is the variable {scan.value_variables[0]}: the metrics it stands for cannot be "
                           f"given the team's selector; write the query out: {expr}")
    inserts: dict[int, str] = {}  # token index -> text inserted before it
    proof_inserts: dict[int, str] = {}
    for sel in scan.selectors:
        existing = _existing_matchers(tokens, sel, expr)
        _refuse_conflicts(expr, sel, existing, required)
        missing = [m for m in required if m not in existing]
        text = SELECTOR if placeholder else ", ".join(matcher_text(m) for m in missing)
        if not text:
            continue
        if sel.open is None:  # `foo` -> `foo{M}`
            at = sel.name.last + 1
            inserts[at], proof_inserts[at] = "{" + text + "}", "{" + _PROOF_TEXT + "}"
        else:  # `foo{a="b"}` -> `foo{a="b", M}`
            inside = [t for t in tokens[sel.open + 1:sel.close] if t.kind not in ("space", "comment")]
            sep = ", " if inside and inside[-1].text != "," else ""
            inserts[sel.close], proof_inserts[sel.close] = sep + text, sep + _PROOF_TEXT
    rewritten = _join(tokens, inserts)
    _prove(expr, tokens, scan, proof_inserts, required)
    return rewritten


def _join(tokens: list[Token], inserts: dict[int, str], stand_ins: dict[int, str] | None = None) -> str:
    parts = []
    for i, token in enumerate(tokens):
        parts.append(inserts.get(i, ""))
        parts.append(stand_ins[i] if stand_ins and i in stand_ins else token.text)
    parts.append(inserts.get(len(tokens), ""))
    return "".join(parts)


def _existing_matchers(tokens: list[Token], sel: _Selector, expr: str) -> set[Matcher]:
    if sel.open is None:
        return set()
    inside = "".join(t.text for t in tokens[sel.open + 1:sel.close])
    if VARIABLE.search(_strip_strings(inside)):
        return set()  # a templated label name: nothing to compare
    try:
        # With the proof's matcher beside them: `{a!="b"}` alone is not PromQL.
        node = parse_text("{" + inside.rstrip().rstrip(",") + ", " + _PROOF_TEXT + "}") if inside.strip() else None
    except ValueError as e:
        raise RewriteError(f"invalid PromQL ({e}): {expr}") from None
    return _matchers_of(node) - {_PROOF} if node else set()


def _refuse_conflicts(expr: str, sel: _Selector, existing: set[Matcher], required: list[Matcher]) -> None:
    """A matcher of the query that no series of the team's selector can pass: the panel would stay empty."""
    wanted = {name: value for name, op, value in required if op == "="}
    for name, op, value in sorted(existing):
        if name not in wanted or VARIABLE.search(value) or (name, op, value) in required:
            continue
        team = wanted[name]
        try:
            matches = re.fullmatch(value, team) is not None if op in ("=~", "!~") else value == team
        except re.error:
            continue  # RE2 syntax Python does not read: Prometheus will judge it
        if matches != (op in ("=", "=~")):
            what = sel.name.text if sel.name else "{...}"
            raise RewriteError(f"`{what}` selects {name}{op}\"{value}\" but the team's selector is {name}=\"{team}\": "
                               f"the panel could never show data; drop that matcher or fix the selector: {expr}")


def _prove(expr: str, tokens: list[Token], scan: _Scan, proof_inserts: dict[int, str],
           required: list[Matcher]) -> None:
    """Parse the original and the rewrite (variables given values): same tree, matchers added."""
    try:
        before = parse_text(_join(tokens, {}, scan.stand_ins))
    except ValueError as e:
        if scan.value_variables:
            raise RewriteError(f"{', '.join(scan.value_variables)} must stand for a number here, else the query "
                               f"is not PromQL ({e}); a variable standing for a metric or a whole query cannot "
                               f"be given the team's selector: {expr}") from None
        raise RewriteError(f"invalid PromQL ({e}): {expr}") from None
    after = parse_text(_join(tokens, proof_inserts, scan.stand_ins))
    old, new = list(_nodes(before)), list(_nodes(after))
    if [type(n) for n in old] != [type(n) for n in new]:
        raise RewriteError(f"the rewrite changed the query's structure; scope it by hand: {expr}")
    required_set = set(required)
    for a, b in zip(old, new):
        if _shape(a) != _shape(b):
            raise RewriteError(f"the rewrite changed `{a}`; scope it by hand: {expr}")
        if isinstance(a, pp.VectorSelector):
            had, has = _matchers_of(a), _matchers_of(b)
            if has - had - {_PROOF} or not had <= has:
                raise RewriteError(f"the rewrite changed the matchers of `{a}`; scope it by hand: {expr}")
            if _PROOF not in has and not (required_set and required_set <= had):
                raise RewriteError(f"selector `{a}` was not found in the text; scope it by hand: {expr}")


def _shape(node: pp.Expr) -> tuple:
    """What a node says apart from its children (and, for selectors, apart from its matchers)."""
    if isinstance(node, pp.VectorSelector):
        return node.name, node.offset, str(node.at.at) if node.at else None
    if isinstance(node, pp.BinaryExpr):
        m = node.modifier
        return str(node.op), (m.return_bool, str(m.card), str(m.matching.type) if m.matching else None,
                              tuple(m.matching.labels or ()) if m.matching else (), tuple(m.group_labels or ())) if m else None
    if isinstance(node, pp.AggregateExpr):
        m = node.modifier
        return str(node.op), (str(m.type), tuple(m.labels or ())) if m else None
    if isinstance(node, pp.Call):
        return node.func.name, len(node.args)
    if isinstance(node, pp.MatrixSelector):
        return (node.range,)
    if isinstance(node, pp.SubqueryExpr):
        return node.range, node.step, node.offset
    if isinstance(node, pp.NumberLiteral):
        return (repr(node.val),)
    if isinstance(node, pp.StringLiteral):
        return (node.val,)
    return ()


def _nodes(root: pp.Expr) -> Iterator[pp.Expr]:
    found: list[pp.Expr] = []
    pp.walk(root, found.append)
    return iter(found)


# --------------------------------------------------------------------------------------------
# Query variables
# --------------------------------------------------------------------------------------------

# Grafana's own patterns for Prometheus variable queries (grafana/grafana,
# public/app/plugins/datasource/prometheus/migrations/variableMigration.ts; the label_values one
# is the pre-interpolation form).
LABEL_NAMES = re.compile(r"^label_names\(\)\s*$")
LABEL_NAMES_MATCH = re.compile(r"^label_names\((.+)\)\s*$", re.S)
LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?([a-zA-Z_$][a-zA-Z0-9_]*)\)\s*$", re.S)
METRICS = re.compile(r"^metrics\((.+)\)\s*$", re.S)
QUERY_RESULT = re.compile(r"^query_result\((.+)\)\s*$", re.S)


def scope_variable_query(query: str, selector: str) -> tuple[str, str | None]:
    """A Prometheus query variable's query with the matchers in, and a note when its form changed.

    `label_values(metric{...}, label)`, `query_result(expr)`, `label_names(match)` and series
    queries get the matchers in their selectors; `label_values(label)` and `label_names()`
    gain the selector `{M}`; `metrics(regex)` (which cannot take a selector) becomes the
    equivalent `label_values({M, __name__=~".*(?:regex).*"}, __name__)`.
    """
    inner = selector
    if LABEL_NAMES.match(query):
        return f"label_names({{{inner}}})", None
    if m := LABEL_VALUES.match(query):
        if m.group(1) is None:
            return query[:m.start(2)] + f"{{{inner}}}, " + query[m.start(2):], None
        return query[:m.start(1)] + scope(m.group(1), selector) + query[m.end(1):], None
    if m := LABEL_NAMES_MATCH.match(query):
        return query[:m.start(1)] + scope(m.group(1), selector) + query[m.end(1):], None
    if m := METRICS.match(query):
        regex = m.group(1).strip()
        quoted = regex.replace("\\", "\\\\").replace('"', '\\"')
        return (f'label_values({{{inner}, __name__=~".*(?:{quoted}).*"}}, __name__)',
                f"metrics({regex}) cannot take a selector: it became label_values(..., __name__)")
    if m := QUERY_RESULT.match(query):
        return query[:m.start(1)] + scope(m.group(1), selector) + query[m.end(1):], None
    return scope(query, selector), None
