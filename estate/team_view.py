"""What a team's dashboards module may read: the one argument of `dashboards(team)`.

Kept free of imports: the team-code worker loads this file on its own, without the estate package,
and receives the view as JSON (`as_json` / `from_json`).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_PARAMETER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class AlertView:
    """An alert as it runs in the stack: what a panel that shows its quantity needs (dashboards/alerts.py)."""

    alert: str
    quantity: str  # PromQL, without the comparison
    comparison: str | None
    threshold: float | None  # in force in this stack
    unit: str | None


@dataclass(frozen=True)
class TeamView:
    """The team as resolved for the stack being deployed; no secret, no stack config.

    `rules` are the team's alerts as they run in this stack, so a panel that shows an alerted
    quantity is built from its rule; `expressions` are team.yaml's shared expressions as PromQL for
    this stack, their parameters (`%(window)s`) still to fill; `variables` holds the team's
    dashboard constants with the stack's overrides.
    """

    slug: str
    title: str
    variables: dict[str, float]
    rules: dict[str, AlertView]
    expressions: dict[str, str]

    def rule(self, alert: str) -> AlertView:
        if alert not in self.rules:
            raise LookupError(f"no alert '{alert}' in teams/{self.slug}/team.yaml; its alerts: {', '.join(self.rules)}")
        return self.rules[alert]

    def expression(self, name: str, **params: str) -> str:
        """The expression `name` of team.yaml as PromQL for this stack; `window=` fills its %(window)s."""
        if name not in self.expressions:
            raise LookupError(f"no expression '{name}' in teams/{self.slug}/team.yaml; "
                              f"its expressions: {', '.join(self.expressions) or 'none'}")

        def fill(match: re.Match) -> str:
            if match.group(1) not in params:
                raise LookupError(f"expression '{name}' needs {match.group(1)}=... (it uses %({match.group(1)})s)")
            return params[match.group(1)]

        return _PARAMETER.sub(fill, self.expressions[name])

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "TeamView":
        return cls(**{**data, "rules": {name: AlertView(**rule) for name, rule in data["rules"].items()}})
