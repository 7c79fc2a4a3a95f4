"""Route an alert's labels through a rendered notification policy tree, as Alertmanager does."""
from __future__ import annotations

import re

_MATCH = {
    "=": lambda v, x: v == x,
    "!=": lambda v, x: v != x,
    "=~": lambda v, x: re.fullmatch(x, v) is not None,
    "!~": lambda v, x: re.fullmatch(x, v) is None,
}


def _matches(policy: dict, labels: dict[str, str]) -> bool:
    return all(_MATCH[m["match"]](labels.get(m["label"], ""), m["value"]) for m in policy.get("matchers") or [])


def receivers(tree: dict, labels: dict[str, str]) -> list[str]:
    """Contact points notified for `labels`: matching child routes in order, up to the first without `continue`.

    `tree` is a NotificationPolicy's rendered inputs; a tree without a root contact point (or none
    at all, `{}`) notifies nobody where no route with a contact point matches.
    """
    return _route(tree, labels, None)


def _route(node: dict, labels: dict[str, str], inherited: str | None) -> list[str]:
    receiver = node.get("contactPoint") or inherited
    found: list[str] = []
    for child in node.get("policies") or []:
        if _matches(child, labels):
            found += _route(child, labels, receiver)
            if not child.get("continue"):
                break
    return found or ([receiver] if receiver else [])
