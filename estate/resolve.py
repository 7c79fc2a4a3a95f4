"""The whole validated estate of one stack: stack config + every enabled team, resolved.

Everything that can be wrong is found here, before the first resource is registered:
a team that failed to load must never silently vanish (Pulumi would delete what it owns).
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from pydantic import ValidationError

from dashboards.finalize import canonical_json, finalize, panels, to_dict
from dashboards.importer import ImportProblems, import_dashboard, load_exported
from dashboards.slo import with_error_budget_rows

from . import grafana_templates, promql, slo, template
from .config import config_from_file, load_stack_config
from .contract import Contract
from .files import read_yaml
from .layout import PROJECT, PROJECT_LAYOUT, Layout
from .model import UID_MAX, ConfigError, duration_seconds, kebab, validation_problems
from .notifications import team_overrides
from .stack import StackConfig, TeamSettings
from .team import SELECTOR, SOURCE_SELECTOR, WINDOW, AlertRule, TeamSpec, source_selector


@dataclass(frozen=True)
class Rule:
    """An alert rule as Grafana and Prometheus will both run it, in one stack (selector and overrides applied).

    It carries the alert's meaning: the quantity watched (PromQL, no comparison), the comparison and the
    threshold in force, the `for`, and the quantity's unit; panels that show the quantity are built from it.
    """

    alert: str
    uid: str
    quantity: str
    comparison: str | None
    threshold: float | None
    for_: str
    unit: str | None
    no_data: str  # "ok" or "alerting": what an empty result means (Grafana's no-data state)
    labels: dict[str, str]
    annotations: dict[str, str]  # Prometheus' template dialect, as promtool tests them

    @property
    def grafana_labels(self) -> dict[str, str]:
        """The labels in Grafana's template dialect (estate/grafana_templates.py)."""
        return grafana_templates.to_grafana_all(self.labels)

    @property
    def grafana_annotations(self) -> dict[str, str]:
        """The annotations in Grafana's template dialect (estate/grafana_templates.py)."""
        return grafana_templates.to_grafana_all(self.annotations)

    @property
    def expr(self) -> str:
        """The Prometheus expression: `<quantity> <comparison> <threshold>`, or the quantity alone."""
        if self.comparison is None:
            return self.quantity
        return f"{self.quantity} {self.comparison} {promql.number(self.threshold)}"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    config_json: str


@dataclass(frozen=True)
class Team:
    slug: str
    spec: TeamSpec
    settings: TeamSettings
    selector: str
    folder_uid: str
    dashboards: tuple[Dashboard, ...]
    rules: tuple[Rule, ...]
    notification_templates: str | None = None  # teams/<slug>/notifications.tmpl (estate/notifications.py)
    sources: dict[str, str] = field(default_factory=dict)  # source -> its full selector in the stack

    @property
    def interval_seconds(self) -> int:
        return duration_seconds(self.spec.alert_interval)


@dataclass(frozen=True)
class Estate:
    stack: str
    config: StackConfig
    teams: tuple[Team, ...]


def load_estate(stack: str, config: Mapping[str, str], secret_keys: set[str],
                layout: Layout = PROJECT_LAYOUT) -> Estate:
    """The stack's whole estate from the engine's `config` (namespaced keys, values as text) and
    the keys it marks secret; ConfigError, before any resource exists, when anything is wrong."""
    stack_config = load_stack_config(stack, config, secret_keys, layout)
    where = layout.relative(layout.stack_file(stack))
    available = layout.team_names()
    unknown = [slug for slug in stack_config.teams if slug not in available]
    if unknown:
        raise ConfigError(where, [
            (f"{PROJECT}:teams.{slug}", f"unknown team '{slug}'; allowed: {', '.join(available)}")
            for slug in unknown
        ])
    teams = tuple(_load_team(slug, settings, stack_config, where, layout)
                  for slug, settings in sorted(stack_config.teams.items()))
    for team in teams:  # what Grafana cannot run as promtool tested it stops here, before any resource
        grafana_templates.check_rules(team.rules, layout.relative(layout.team_dir(team.slug) / "team.yaml"))
    _check_unique_uids(stack_config, teams, where)
    return Estate(stack=stack, config=stack_config, teams=teams)


