"""PromQL checks done in-process: parse every expression, and find selectors missing the team's labels."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Mapping

import promql_parser

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


def substitute_macros(expr: str, values: Mapping[str, str] = MACROS) -> str:
    """`expr` with each of Grafana's macros replaced by its value in `values` (one for every macro of MACROS)."""
    return _MACRO.sub(lambda m: values[m.group(0)], expr)


def parse(expr: str, values: Mapping[str, str] = MACROS, variables: bool = False) -> promql_parser.Expr:
    """The parsed expression, macros given `values`; ValueError with the parser's reason when it is not valid PromQL.

    With `variables`, a dashboard query's template variables (`$instance`, `[[q]]`, as imported
    dashboards have them) get stand-ins that parse; an alert expression has none (Prometheus would refuse them).
    """
    text = substitute_macros(expr, values)
    if variables and ("$" in text or "[[" in text):
        from dashboards.promql_rewrite import stand_ins  # here: the dashboards package imports this module
        text = stand_ins(text)
    try:
        return promql_parser.parse(text)
    except ValueError as e:
        raise ValueError(f"invalid PromQL ({e}): {expr}") from None


def matchers(selector: str) -> set[tuple[str, str, str]]:
    """`job="a", env="prod"` as a set of (label, operator, value); ValueError unless `selector` is
    label matchers alone (PromQL such as `a="b"} or vector(1)` would parse, and mean something else)."""
    node = parse("{" + selector + "}")
    if not isinstance(node, promql_parser.VectorSelector) or node.name or node.offset or node.at:
        raise ValueError("write label matchers only, e.g. job=\"api\", env=~\"prod|staging\"")
    return {(m.name, str(m.op), m.value) for m in node.matchers.matchers}


def metrics_without(expr: str, required: set[tuple[str, str, str]], variables: bool = False) -> list[str]:
    """Metric names in `expr` whose selector lacks one of the `required` matchers."""
    missing: list[str] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            have = {(m.name, str(m.op), m.value) for m in node.matchers.matchers}
            if not required <= have:
                missing.append(node.name or str(node))

    promql_parser.walk(parse(expr, variables=variables), visit)
    return missing


def number(value: float) -> str:
    """A number as a person writes it in PromQL: 1e9 -> `1000000000`, 5.9e-07 -> `0.00000059`."""
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
