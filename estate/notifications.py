"""Notification templates: the platform's Slack and e-mail messages, with per-team overrides.

templates/platform.tmpl holds the platform's set (title and body for Slack and e-mail: alert
name, severity, team, summary, description, value, runbook, dashboard, rule and silence links;
resolved alerts too), templates/grafana.tmpl the few Grafana-only fields it reads. A team may
override any entry point in teams/<slug>/notifications.tmpl by defining `<slug>.slack.title`,
`<slug>.slack.text`, `<slug>.email.subject` or `<slug>.email.message` (its other defines must be
named `<slug>.*` too; `{{ template "platform.slack.text" . }}` reuses the platform's).

Grafana keeps every notification template of an organization in one namespace, so contact points
name `notification.<entry>`, generated here: it sends a notification whose alerts share a
`team` label with overrides through them, and every other one through the platform's. The
dashboard link is the team's first dashboard in this stack's Grafana. docs/routing.md.
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from .files import read_text
from .grafana_templates import TemplateError, Token, tokenize
from .layout import PROJECT_ROOT, Layout
from .model import ConfigError

if TYPE_CHECKING:
    from .resolve import Estate, Team

TEMPLATES_DIR = PROJECT_ROOT / "templates"
PLATFORM_FILES = ("platform.tmpl", "grafana.tmpl")
TEAM_FILE = "notifications.tmpl"
ENTRIES = ("slack.title", "slack.text", "email.subject", "email.message")


def message(entry: str) -> str:
    """What a contact point's templated field says: the platform's entry point for it."""
    return f'{{{{ template "notification.{entry}" . }}}}'


def team_overrides(slug: str, layout: Layout) -> str | None:
    """teams/<slug>/notifications.tmpl, checked: ConfigError for what Grafana's parser refuses (parse), a
    template named outside `<slug>.`, a call of a template no one defines, or none of the entry points."""
    path = layout.team_dir(slug) / TEAM_FILE
    if not path.exists():
        return None
    shown = layout.relative(path)
    text = read_text(path, shown)  # a regular file of at most 1 MiB of UTF-8, as every team file
    try:
        parsed = parse(text)
    except TemplateError as e:
        raise ConfigError(shown, [("", f"{e} (Grafana parses it with Go's text/template and refuses the group)")]) from None
    names = {name for name, _ in parsed.defines}
    problems = [(f'line {line}, define "{name}"', f"a team's templates are named {slug}.<name>, so no team changes "
                 "another's or the platform's") for name, line in parsed.defines if not name.startswith(f"{slug}.")]
    callable_ = names | platform_defines() | set(GRAFANA_DEFAULTS)
    problems += [(f'line {line}, template "{name}"', f"no such template: the team's own, the platform's "
                  f"(platform.*, grafana.*) and Grafana's {' and '.join(GRAFANA_DEFAULTS)} may be called")
                 for name, line in parsed.calls if name not in callable_]
    if not problems and not names & {f"{slug}.{e}" for e in ENTRIES}:
        problems.append(("", f"defines none of {', '.join(f'{slug}.{e}' for e in ENTRIES)}: it would change no message"))
    if problems:
        raise ConfigError(shown, problems)
    return text


@functools.cache
def platform_defines() -> frozenset[str]:
    """The templates the platform's files define, and the one it generates per stack (platform_template)."""
    names = {name for f in PLATFORM_FILES for name, _ in parse((TEMPLATES_DIR / f).read_text(encoding="utf-8")).defines}
    return frozenset(names | {"platform.dashboard_url"})


def _entry_points(teams: tuple["Team", ...]) -> str:
    defined = {t.slug: {name for name, _ in parse(t.notification_templates).defines}
               for t in teams if t.notification_templates}  # each team's file parsed once, not once per entry
    lines = []
    for entry in ENTRIES:
        slugs = [slug for slug, names in defined.items() if f"{slug}.{entry}" in names]
        body = "".join(f'{{{{ {"if" if i == 0 else "else if"} eq .CommonLabels.team "{slug}" }}}}'
                       f'{{{{ template "{slug}.{entry}" . }}}}' for i, slug in enumerate(slugs))
        default = f'{{{{ template "platform.{entry}" . }}}}'
        body += f"{{{{ else }}}}{default}{{{{ end }}}}" if slugs else default
        lines.append(f'{{{{ define "notification.{entry}" }}}}{body}{{{{ end }}}}')
    return "\n".join(lines)


