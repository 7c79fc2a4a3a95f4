"""PromQL done in-process: parse, walk, read selectors' matchers, find selectors missing the team's labels.

The one place the project reads PromQL (promql-parser, the Rust parser's Python binding): the
estate's selector checks, the metric contract, the dashboard lint, the synthetic history and the
promtool runner all parse selectors and walk expressions through these functions.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Iterator, Mapping, NamedTuple

import promql_parser as pp

# Grafana substitutes these before a query reaches Prometheus; give them concrete values to parse.
MACROS = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval_ms": "15000",
    "$__interval": "15s",
    "${__interval}": "15s",
    "$__range_s": "3600",
    "$__range_ms": "3600000",
    "$__range": "1h",
    "${__range}": "1h",
}
_MACRO = re.compile("|".join(re.escape(m) for m in sorted(MACROS, key=len, reverse=True)))
COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")


# What the Rust parser is given: it recurses without a bound and ends the process (a segmentation
# fault, no message) on ~10,000 nested parentheses or a chain of ~5,000 operators, and the walks here
# recurse once per level. No query a person writes comes near these; a file that does is refused.
MAX_NESTING = 64  # (, [ and { inside each other
MAX_OPERATORS = 500  # binary and unary operators, a bound on how deep a chain of them nests
_NOT_CODE = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`[^`]*`|#[^\n]*')  # strings, comments
_BRACKETS = re.compile(r"[()\[\]{}]")
_OPERATOR = re.compile(r"[-+*/%^]|[=!<>]=|[<>]|\b(?:and|or|unless|atan2)\b")


def parse_text(text: str) -> pp.Expr:
    """promql_parser's parse, for text within MAX_NESTING and MAX_OPERATORS: ValueError beyond them
    (and where the parser refuses the text)."""
    if len(text) > MAX_NESTING:  # shorter text is within both bounds; most queries are counted no further
        code = _NOT_CODE.sub('""', text)
        if sum(map(code.count, "([{")) > MAX_NESTING:
            depth = deepest = 0
            for character in _BRACKETS.findall(code):
                depth += 1 if character in "([{" else -1
                deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                raise ValueError(f"brackets nested more than {MAX_NESTING} deep")
        if len(code) > MAX_OPERATORS and len(_OPERATOR.findall(code)) > MAX_OPERATORS:
            raise ValueError(f"more than {MAX_OPERATORS} operators; split the query")
    node = pp.parse(text)
    if _LARGE_REPEAT.search(text):  # rare: only then are the regular expressions looked at
        _refuse_large_repeats(node)
    return node


# Prometheus compiles a matcher's regular expression with Go's regexp (RE2), which refuses a repeat
# count over 1000 (regexp/syntax: "invalid repeat count"); promql_parser's Rust engine takes it, so a
# selector `env=~"a{1001}"` would pass here and fail every query in Prometheus and Grafana.
RE2_MAX_REPEAT = 1000
_LARGE_REPEAT = re.compile(r"\{\s*[0-9]{4,}|,\s*[0-9]{4,}\s*\}")
_REPEAT = re.compile(r"(?<!\\)\{([0-9]+)(?:,([0-9]*))?\}")


def _refuse_large_repeats(node: pp.Expr) -> None:
    todo = [node]
    while todo:
        node = todo.pop()
        if isinstance(node, pp.VectorSelector):
            for m in (m for m in _matchers_of(node) if m.op in ("=~", "!~")):
                if any(int(n) > RE2_MAX_REPEAT for match in _REPEAT.finditer(m.value) for n in match.groups() if n):
                    raise ValueError(f"the regular expression of {m.name}{m.op} repeats more than {RE2_MAX_REPEAT} "
                                     "times, which Prometheus's regex engine (Go's RE2) refuses")
        todo += children(node)


def substitute_macros(expr: str, values: Mapping[str, str] = MACROS) -> str:
    """`expr` with each of Grafana's macros replaced by its value in `values` (one for every macro of MACROS)."""
    return _MACRO.sub(lambda m: values[m.group(0)], expr)


def parse(expr: str, values: Mapping[str, str] = MACROS, variables: bool = False) -> pp.Expr:
    """The parsed expression, macros given `values`; ValueError with the parser's reason when it is not valid PromQL.

    With `variables`, a dashboard query's template variables (`$instance`, `[[q]]`, as imported
    dashboards have them) get stand-ins that parse; an alert expression has none (Prometheus would refuse them).
    """
    text = substitute_macros(expr, values)
    if variables and ("$" in text or "[[" in text):
        from .promql_rewrite import stand_ins  # here: promql_rewrite builds on this module
        text = stand_ins(text)
    try:
        return parse_text(text)
    except ValueError as e:
        raise ValueError(f"invalid PromQL ({e}): {expr}") from None


# --- selectors ----------------------------------------------------------------------------------

class Matcher(NamedTuple):
    """One label matcher as written: `env="prod"` is Matcher("env", "=", "prod")."""

    name: str
    op: str  # =, !=, =~, !~
    value: str


_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def _matchers_of(node: pp.VectorSelector) -> tuple[Matcher, ...]:
    return tuple(Matcher(m.name, _OPS[str(m.op)], m.value) for m in node.matchers.matchers)


def matchers(selector: str) -> tuple[Matcher, ...]:
    """`job="a", env="prod"` as its matchers, in written order; ValueError unless `selector` is label
    matchers alone (PromQL such as `a="b"} or vector(1)` would parse, and mean something else)."""
    node = parse("{" + selector + "}")
    if not isinstance(node, pp.VectorSelector) or node.name or node.offset or node.at:
        raise ValueError("write label matchers only, e.g. job=\"api\", env=~\"prod|staging\"")
    return _matchers_of(node)


