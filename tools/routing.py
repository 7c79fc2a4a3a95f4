"""Routing in pure Python: a rendered policy tree's routing table, and its findings (lint).

amtool (tools/alertmanager.py) is the authority on routing: the suite routes every label set of
every stack's table through it (tests/test_routing.py). This walker is a copy of Alertmanager's
`Route.Match` (prometheus/alertmanager dispatch/route.go) for the places that need an answer
without amtool: the catalog, the render diff and the lint; the suite checks that it agrees with
amtool on every label set of every stack's table and on hand-made trees.

Alertmanager's rules, kept here: an alert enters a route when all its matchers hold (a missing
label reads as ""); child routes are tried in order, and the first that matches ends the search
unless it has `continue`; a route none of whose children match handles the alert itself; a route
without a contact point sends to its parent's; mute timings are the route's own, never inherited
(`opts.MuteTimeIntervals = cr.MuteTimeIntervals` in NewRoute; Grafana behaves the same, see
grafana/grafana#79295).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from components.types import ResourceType
from estate.stack import SEVERITIES

_MATCH = {
    "=": lambda v, x: v == x,
    "!=": lambda v, x: v != x,
    "=~": lambda v, x: re.fullmatch(x, v) is not None,
    "!~": lambda v, x: re.fullmatch(x, v) is None,
}
UNMATCHED_TEAM = "no-such-team"  # the routing table's label set that no team route matches


@dataclass(frozen=True)
class Reach:
    """Where one label set goes: a receiver, the mute timings of the route sending to it, that route's path."""

    receiver: str
    muted_by: tuple[str, ...] = ()
    route: str = "/"


def matches(policy: dict, labels: dict[str, str]) -> bool:
    return all(_MATCH[m["match"]](labels.get(m["label"], ""), m["value"]) for m in policy.get("matchers") or [])


def route(tree: dict, labels: dict[str, str]) -> list[Reach]:
    """Every route that handles `labels`, in Alertmanager's order.

    `tree` is a rendered NotificationPolicy's inputs; a route without a contact point anywhere
    above it (a tree without a root contact point, or `{}`) reaches nobody.
    """
    return [r for r in _route(tree, labels, None, "/") if r.receiver]


def receivers(tree: dict, labels: dict[str, str]) -> list[str]:
    """The contact points notified for `labels`, in order."""
    return [r.receiver for r in route(tree, labels)]


def _route(node: dict, labels: dict[str, str], inherited: str | None, path: str) -> list[Reach]:
    receiver = node.get("contactPoint") or inherited
    found: list[Reach] = []
    for i, child in enumerate(node.get("policies") or []):
        if matches(child, labels):
            found += _route(child, labels, receiver, f"{path.rstrip('/')}/{i}")
            if not child.get("continue"):
                break
    return found or [Reach(receiver or "", tuple(node.get("muteTimings") or ()), path)]


# --- the routing table ---------------------------------------------------------------------------

def label_sets(teams: Iterable[str]) -> list[dict[str, str]]:
    """The rows of a stack's routing table: every team x severity, a team no route knows, no labels at all."""
    rows = [{"team": team, "severity": severity} for team in sorted(teams) for severity in SEVERITIES]
    return rows + [{"team": UNMATCHED_TEAM, "severity": "critical"}, {}]


def table(tree: dict, teams: Iterable[str]) -> list[tuple[dict[str, str], list[Reach]]]:
    return [(labels, route(tree, labels)) for labels in label_sets(teams)]


def describe(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "no labels"


def reach_text(reach: list[Reach]) -> str:
    """`a (muted: nights, weekends) + b`: the receivers in order, each with its route's mute timings."""
    return " + ".join(r.receiver + (f" (muted: {', '.join(r.muted_by)})" if r.muted_by else "") for r in reach) or "nobody"


# --- findings (lint) -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    rule: str
    route: str  # the route's path (`/0/1`) or the contact point's name
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.route}: {self.message}"


def _walk(node: dict, path: str = "/", above: tuple = ()):
    """(path, route, matchers of the route and every route above it) for every route but the root."""
    for i, child in enumerate(node.get("policies") or []):
        child_path = f"{path.rstrip('/')}/{i}"
        constraints = above + tuple(child.get("matchers") or ())
        yield child_path, child, constraints
        yield from _walk(child, child_path, constraints)


def _where(policy: dict) -> str:
    return "{" + ", ".join(f"{m['label']}{m['match']}\"{m['value']}\"" for m in policy.get("matchers") or []) + "}"


