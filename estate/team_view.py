"""What a team's dashboards module may read: the one argument of `dashboards(team)`.

Kept free of imports: the team-code worker loads this file on its own, without the estate package.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TeamView:
    """The team as resolved for the stack being deployed; no secret, no stack config.

    `thresholds` maps each alert to the threshold in force, so panels draw the line the alert uses;
    `variables` holds the team's dashboard constants with the stack's overrides.
    """

    slug: str
    title: str
    variables: dict[str, float]
    thresholds: dict[str, float]
