"""A team's metric contract in one stack: which series and labels its queries may name.

The estate checks every alert and panel against the team's selector; the dashboard lint, the
real-Prometheus query tests and the synthetic history read the contract from here.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterable

import promql_parser as pp

from syntax import promql
from .team import Metric

# Labels every series has or may have whatever the contract says: Prometheus adds `instance` and
# `job` to every scraped series; the team selector's labels (job, env...) are added by the stack.
TARGET_LABELS = {"instance", "job"}
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


@dataclass(frozen=True)
class Contract:
    """What a team's queries may name in one stack: its metric contract, its full selector, and the
    full selector of each source (an exporter's job) a metric of the contract comes from."""

    team: str
    selector: str
    metrics: dict[str, Metric] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, team) -> "Contract":
        """The contract of a resolved team (estate.resolve.Team): its metrics and selectors in the stack."""
        return cls(team.slug, team.selector, {m.name: m for m in team.spec.metrics}, dict(team.sources))

    @functools.cached_property
    def required(self) -> frozenset[promql.Matcher]:
        """The matchers of the team's own selector (its job, the stack's extension)."""
        return _matchers(self.selector)

    @functools.cached_property
    def selector_labels(self) -> set[str]:
        """Labels any selector of the contract sets (the team's and its sources')."""
        return {m.name for selector in (self.selector, *self.sources.values()) for m in _matchers(selector)}

    def selector_of(self, metric: Metric) -> str:
        """The full selector a metric's series carry: its source's, else the team's."""
        return self.sources[metric.source] if metric.source else self.selector

    def required_for(self, series: str | None) -> frozenset[promql.Matcher]:
        """The matchers a selector of `series` must carry: those of its metric's source, else the team's."""
        if series in self.series:
            return _matchers(self.selector_of(self.series[series][0]))
        return self.required

    @functools.cached_property
    def series(self) -> dict[str, tuple[Metric, str]]:
        """Every series name the contract allows, with its metric and the sample suffix."""
        out: dict[str, tuple[Metric, str]] = {}
        for m in self.metrics.values():
            for name, suffix in m.series_names():
                out.setdefault(name, (m, suffix))  # the first metric's (TeamSpec refuses two for one series)
        return out

    def labels_of(self, series: str) -> set[str] | None:
        """Labels a series of the contract may carry; None for a series the contract lacks."""
        if series not in self.series:
            return None
        metric, suffix = self.series[series]
        labels = set(metric.labels) | {m.name for m in _matchers(self.selector_of(metric))} | TARGET_LABELS
        if metric.type == "histogram" and suffix == "_bucket":
            labels.add("le")
        if metric.type == "summary" and suffix == "":
            labels.add("quantile")
        return labels

    def is_counter(self, series: str) -> bool:
        if series in self.series:
            metric, suffix = self.series[series]
            return metric.type == "counter" or suffix in ("_bucket", "_sum", "_count")
        return series.endswith(COUNTER_SUFFIXES)

    def problems(self, expr: str) -> list[str]:
        """Metrics and labels `expr` names that the contract does not have (empty when all are known)."""
        try:
            root = promql.parse(expr, variables=True)  # an imported dashboard's query may hold template variables
        except ValueError as e:
            return [str(e)]
        problems: list[str] = []
        known = ", ".join(sorted(self.series))

        def available(node: pp.Expr) -> set[str]:
            """Labels the series under `node` may carry (contract labels and labels the query makes)."""
            labels: set[str] = set()
            for n, _ in promql.walk(node):
                if isinstance(n, pp.VectorSelector):
                    labels |= self.labels_of(promql.selector_name(n) or "") or set()
                elif isinstance(n, pp.Call) and n.func.name in ("label_replace", "label_join") and len(n.args) > 1:
                    labels.add(str(n.args[1]).strip('"'))
                elif isinstance(n, pp.AggregateExpr) and str(n.op) == "count_values" and n.param is not None:
                    labels.add(str(n.param).strip('"'))
            return labels

        def check_grouping(kind: str, labels: Iterable[str], allowed: set[str], where: str) -> None:
            for label in labels:
                if label not in allowed:
                    problems.append(f"{kind}({label}) in `{where}`: label '{label}' is in no contract metric under it "
                                    f"(available: {', '.join(sorted(allowed)) or 'none'})")

        for node, _ in promql.walk(root):
            if isinstance(node, pp.VectorSelector):
                name = promql.selector_name(node)
                if name is None:
                    problems.append(f"selector `{node}` names no metric (a `__name__` regex or none): "
                                    f"only the contract's metrics may be queried")
                    continue
                labels = self.labels_of(name)
                if labels is None:
                    problems.append(f"metric '{name}' is not in team {self.team}'s metric contract "
                                    f"(teams/{self.team}/team.yaml; known series: {known})")
                    continue
                for m in promql.selector_matchers(node):
                    if m.name != "__name__" and m.name not in labels:
                        problems.append(f"label '{m.name}' of metric '{name}' is not in the contract "
                                        f"(its labels: {', '.join(sorted(labels))})")
            elif isinstance(node, pp.AggregateExpr) and node.modifier is not None:
                kind = "by" if "By" in str(node.modifier.type) else "without"
                check_grouping(kind, node.modifier.labels, available(node.expr), str(node))
            elif isinstance(node, pp.BinaryExpr) and node.modifier is not None:
                allowed = available(node.lhs) | available(node.rhs)
                if node.modifier.matching is not None:
                    kind = "on" if "Include" in str(node.modifier.matching.type) else "ignoring"
                    check_grouping(kind, node.modifier.matching.labels, allowed, str(node))
                if node.modifier.group_labels:
                    check_grouping("group_x", node.modifier.group_labels, allowed, str(node))
        return problems


@functools.lru_cache(maxsize=256)
def _matchers(selector: str) -> frozenset[promql.Matcher]:
    return frozenset(promql.matchers(selector)) if selector.strip() else frozenset()


def contracts(estate) -> dict[str, Contract]:
    """Each team of a resolved estate (estate.resolve.Estate): its contract with its selector in that stack."""
    return {team.slug: Contract.of(team) for team in estate.teams}