def contradiction(constraints: Iterable[dict]) -> str | None:
    """Why no label set can satisfy all `constraints` (matchers), when an equality shows it; else None.

    Decided exactly when a label has an equality matcher (`=`): every other matcher on that label
    is evaluated on its value. Regex against regex is not decided (the lint's alert check covers it).
    """
    constraints = list(constraints)
    for m in constraints:
        if m["match"] != "=":
            continue
        for other in constraints:
            if other["label"] == m["label"] and not _MATCH[other["match"]](m["value"], other["value"]):
                return f"{m['label']}=\"{m['value']}\" contradicts {m['label']}{other['match']}\"{other['value']}\""
    return None


def _implied(m: dict, constraints: tuple) -> bool:
    """Does every label set satisfying `constraints` satisfy matcher `m`?"""
    if m in constraints:
        return True
    equal = [c["value"] for c in constraints if c["label"] == m["label"] and c["match"] == "="]
    return any(_MATCH[m["match"]](value, m["value"]) for value in equal)


def findings(tree: dict, contact_points: Iterable[str], alerts: Iterable[dict[str, str]]) -> list[Finding]:
    """What in a rendered policy tree can never do anything.

    - route-never-matches: its matchers (with those of the routes above it) contradict each other,
      or no alert rule of the stack (`alerts`: each rule's labels) reaches it;
    - route-shadowed: an earlier sibling without `continue` matches every alert it matches;
    - contact-point-unreached: no route sends to it.
    """
    alerts = list(alerts)
    out: list[Finding] = []
    reached = {r.route for labels in alerts for r in route(tree, labels)}
    reached |= {p for r in set(reached) for p in _ancestors(r)}
    dead: list[str] = []  # routes already reported: what lies under them is not reported again
    for path, policy, constraints in _walk(tree):
        if any(path.startswith(f"{d}/") for d in dead):
            continue
        why = contradiction(constraints)
        siblings = _siblings(tree, path)
        index = int(path.rsplit("/", 1)[1])
        shadow = next((i for i, s in enumerate(siblings[:index]) if not s.get("continue")
                       and all(_implied(m, constraints) for m in s.get("matchers") or [])), None)
        if why:
            out.append(Finding("route-never-matches", path, f"{_where(policy)}: {why}"))
        elif shadow is not None:
            parent = path.rsplit("/", 1)[0] or ""
            out.append(Finding("route-shadowed", path, f"{_where(policy)}: every alert it matches is taken first by "
                               f"{parent}/{shadow} {_where(siblings[shadow])}, which has no `continue`"))
        elif path not in reached:
            out.append(Finding("route-never-matches", path, f"{_where(policy)}: no alert rule of the stack reaches it"))
        else:
            continue
        dead.append(path)
    used = receiver_names(tree)
    out += [Finding("contact-point-unreached", name, "no notification policy sends to this contact point")
            for name in sorted(set(contact_points) - used)]
    return out


def receiver_names(tree: dict) -> set[str]:
    names = {tree["contactPoint"]} if tree.get("contactPoint") else set()
    for child in tree.get("policies") or []:
        names |= receiver_names(child)
    return names


def _ancestors(path: str) -> list[str]:
    steps = [s for s in path.split("/") if s]
    return ["/" + "/".join(steps[:i]) if i else "/" for i in range(len(steps))]


def _siblings(tree: dict, path: str) -> list[dict]:
    node = tree
    for step in [s for s in path.split("/") if s][:-1]:
        node = node["policies"][int(step)]
    return node.get("policies") or []


def stack_findings(resources: Iterable[dict]) -> list[Finding]:
    """The findings of one render (resources.json entries): its tree, contact points and alert rules."""
    resources = list(resources)
    tree = next((r["inputs"] for r in resources if r["type"] == ResourceType.NOTIFICATION_POLICY), {})
    contact_points = [r["inputs"]["name"] for r in resources if r["type"] == ResourceType.CONTACT_POINT]
    alerts = [{**rule.get("labels", {}), "alertname": rule["name"]}
              for r in resources if r["type"] == ResourceType.RULE_GROUP for rule in r["inputs"].get("rules", [])]
    return findings(tree, contact_points, alerts)


if __name__ == "__main__":  # a library: run as a command, it must not end at exit 0 having done nothing
    raise SystemExit("python -m tools.routing: not a command; tools.catalog, tools.diff and tools.lint use this walker")