def estate_from_file(stack: str, layout: Layout = PROJECT_LAYOUT) -> Estate:
    """A stack's estate read from its stack file alone (secrets as placeholders), as tools read it."""
    return load_estate(stack, *config_from_file(stack, layout), layout)


def load_team_spec(slug: str, layout: Layout = PROJECT_LAYOUT) -> TeamSpec:
    path = layout.team_dir(slug) / "team.yaml"
    try:
        return TeamSpec.model_validate(read_yaml(path, layout.relative(path)))
    except ValidationError as e:
        raise ConfigError(layout.relative(path), validation_problems(e, TeamSpec)) from None


def _load_team(slug: str, settings: TeamSettings, config: StackConfig, where: str, layout: Layout) -> Team:
    spec = load_team_spec(slug, layout)
    at = f"{PROJECT}:teams.{slug}"
    selector = ", ".join(s for s in (spec.selector, settings.selector) if s.strip())
    try:
        promql.matchers(selector)
    except ValueError as e:
        raise ConfigError(where, [(f"{at}.selector", f"not valid label matchers: {e}")]) from None
    spec_file = layout.relative(layout.team_dir(slug) / "team.yaml")
    # an exporter's series carry the stack's labels (env="prod") as the team's own do
    sources = {name: ", ".join(s for s in (own, settings.selector) if s.strip()) for name, own in spec.sources.items()}
    for name, full in sources.items():
        try:
            promql.matchers(full)
        except ValueError as e:
            raise ConfigError(spec_file, [(f"sources.{name}", f"not valid label matchers: {e}")]) from None
    contract = Contract(slug, selector, {m.name: m for m in spec.metrics}, sources)
    selectors = {"selector": selector, **{SOURCE_SELECTOR.format(name): full for name, full in sources.items()}}
    problems = [
        (f"{at}.overrides.{name}", f"unknown alert; allowed: {', '.join(a.alert for a in spec.alerts)}")
        for name in settings.overrides if name not in {a.alert for a in spec.alerts}
    ]
    problems += [
        (f"{at}.overrides.{a.alert}.threshold", "this alert has no threshold to override")
        for a in spec.alerts if (o := settings.overrides.get(a.alert)) and o.threshold is not None and a.threshold is None
    ]
    problems += [
        (f"{at}.variables.{name}", f"unknown variable; allowed: {', '.join(sorted(spec.variables)) or 'none'}")
        for name in settings.variables if name not in spec.variables
    ]
    if problems:
        raise ConfigError(where, problems)
    variables = {**spec.variables, **settings.variables}
    rules = tuple(_resolve_rule(slug, rule, settings, config, selectors, contract, variables, spec, spec_file)
                  for rule in (*spec.alerts, *slo.alert_rules(spec.slos)))
    view = TeamView(slug, spec.title, selectors, variables, {r.alert: r for r in rules}, spec)
    dashboards = tuple(_dashboards(slug, spec, selectors, contract, view, config, layout))
    return Team(slug=slug, spec=spec, settings=settings, selector=selector,
                folder_uid=spec.folder_uid or slug, dashboards=dashboards, rules=rules,
                notification_templates=team_overrides(slug, layout), sources=sources)


