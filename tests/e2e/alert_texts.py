"""What an alert's summary and description must read once its template is expanded, from the render.

The rendered rule files (render/<stack>/rules/<team>.yaml) keep the annotations in Prometheus'
template dialect, the one promtool tests them in. Grafana must print the same text for the same
alert: `expected_text(template, labels, value)` expands the Prometheus template the way
Prometheus does (github.com/prometheus/prometheus, template/template.go: humanize,
humanize1024, humanizeDuration, humanizePercentage; printf is Go's fmt.Sprintf), for the alert's
labels and the value of its query A. The end-to-end test reads labels and `values.A` from
Grafana's webhook payload (Grafana docs, "Configure webhook notifications", the JSON payload) and
compares the texts Grafana sent with these. tests/e2e/test_parts.py checks this function against
the texts a real Prometheus renders for the same rules.

Only the constructs the teams use are understood; anything else raises UnsupportedTemplate naming it.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from tests.conftest import load_yaml


ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
LABEL = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")
PRINTF = re.compile(r'printf\s+"(%(?:\.\d+)?[fg])"\s+\$value')
PIPE = re.compile(r"\$value\s*\|\s*([A-Za-z0-9]+)")
CALL = re.compile(r"([A-Za-z0-9]+)\s+\$value")
TEXTS = ("summary", "description")


class UnsupportedTemplate(ValueError):
    pass


def _g(v: float) -> str:
    """Go's %.4g: NaN, +Inf and -Inf spelled as Go spells them."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return "%.4g" % v


def humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return _g(v) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _g(v) + prefix


def humanize1024(v: float) -> str:
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return _g(v) + prefix


def humanize_duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return _g(v)
    if v == 0:
        return _g(v) + "s"
    if abs(v) >= 1:
        sign, v = ("-", -v) if v < 0 else ("", v)
        whole = int(v)
        seconds, minutes, hours, days = whole % 60, whole // 60 % 60, whole // 3600 % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_g(v)}{prefix}s"


def humanize_percentage(v: float) -> str:
    return _g(v * 100) + "%"


FUNCTIONS = {"humanize": humanize, "humanize1024": humanize1024, "humanizeDuration": humanize_duration,
             "humanizePercentage": humanize_percentage}


def _printf(spec: str, v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return _g(v)
    return spec % v


def _action(body: str, labels: dict[str, str], value: float) -> str:
    body = body.strip()
    if m := LABEL.fullmatch(body):
        return labels.get(m.group(1), "")  # a missing label prints as "", as in Go templates over map[string]string
    if m := PRINTF.fullmatch(body):
        return _printf(m.group(1), value)
    if (m := PIPE.fullmatch(body) or CALL.fullmatch(body)) and m.group(1) in FUNCTIONS:
        return FUNCTIONS[m.group(1)](value)
    raise UnsupportedTemplate(f"`{{{{{body}}}}}` is not understood; known: $labels.<name>, printf \"%.Nf\" $value, "
                              f"$value | <fn> or <fn> $value with fn one of {', '.join(FUNCTIONS)}")


def expected_text(template: str, labels: dict[str, str], value: float) -> str:
    """The text Prometheus prints for `template` with these labels and $value."""
    return ACTION.sub(lambda m: _action(m.group(1), labels, value), template)


def rule_templates(rules_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(team, alert) -> {summary, description} templates of every rendered rule file in rules_dir."""
    templates = {}
    for path in sorted(rules_dir.glob("*.yaml")):
        for group in load_yaml(path.read_text())["groups"]:
            for rule in group["rules"]:
                templates[(group["name"], rule["alert"])] = {k: rule["annotations"][k] for k in TEXTS
                                                            if k in rule["annotations"]}
    return templates