def _dashboard_urls(grafana_url: str, teams: tuple["Team", ...]) -> str:
    base = grafana_url.rstrip("/")
    cases = "".join(f'{{{{ {"if" if i == 0 else "else if"} eq . "{t.slug}" }}}}{base}/d/{t.dashboards[0].uid}'
                    for i, t in enumerate(t for t in teams if t.dashboards))
    fallback = f"{base}/alerting/list"
    body = f"{cases}{{{{ else }}}}{fallback}{{{{ end }}}}" if cases else fallback
    return f'{{{{ define "platform.dashboard_url" }}}}{body}{{{{ end }}}}'


def platform_template(estate: "Estate") -> str:
    """The platform's template group: its set, the Grafana fields, the stack's dashboards and entry points."""
    generated = ("{{- /* Generated for this stack by estate/notifications.py. */ -}}\n"
                 f"{_dashboard_urls(estate.config.grafana_url, estate.teams)}\n{_entry_points(estate.teams)}\n")
    return "".join((TEMPLATES_DIR / f).read_text(encoding="utf-8") for f in PLATFORM_FILES) + generated


# ---------------------------------------------------------------------------------------------
# Go's text/template, as Grafana parses a template group. Grafana validates each group with Go's
# parser, Alertmanager's functions and gomplate's (grafana/alerting templates
# TemplateDefinition.Validate, factory.go): a group it refuses fails `pulumi up`, and one whose
# structure only looks right to a text search (a define in a comment, `{{ block }}`, a raw-string
# name) changes what it seems not to. So a team's file is parsed as Go parses it (text/template/parse:
# lex.go, parse.go), on the tokens the alert-text checker reads (estate/grafana_templates.tokenize).

GO_FUNCTIONS = frozenset({"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
                          "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne"})  # text/template's builtins
ALERTMANAGER_FUNCTIONS = frozenset({"toUpper", "toLower", "title", "trimSpace", "join", "match", "safeHtml", "safeUrl",
                                    "urlUnescape", "reReplaceAll", "stringSlice", "date", "tz", "since",
                                    "humanizeDuration", "toJson"})  # prometheus/alertmanager template.DefaultFuncs
GOMPLATE_NAMESPACES = frozenset({"coll", "data", "tmpl", "time"})  # grafana/alerting templates/gomplate: coll.Dict ...
FUNCTIONS = GO_FUNCTIONS | ALERTMANAGER_FUNCTIONS | GOMPLATE_NAMESPACES
GRAFANA_DEFAULTS = ("default.title", "default.message")  # Grafana's own templates (grafana/alerting default_template.go)
_KEYWORDS = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"})
_CONTROL = ("if", "with", "range")
_LITERALS = ("string", "number", "char")


@dataclass
class Parsed:
    """The templates a group defines (`define`, `block`) and calls (`template`, `block`), each with its line."""

    defines: list[tuple[str, int]]
    calls: list[tuple[str, int]]


@dataclass(frozen=True)
class _Word:
    token: Token
    spaced: bool  # a space before it: `.A .B` is two arguments, `(x).B` one


@dataclass
class _Open:
    kind: str  # if, with, range, define, block
    line: int
    restore: list[str]  # the variables in scope after its {{end}}
    otherwise: bool = False  # its plain {{else}} came


def parse(text: str) -> Parsed:
    """Check `text` as Go's text/template parses it; TemplateError, naming the line, for what it refuses."""
    try:
        tokens = tokenize(text)
    except TemplateError as e:  # "unclosed action: '{{' at character N has no '}}'" (N counts from 1)
        opened = int(str(e).split("at character ")[1].split()[0]) - 1
        raise TemplateError(f"line {text.count(chr(10), 0, opened) + 1}: '{{{{' has no '}}}}'") from None
    return _Parser().run(tokens)