def _resolve_rule(slug: str, rule: AlertRule, settings: TeamSettings, config: StackConfig,
                  selectors: dict[str, str], contract: Contract, variables: dict[str, float], spec: TeamSpec,
                  spec_file: str) -> Rule:
    override = settings.overrides.get(rule.alert)
    threshold = override.threshold if override and override.threshold is not None else rule.threshold
    # the annotations quote the threshold in force in this stack
    annotation_values = {"threshold": promql.number(threshold)} if threshold is not None else {}

    def annotation(text: str) -> str:
        return template.fill(text, annotation_values, keep_unknown=True)

    params = {WINDOW: rule.window} if rule.window else {}
    quantity = promql_text(spec, spec.quantity_of(rule), selectors, variables, params)
    uid = rule.uid or f"{slug}-{kebab(rule.alert)}"
    resolved = Rule(
        alert=rule.alert,
        uid=uid,
        quantity=quantity,
        comparison=rule.comparison,
        threshold=threshold,
        for_=override.for_ if override and override.for_ else rule.for_,
        unit=rule.unit,
        no_data=rule.no_data,
        labels={**rule.labels, "severity": rule.severity, "team": slug},
        annotations={
            "summary": annotation(rule.summary),
            "description": annotation(rule.description),
            "runbook_url": f"{config.runbook_base_url.rstrip('/')}/{slug}/{rule.runbook_page}",
        },
    )
    problems = _selector_problems(f"alerts.{rule.alert}.quantity", resolved.expr, contract)
    if problems:
        raise ConfigError(spec_file, problems)
    if len(uid) > UID_MAX:
        raise ConfigError(spec_file, [(f"alerts.{rule.alert}.uid",
                                       f"generated uid '{uid}' is over {UID_MAX} characters; set a shorter uid")])
    return resolved


def promql_text(spec: TeamSpec, text: str, selectors: dict[str, str], variables: dict[str, float],
                params: dict[str, str]) -> str:
    """A team's PromQL template filled for one stack: expressions written out, then the selectors (the
    team's and its sources'), the variables (e.g. prices a stack may override) and `params` (the window)."""
    values = {**selectors, **{name: promql.number(v) for name, v in variables.items()}, **params}
    return template.fill(spec.expand(text), values)


def _dashboards(slug: str, spec: TeamSpec, selectors: dict[str, str], contract: Contract, view: "TeamView",
                config: StackConfig, layout: Layout) -> list[Dashboard]:
    team_dir = layout.team_dir(slug)
    relative = layout.relative
    sources: list[tuple[str, dict]] = []
    module_path = team_dir / "dashboards.py"
    if module_path.exists():
        try:
            built = _load_module(slug, module_path).dashboards(view)
            sources += [(relative(module_path), to_dict(b)) for b in built]
        except Exception as e:  # a team's code failing must stop the program with its file named
            raise ConfigError(relative(module_path), [("dashboards()", f"{type(e).__name__}: {e}")]) from None
    for index, item in enumerate(spec.imports):
        try:
            board = import_dashboard(load_exported(team_dir / item.file), selectors["selector"]).board
        except ImportProblems as e:  # what would change the dashboard's meaning, per panel
            raise ConfigError(relative(team_dir / item.file), e.problems) from None
        except OSError as e:
            raise ConfigError(relative(team_dir / "team.yaml"), [(
                f"imports.{index}.file",
                f"cannot read '{item.file}' ({e.strerror}); give a JSON file's path relative to teams/{slug}/")]) from None
        except ValueError as e:
            raise ConfigError(relative(team_dir / item.file), [("", str(e))]) from None
        if item.title:
            board["title"] = item.title
        board["uid"] = item.uid
        sources.append((relative(team_dir / item.file), board))
    sources = with_error_budget_rows(sources, spec.slos, relative(team_dir / "team.yaml"))
    prometheus = config.datasources.prometheus
    result = []
    for source, board in sources:
        uid = board.get("uid") or ""
        if not uid or len(uid) > UID_MAX:
            raise ConfigError(source, [(f"dashboard '{board.get('title')}'.uid",
                                        f"needs a uid of 1 to {UID_MAX} characters (got '{uid}')")])
        try:
            final = finalize(board, uid=uid, team=slug, selectors=selectors,
                             datasource_uid=prometheus.uid, datasource_name=prometheus.name)
            _check_queries(source, final, contract)
        except (AttributeError, TypeError, KeyError) as e:  # a JSON value of the wrong shape
            raise ConfigError(source, [(f"dashboard '{board.get('title')}'",
                                        f"not a dashboard model Grafana accepts ({type(e).__name__}: {e}); "
                                        "tags, templating.list, panels and targets must be lists of objects, "
                                        "target expr a string")]) from None
        result.append(Dashboard(uid=uid, title=final["title"], config_json=canonical_json(final)))
    return result