def selector_name(node: pp.VectorSelector) -> str | None:
    """The metric a selector names (`x{...}` or `{__name__="x"}`); None for none or a `__name__` regex."""
    if node.name:
        return node.name
    return next((m.value for m in _matchers_of(node) if m.name == "__name__" and m.op == "="), None)


def selector_matchers(node: pp.VectorSelector) -> tuple[Matcher, ...]:
    return _matchers_of(node)


# --- walking ------------------------------------------------------------------------------------

def children(node: pp.Expr) -> list[pp.Expr]:
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.AggregateExpr):
        return [n for n in (node.param, node.expr) if n is not None]
    if isinstance(node, pp.Call):
        return list(node.args)
    if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return [node.expr]
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    return []


def walk(node: pp.Expr, ancestors: tuple = ()) -> Iterator[tuple[pp.Expr, tuple]]:
    """Every node with its ancestors (nearest last)."""
    yield node, ancestors
    for child in children(node):
        yield from walk(child, ancestors + (node,))


def metrics_without(expr: str, required, variables: bool = False) -> list[str]:
    """Metric names in `expr` whose selector lacks one of the `required` matchers; `required` is a
    set of matchers, or a function of the metric name (a metric may come from its own source).
    `variables`: a dashboard query, whose template variables get stand-ins (see `parse`)."""
    need = required if callable(required) else (lambda _name, fixed=frozenset(required): fixed)
    lacking = []
    todo = [parse(expr, variables=variables)]  # in the order `walk` visits, without its ancestors
    while todo:
        node = todo.pop()
        if isinstance(node, pp.VectorSelector):
            name = selector_name(node)
            if not set(need(name)) <= set(_matchers_of(node)):
                lacking.append(name or str(node))
        else:
            todo += reversed(children(node))
    return lacking


# --- comparisons --------------------------------------------------------------------------------

def _filter_operand(node: pp.Expr) -> pp.Expr | None:
    """For `v > 3` (a comparison that filters, no `bool`, one side a number): the vector side."""
    if not isinstance(node, pp.BinaryExpr) or str(node.op) not in COMPARISONS:
        return None
    if node.modifier is not None and node.modifier.return_bool:
        return None
    if isinstance(node.rhs, pp.NumberLiteral) and not isinstance(node.lhs, pp.NumberLiteral):
        return node.lhs
    if isinstance(node.lhs, pp.NumberLiteral) and not isinstance(node.rhs, pp.NumberLiteral):
        return node.rhs
    return None


def without_filters(expr: str) -> str | None:
    """`expr` with every filtering comparison against a number removed (`up == 0` -> `(up)`).

    An alert's expression is empty while it does not fire; what it compares is what must return
    data. None when the expression has no such comparison or cannot be rewritten.
    """
    text = str(parse(expr))
    changed = False
    for _ in range(50):
        target = next(((n, operand) for n, _ in walk(parse_text(text))
                       if (operand := _filter_operand(n)) is not None), None)
        if target is None:
            return text if changed else None
        node, operand = target
        if str(node) not in text:
            return None
        text = text.replace(str(node), f"({operand})", 1)
        changed = True
    return None


_TRAILING = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$")


def split_comparison(expr: str) -> tuple[str, str | None, float | None]:
    """A Prometheus-style alert expression as (quantity, comparison, threshold): `x > 0.05` is
    ("x", ">", 0.05); (expr, None, None) when its top level is no comparison with a number (`bool`
    kept). The quantity is the text as written, and the parser confirms the split."""
    root = parse(expr)
    match = _TRAILING.search(expr)
    if (not isinstance(root, pp.BinaryExpr) or str(root.op) not in COMPARISONS or match is None
            or (root.modifier is not None and root.modifier.return_bool)
            or not isinstance(root.rhs, pp.NumberLiteral) or str(root.op) != match.group(1)):
        return expr, None, None
    quantity = expr[:match.start()].rstrip()
    try:
        if str(parse(quantity)) != str(root.lhs):
            return expr, None, None
    except ValueError:
        return expr, None, None
    return quantity, match.group(1), float(match.group(2))


ABSENCE = ("absent", "absent_over_time")


def without_absence(expr: str) -> str | None:
    """`expr` with each absent(x) / absent_over_time(x[5m]) replaced by what it watches (`x`, `x[5m]`
    taken at face value: `last_over_time`), so that what a guard looks for can be shown to exist.
    None when the expression watches nothing absent."""
    text = str(parse(expr))
    calls = [n for n, _ in walk(parse_text(text)) if isinstance(n, pp.Call) and n.func.name in ABSENCE]
    if not calls:
        return None
    for call in calls:
        arg = call.args[0]
        present = f"last_over_time({arg})" if isinstance(arg, pp.MatrixSelector) else str(arg)
        if str(call) not in text:
            return None
        text = text.replace(str(call), present, 1)
    return text


# Binary operators that bind less tightly than `*`: `a + b` times 100 needs parentheses, `a / b` does not.
_LOOSER_THAN_TIMES = {"+", "-", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"}


def times(expr: str, factor: str) -> str:
    """`expr * factor`, parenthesized only where PromQL's precedence needs it."""
    root = parse(expr)
    loose = isinstance(root, pp.BinaryExpr) and str(root.op) in _LOOSER_THAN_TIMES
    return f"({expr}) * {factor}" if loose else f"{expr} * {factor}"


def number(value: float) -> str:
    """A number as a person writes it in PromQL: 1e9 -> `1000000000`, 5.9e-07 -> `0.00000059`."""
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