def _actions(tokens: list[Token]) -> Iterator[tuple[list[_Word], int, bool]]:
    """Each action's words, the line it opens on, and whether a space comes before its }}."""
    line, words, spaced, start = 1, None, False, 1
    for token in tokens:
        if token.kind == "open":
            words, spaced, start = [], False, line
        elif token.kind == "close":
            yield words, start, spaced
            words = None
        elif words is not None:
            if token.kind == "space":
                spaced = True
            else:
                words.append(_Word(token, spaced))
                spaced = False
        line += token.text.count("\n")


def _name(word: _Word) -> str | None:
    """A template's name: a string constant, quoted or raw, as Go takes it (Go's escapes in quotes are
    Python's, as far as a name goes: \", \\, \n, \t, \x41, \u00e9)."""
    text = word.token.text
    if word.token.kind != "string":
        return None
    if text.startswith("`"):
        return text[1:-1]
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError):  # an escape Python lacks: the name as written
        return text[1:-1]


class _Parser:
    def __init__(self) -> None:
        self.parsed = Parsed([], [])
        self.open: list[_Open] = []
        self.variables = ["$"]
        self.line = 1
        self.defined: dict[str, int] = {}

    def fail(self, problem: str) -> None:
        raise TemplateError(f"line {self.line}: {problem}")

    def run(self, tokens: list[Token]) -> Parsed:
        for words, line, space_before_close in _actions(tokens):
            self.line = line
            self.action(words, space_before_close)
        if self.open:
            self.line = self.open[-1].line
            self.fail(f"{{{{{self.open[-1].kind}}}}} has no {{{{end}}}}")
        return self.parsed

    def define(self, name: str) -> None:
        if name in self.defined:
            self.fail(f'template "{name}" is defined twice (first on line {self.defined[name]})')
        self.defined[name] = self.line
        self.parsed.defines.append((name, self.line))

    def action(self, words: list[_Word], space_before_close: bool) -> None:
        if not words:
            self.fail("{{}} holds nothing")
        if any(w.token.kind == "comment" for w in words):
            if len(words) > 1 or words[0].spaced or space_before_close:
                self.fail("a comment is a whole action, {{/* ... */}} or {{- /* ... */ -}}, with nothing else in it")
            return
        head = words[0].token
        keyword = head.text if head.kind == "ident" and head.text in _KEYWORDS else None
        if keyword in ("define", "block"):
            name = _name(words[1]) if len(words) > 1 else None
            if name is None:
                self.fail(f'{{{{{keyword}}}}} takes a name in quotes: {{{{{keyword} "name"}}}}')
            if keyword == "define":
                if self.open:
                    self.fail(f"{{{{define}}}} inside the {{{{{self.open[-1].kind}}}}} of line {self.open[-1].line}: "
                              "a define goes at the top level")
                if len(words) > 2:
                    self.fail('{{define "name"}} takes nothing after the name')
            else:
                self.pipeline(words[2:], "block")
                self.parsed.calls.append((name, self.line))
            self.define(name)
            self.open.append(_Open(keyword, self.line, self.variables))
            self.variables = ["$"]  # a template's body starts with $ alone
        elif keyword in _CONTROL:
            restore = list(self.variables)
            self.pipeline(words[1:], keyword)
            self.open.append(_Open(keyword, self.line, restore))
        elif keyword == "else":
            top = self.open[-1] if self.open else None
            if top is None or top.kind not in _CONTROL:
                self.fail("{{else}} outside an {{if}}, {{with}} or {{range}}")
            if top.otherwise:
                self.fail(f"a second {{{{else}}}} in the {{{{{top.kind}}}}} of line {top.line}")
            if len(words) == 1:
                top.otherwise = True
            elif top.kind == "if" and words[1].token.text == "if":  # {{else if}}; not {{else with}}: Go 1.23's
                self.pipeline(words[2:], "if")
            else:
                self.fail(f"{{{{else}}}} in a {{{{{top.kind}}}}} takes nothing after it"
                          + (" but `if` and a value" if top.kind == "if" else ""))
        elif keyword == "end":
            if len(words) > 1:
                self.fail("{{end}} takes nothing after it")
            if not self.open:
                self.fail("{{end}} with nothing open to end")
            self.variables = self.open.pop().restore
        elif keyword in ("break", "continue"):
            if len(words) > 1:
                self.fail(f"{{{{{keyword}}}}} takes nothing after it")
            inner = []
            for block in reversed(self.open):
                if block.kind in ("define", "block"):
                    break
                inner.append(block.kind)
            if "range" not in inner:
                self.fail(f"{{{{{keyword}}}}} outside a {{{{range}}}}")
        elif keyword == "template":
            name = _name(words[1]) if len(words) > 1 else None
            if name is None:
                self.fail('{{template}} takes a name in quotes: {{template "name" .}}')
            if len(words) > 2:
                self.pipeline(words[2:], "template")
            self.parsed.calls.append((name, self.line))
        elif keyword is not None:
            self.fail(f"unexpected '{keyword}'")
        else:
            self.pipeline(words, "command")

    def pipeline(self, words: list[_Word], context: str) -> None:
        """An action's pipeline: its declaration (`$x :=`, `$i, $e :=` in a range, `$x =`), then its commands."""
        at, declared = 0, []
        first = words[0].token if words else None
        if first is not None and first.kind == "variable" and "." not in first.text and len(words) > 1:
            if words[1].token.kind == "declare":
                declared, at = [first.text], 2
            elif (context == "range" and words[1].token.text == "," and len(words) > 3
                  and words[2].token.kind == "variable" and words[3].token.kind == "declare"):
                declared, at = [first.text, words[2].token.text], 4
            if declared and words[at - 1].token.text == "=":  # an assignment: to a variable in scope
                self.variable(first.text)
                declared = []
        self.variables = self.variables + declared
        if at == len(words):
            self.fail(f"{{{{{context}}}}} needs a value" if context != "command" else "an action with no value")
        self.commands(words, at, None)

    def commands(self, words: list[_Word], at: int, closing: str | None) -> int:
        """Commands separated by `|`, up to `closing` (`)`) or the action's end; where they stop."""
        stage = 1
        while True:
            at = self.command(words, at, stage)
            if at == len(words) or words[at].token.kind == closing:
                return at
            if words[at].token.kind != "pipe":
                self.fail(f"unexpected '{words[at].token.text}'")
            at, stage = at + 1, stage + 1

    def command(self, words: list[_Word], at: int, stage: int) -> int:
        start = at
        while at < len(words) and words[at].token.kind not in ("pipe", "rparen"):
            if at > start and not words[at].spaced:
                self.fail(f"'{words[at].token.text}' right after '{words[at - 1].token.text}': arguments are "
                          "separated by spaces")
            at = self.operand(words, at)
        if at == start:
            self.fail("a command is missing (before or after '|', or inside '()')")
        head = words[start].token
        if stage > 1 and (head.kind in _LITERALS or head.text in ("true", "false", "nil", ".")):
            self.fail(f"'{head.text}' after '|' is no function")
        if at - start == 1 and head.kind == "ident" and head.text == "nil":
            self.fail("nil is not a command")
        return at

    def operand(self, words: list[_Word], at: int) -> int:
        token = words[at].token
        if token.kind == "lparen":
            at = self.commands(words, at + 1, "rparen")
            if at == len(words):
                self.fail("'(' is not closed")
        elif token.kind == "ident":
            if token.text in _KEYWORDS:
                self.fail(f"unexpected '{token.text}'")
            if token.text not in ("true", "false", "nil") and token.text not in FUNCTIONS:
                self.fail(f"the function '{token.text}' is not defined (Grafana's are Go's, Alertmanager's and "
                          "gomplate's: docs/routing.md)")
        elif token.kind == "variable":
            self.variable(token.text.split(".")[0])
        elif token.kind not in ("field", *_LITERALS):
            self.fail(f"unexpected '{token.text}'")
        at += 1
        while at < len(words) and words[at].token.kind == "field" and not words[at].spaced:  # (x).Field, coll.Dict
            if token.kind in _LITERALS or token.kind == "field" or token.text in ("true", "false", "nil"):
                self.fail(f"'{words[at].token.text}' right after '{token.text}'")
            at += 1
        return at

    def variable(self, name: str) -> None:
        if name not in self.variables:
            self.fail(f"the variable {name} is not defined here")