def _check_queries(source: str, board: dict, contract: Contract) -> None:
    problems = [
        problem
        for panel in panels(board) for target in panel.get("targets") or []
        for problem in _selector_problems(
            f"{board['uid']}.panels['{panel.get('title')}'].targets.{target.get('refId')}.expr",
            target.get("expr", ""), contract, variables=True)  # dashboard queries may use template variables
    ]
    if problems:
        raise ConfigError(source, problems)


def _selector_problems(where: str, expr: str, contract: Contract, variables: bool = False) -> list[tuple[str, str]]:
    """Why `expr` is not valid PromQL, or which of its metrics lack their selector (the team's, or
    that of the source the contract names for them); `variables`: a dashboard query (template variables)."""
    try:
        unscoped = promql.metrics_without(expr, contract.required_for, variables)
    except ValueError as e:
        return [(where, str(e))]
    by_placeholder: dict[str, list[str]] = {}
    for name in unscoped:
        metric = contract.series.get(name, (None,))[0]
        placeholder = source_selector(metric.source) if metric and metric.source else SELECTOR
        by_placeholder.setdefault(placeholder, []).append(name)
    return [(where, f"metrics {names} lack the team selector {SELECTOR}" if placeholder == SELECTOR
             else f"metrics {names} lack the selector of their source, {placeholder}")
            for placeholder, names in by_placeholder.items()]


@dataclass(frozen=True)
class TeamView:
    """What a team's dashboards module may read, resolved for the stack being deployed.

    `rules` are the team's alerts as they run in this stack (quantity, comparison, threshold in
    force), so a panel that shows an alerted quantity is built from its rule (dashboards.alerts);
    `expression()` gives one of team.yaml's shared expressions.
    """

    slug: str
    title: str
    selectors: dict[str, str]  # selector -> the team's in this stack; selector:<source> -> each source's
    variables: dict[str, float]
    rules: dict[str, Rule]
    spec: TeamSpec

    def rule(self, alert: str) -> Rule:
        if alert not in self.rules:
            raise LookupError(f"no alert '{alert}' in teams/{self.slug}/team.yaml; its alerts: {', '.join(self.rules)}")
        return self.rules[alert]

    def expression(self, name: str, **params: str) -> str:
        """The expression `name` of team.yaml as PromQL for this stack; `window=` fills its %(window)s."""
        if name not in self.spec.expressions:
            raise LookupError(f"no expression '{name}' in teams/{self.slug}/team.yaml; "
                              f"its expressions: {', '.join(self.spec.expressions) or 'none'}")
        try:
            return promql_text(self.spec, template.placeholder(name), self.selectors, self.variables, params)
        except template.UnknownPlaceholder as e:
            raise LookupError(f"expression '{name}' needs {e.name}=... (it uses %({e.name})s)") from None


def _load_module(slug: str, path: Path):
    name = f"teams_{slug.replace('-', '_')}_dashboards"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _check_unique_uids(config: StackConfig, teams: tuple[Team, ...], where: str) -> None:
    # Folders and dashboards share one uid space in Grafana; rules and datasources have their own.
    spaces = {
        "folder/dashboard": [(f"{t.slug} (folder)", t.folder_uid) for t in teams]
        + [(f"{t.slug} (dashboard '{d.title}')", d.uid) for t in teams for d in t.dashboards],
        "alert rule": [(f"{t.slug} (alerts.{r.alert})", r.uid) for t in teams for r in t.rules],
        "datasource": [(kind, ds.uid) for kind, ds in config.datasources.items()],
        "folder title": [(t.slug, t.spec.folder) for t in teams],
    }
    problems = []
    for space, owned in spaces.items():
        seen: dict[str, str] = {}
        for owner, uid in owned:
            if uid in seen:
                what = "folder titles" if space == "folder title" else "uids"
                problems.append((f"{space} '{uid}'", f"used by both {seen[uid]} and {owner}; {what} must be unique"))
            seen.setdefault(uid, owner)
    for team in teams:
        titles = [d.title for d in team.dashboards]
        problems += [(f"teams.{team.slug}", f"two dashboards titled '{t}' in one folder")
                     for t in sorted({t for t in titles if titles.count(t) > 1})]
    if problems:
        raise ConfigError(where, problems)
