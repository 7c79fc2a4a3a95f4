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

import re
from typing import TYPE_CHECKING

from .files import read_text
from .layout import PROJECT_ROOT, Layout
from .model import ConfigError

if TYPE_CHECKING:
    from .resolve import Estate, Team

TEMPLATES_DIR = PROJECT_ROOT / "templates"
PLATFORM_FILES = ("platform.tmpl", "grafana.tmpl")
TEAM_FILE = "notifications.tmpl"
ENTRIES = ("slack.title", "slack.text", "email.subject", "email.message")
DEFINE = re.compile(r"\{\{-?\s*define\s+\"([^\"]*)\"")


def message(entry: str) -> str:
    """What a contact point's templated field says: the platform's entry point for it."""
    return f'{{{{ template "notification.{entry}" . }}}}'


def team_overrides(slug: str, layout: Layout) -> str | None:
    """teams/<slug>/notifications.tmpl, checked: ConfigError for a define outside `<slug>.`, or none of the entry points."""
    path = layout.team_dir(slug) / TEAM_FILE
    if not path.exists():
        return None
    text = read_text(path, layout.relative(path))  # a regular file of at most 1 MiB of UTF-8, as every team file
    names = DEFINE.findall(text)
    problems = [(f'define "{n}"', f"a team's templates are named {slug}.<name>, so no team changes another's "
                                  "or the platform's") for n in names if not n.startswith(f"{slug}.")]
    if not problems and not set(names) & {f"{slug}.{e}" for e in ENTRIES}:
        problems.append(("", f"defines none of {', '.join(f'{slug}.{e}' for e in ENTRIES)}: it would change no message"))
    if problems:
        raise ConfigError(layout.relative(path), problems)
    return text


def _entry_points(teams: tuple["Team", ...]) -> str:
    lines = []
    for entry in ENTRIES:
        slugs = [t.slug for t in teams if t.notification_templates and f'"{t.slug}.{entry}"' in t.notification_templates]
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
