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
    """Contact points notified for `labels`; `tree` is a NotificationPolicy's rendered inputs."""
    return _route(tree, labels, tree["contactPoint"])


def _route(node: dict, labels: dict[str, str], inherited: str) -> list[str]:
    receiver = node.get("contactPoint") or inherited
    found: list[str] = []
    for child in node.get("policies") or []:
        if _matches(child, labels):
            found += _route(child, labels, receiver)
            if not child.get("continue"):
                break
    return found or [receiver]
