"""Alert texts from Prometheus' template dialect (what promtool tests) into Grafana's (what Grafana runs).

Both expand annotations and labels with Go's text/template and Prometheus' template functions, but
the data differs (docs/grafana-semantics.md):

- Prometheus: `$value` (and `.Value`) is the alert's sample value, a float64.
- Grafana-managed rules: `$value` is a string of every query's and expression's labels and values,
  `[ var='A' labels={instance=a} value=0.12 ], [ var='B' ... ]`; the number of query A is
  `$values.A.Value` (a float64). Grafana docs, "Annotation and label template reference",
  https://grafana.com/docs/grafana/latest/alerting/alerting-rules/templates/reference/ ; the data
  Grafana expands with is `Data{Labels, Values map[string]Value, Value string}` in grafana/grafana
  pkg/services/ngalert/state/template/template.go, whose `Expand` declares
  `$labels := .Labels`, `$values := .Values`, `$value := .Value`.
- Since Grafana 12.0, `$value` holds the query's number again when a rule queries a single
  datasource (grafana/grafana#102301, a float64 since 12.0.2: #106080); before 12, and in any rule
  with more than one datasource, it is the string above. `$values.A.Value` is right in every version.

So the Grafana rule gets `$values.A.Value` wherever team.yaml says `$value` or `.Value`: what
Grafana's own Prometheus-rule converter does (grafana/grafana pkg/services/ngalert/prom/template.go,
`VariableReplacer`, which renames `$value`/`.Value` to `.Values.<refID>.Value` on the parsed
template; grafana/grafana#102025). A is the query step of every rule (components/alert_rules.py).

The functions (humanize, humanize1024, humanizeDuration, humanizePercentage, printf, ...) are the
same in both: Grafana expands with prometheus/template's `NewTemplateExpander`, whose humanize*
functions take a float64 or a string they parse as a float (`convertToFloat`, prometheus/prometheus
template/template.go). On Grafana's `$value` string that parse fails and the whole annotation fails
to expand; `printf "%.2f"` prints `%!f(string=[ var='A' ... ])`. On `$values.A.Value` both print
what promtool tested.

Only what the teams use, and what behaves the same in both dialects, is accepted; anything else is
refused at load (ConfigError naming team.yaml and the alert) rather than sent to Grafana untested.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

QUERY_REF_ID = "A"  # the refId of the query step of every Grafana rule (components/alert_rules.py)
GRAFANA_VALUE = f"$values.{QUERY_REF_ID}.Value"

# name -> number of arguments (the piped value counts as the last one); printf is checked apart.
FUNCTIONS = {
    "humanize": 1, "humanize1024": 1, "humanizeDuration": 1, "humanizePercentage": 1,
    "toUpper": 1, "toLower": 1, "title": 1,
}
PRINTF = "printf"
KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
            "nil", "true", "false", "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index"}
SUPPORTED = ("$value, .Value, $labels.<name>, .Labels.<name>, string and number literals, pipelines, "
             f"and the functions {', '.join(sorted([*FUNCTIONS, PRINTF]))}")

_VERB = re.compile(r"%([-+# 0]*)([0-9]+|\*)?(?:\.([0-9]+|\*))?([a-zA-Z%])")
NUMBER_VERBS, TEXT_VERBS = set("eEfFgGv"), set("sqv")


class TemplateError(ValueError):
    """A template the platform will not send to Grafana; the message says what and why."""


@dataclass(frozen=True)
class Token:
    kind: str  # text, open, close, space, pipe, lparen, rparen, string, number, variable, field, ident, other
    text: str


# ---------------------------------------------------------------------------------------------
# Tokenizer: text and actions, as Go's text/template lexes them (default delimiters, trim markers).

_ACTION_TOKENS = [
    ("space", r"\s+?(?=\s-\}\})|\s+"),  # the space of a trim marker ` -}}` belongs to the delimiter
    ("pipe", r"\|"),
    ("lparen", r"\("),
    ("rparen", r"\)"),
    ("string", r'"(?:[^"\\\n]|\\.)*"|`[^`]*`'),
    ("char", r"'(?:[^'\\\n]|\\.)*'"),
    ("number", r"[+-]?(?:0[xX][0-9a-fA-F_]+|(?:[0-9][0-9_]*)?\.?[0-9][0-9_]*(?:[eE][+-]?[0-9]+)?)"),
    ("declare", r":?="),
    ("variable", r"\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"),
    ("field", r"(?:\.[A-Za-z0-9_]+)+|\."),
    ("ident", r"[A-Za-z_][A-Za-z0-9_]*"),
    ("comment", r"/\*.*?\*/"),
    ("other", r"."),
]
_ACTION = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _ACTION_TOKENS), re.S)
_OPEN = re.compile(r"\{\{(-\s)?")
_CLOSE = re.compile(r"(\s-)?\}\}")


def tokenize(template: str) -> list[Token]:
    """The template as tokens whose texts concatenate back to it exactly."""
    tokens: list[Token] = []
    at = 0
    while True:
        opening = _OPEN.search(template, at)
        if opening is None:
            if at < len(template):
                tokens.append(Token("text", template[at:]))
            return tokens
        if opening.start() > at:
            tokens.append(Token("text", template[at:opening.start()]))
        tokens.append(Token("open", opening.group()))
        at = opening.end()
        while True:
            closing = _CLOSE.match(template, at)
            if closing:
                tokens.append(Token("close", closing.group()))
                at = closing.end()
                break
            match = _ACTION.match(template, at)
            if match is None:
                raise TemplateError(f"unclosed action: '{{{{' at character {opening.start() + 1} has no '}}}}'")
            tokens.append(Token(match.lastgroup, match.group()))
            at = match.end()


# ---------------------------------------------------------------------------------------------
# Checker: the subset both dialects run the same way.

def _actions(tokens: list[Token]) -> Iterator[list[Token]]:
    action: list[Token] | None = None
    for token in tokens:
        if token.kind == "open":
            action = []
        elif token.kind == "close":
            yield action
            action = None
        elif action is not None:
            action.append(token)


def _show(tokens: Iterable[Token]) -> str:
    return "{{" + "".join(t.text for t in tokens) + "}}"


def _check_action(tokens: list[Token]) -> None:
    words = [t for t in tokens if t.kind != "space"]
    shown = _show(tokens)
    if not words:
        raise TemplateError(f"empty action {shown}")
    for token in words:
        if token.kind in ("comment", "declare", "char", "other"):
            what = {"comment": "a comment", "declare": "a variable declaration",
                    "char": "a character constant"}.get(token.kind, f"'{token.text}'")
            raise TemplateError(f"{shown} uses {what}, which is not supported; supported: {SUPPORTED}")
    position = 0

    def pipeline(closing: str | None) -> None:
        nonlocal position
        piped = False
        while True:
            command(piped)
            if position == len(words) or words[position].kind == closing:
                return
            if words[position].kind != "pipe":
                raise TemplateError(f"{shown}: unexpected '{words[position].text}'")
            position += 1
            piped = True

    def operand() -> str:
        """One argument; returns its kind: number, text or literal."""
        nonlocal position
        token = words[position]
        position += 1
        if token.kind == "lparen":
            pipeline("rparen")
            if position == len(words) or words[position].kind != "rparen":
                raise TemplateError(f"{shown}: '(' is not closed")
            position += 1
            return "text"
        if token.kind == "variable":
            return _variable(token.text, shown)
        if token.kind == "field":
            return _field(token.text, shown)
        if token.kind in ("string", "number"):
            return token.kind
        if token.kind == "ident":
            raise TemplateError(f"{shown}: a function ('{token.text}') as an argument needs parentheses")
        raise TemplateError(f"{shown}: unexpected '{token.text}'")

    def command(piped: bool) -> None:
        nonlocal position
        if position == len(words) or words[position].kind in ("pipe", "rparen"):
            raise TemplateError(f"{shown}: missing a command")
        head = words[position]
        if head.kind != "ident":
            if piped:
                raise TemplateError(f"{shown}: only a function can follow '|' (got '{head.text}')")
            operand()
            if position < len(words) and words[position].kind not in ("pipe", "rparen"):
                raise TemplateError(f"{shown}: '{words[position].text}' after a value; a function comes first")
            return
        name = head.text
        if name in KEYWORDS:
            raise TemplateError(f"{shown} uses '{name}', which is not supported; supported: {SUPPORTED}")
        if name not in FUNCTIONS and name != PRINTF:
            raise TemplateError(f"{shown} uses the function '{name}', which is not supported; supported: {SUPPORTED}")
        position += 1
        args: list[tuple[str, str]] = []
        while position < len(words) and words[position].kind not in ("pipe", "rparen"):
            start = words[position].text
            args.append((operand(), start))
        if piped:
            args.append(("piped", "the piped value"))
        if name == PRINTF:
            _check_printf(args, shown)
        elif len(args) != FUNCTIONS[name]:
            raise TemplateError(f"{shown}: {name} takes {FUNCTIONS[name]} argument, got {len(args)}")

    pipeline(None)
    if position != len(words):
        raise TemplateError(f"{shown}: unexpected '{words[position].text}'")


def _variable(text: str, shown: str) -> str:
    if text == "$value":
        return "number"
    parts = text.split(".")
    if parts[0] == "$labels" and len(parts) == 2:
        return "text"
    if parts[0] == "$labels":
        raise TemplateError(f"{shown}: write $labels.<name> (all labels print differently in Grafana and Prometheus)")
    if parts[0] == "$values":
        raise TemplateError(f"{shown}: $values is Grafana's dialect; team.yaml is written in Prometheus' "
                            "(write $value, the platform translates it)")
    raise TemplateError(f"{shown} uses the variable '{text}', which is not supported; supported: {SUPPORTED}")


def _field(text: str, shown: str) -> str:
    if text == ".Value":
        return "number"
    parts = text.split(".")[1:]
    if parts[:1] == ["Labels"] and len(parts) == 2:
        return "text"
    raise TemplateError(f"{shown} uses the field '{text}', which is not supported; supported: {SUPPORTED}")


def _check_printf(args: list[tuple[str, str]], shown: str) -> None:
    if not args or args[0][0] != "string":
        raise TemplateError(f'{shown}: printf needs a format string first, e.g. printf "%.2f" $value')
    fmt = args[0][1][1:-1]
    verbs = [m for m in _VERB.finditer(fmt) if m.group(4) != "%"]
    if any("*" in (m.group(2) or "") + (m.group(3) or "") for m in verbs):
        raise TemplateError(f"{shown}: printf with '*' width or precision is not supported")
    values = args[1:]
    if len(verbs) != len(values):
        raise TemplateError(f"{shown}: the printf format has {len(verbs)} verb(s) for {len(values)} value(s)")
    for verb, (kind, text) in zip(verbs, values):
        allowed = NUMBER_VERBS if kind == "number" else TEXT_VERBS if kind == "text" else NUMBER_VERBS | TEXT_VERBS
        if kind != "piped" and verb.group(4) not in allowed:
            raise TemplateError(f"{shown}: printf verb '{verb.group()}' does not print {text} "
                                f"(use one of {', '.join('%' + v for v in sorted(allowed))})")


# ---------------------------------------------------------------------------------------------

def check(template: str) -> None:
    """Raise TemplateError unless `template` is in the subset both dialects run the same way."""
    for action in _actions(tokenize(template)):
        _check_action(action)


def to_grafana(template: str) -> str:
    """`template` (Prometheus' dialect, as promtool tests it) in Grafana's dialect: the same text, with
    `$values.A.Value` for every `$value` and `.Value`. Raises TemplateError on what is not supported."""
    tokens = tokenize(template)
    for action in _actions(tokens):
        _check_action(action)
    inside = False
    out = []
    for token in tokens:
        inside = token.kind == "open" or (inside and token.kind != "close")
        if inside and ((token.kind == "variable" and token.text == "$value")
                       or (token.kind == "field" and token.text == ".Value")):
            out.append(GRAFANA_VALUE)
        else:
            out.append(token.text)
    return "".join(out)


def to_grafana_all(texts: dict[str, str]) -> dict[str, str]:
    """Each text of a label or annotation map in Grafana's dialect."""
    return {key: to_grafana(text) for key, text in texts.items()}


# team.yaml fields the resolved annotations come from (runbook_url is generated, never templated)
_ANNOTATION_FIELDS = {"summary": "summary", "description": "description"}


def check_rules(rules: Iterable, spec_file: str) -> None:
    """ConfigError naming `spec_file` and each alert whose labels or annotations Grafana could not run
    as promtool tested them. Each rule's texts are translated here, once: the rule keeps them
    (estate.resolve.Rule.grafana_labels, .grafana_annotations) for its rule group; a rule that
    cannot be translated is checked text by text, so that every problem is named."""
    from .model import ConfigError

    problems = []
    for rule in rules:
        try:
            rule.grafana_labels, rule.grafana_annotations  # noqa: B018  (translated now, kept on the rule)
            continue
        except TemplateError:
            pass
        texts = [(f"alerts.{rule.alert}.{_ANNOTATION_FIELDS.get(key, f'annotations.{key}')}", text)
                 for key, text in rule.annotations.items()]
        texts += [(f"alerts.{rule.alert}.labels.{key}", text) for key, text in rule.labels.items()]
        for where, text in texts:
            try:
                check(text)
            except TemplateError as e:
                problems.append((where, f"{e} (Grafana expands it in its own dialect: docs/grafana-semantics.md)"))
    if problems:
        raise ConfigError(spec_file, problems)
