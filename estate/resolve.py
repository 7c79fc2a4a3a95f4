"""The whole validated estate of one stack: stack config + every enabled team, resolved.

Everything that can be wrong is found here, before the first resource is registered:
a team that failed to load must never silently vanish (Pulumi would delete what it owns).
"""
from __future__ import annotations

import functools
import gc
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from pydantic import ValidationError

from dashboards.finalize import annotation_queries, annotations, canonical_json, finalize, link_problems, panels
from estate.slo_dashboard import error_budget, possible_rows, with_error_budget_rows

from syntax import promql, template

from . import grafana_templates, slo, team_code
from .config import LoadedConfig, config_from_file, load_stack_config
from .contract import Contract
from .files import depth, read_json, read_yaml
from .layout import PROJECT, PROJECT_LAYOUT, Layout
from .model import (DASHBOARD_JSON_MAX, TAG_MAX, TITLE_MAX, UID_MAX, ConfigError, duration_seconds, got, kebab,
                    quoted, single_line, too_long, unpadded, validation_problems)
from .notifications import team_overrides
from .stack import StackConfig, TeamSettings
from .team import SELECTOR, SOURCE_SELECTOR, WINDOW, AlertRule, TeamSpec, source_selector
from .team_view import AlertView, TeamView


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

    @functools.cached_property  # translated once, when the load checks it (grafana_templates.check_rules)
    def grafana_labels(self) -> dict[str, str]:
        """The labels in Grafana's template dialect (estate/grafana_templates.py)."""
        return grafana_templates.to_grafana_all(self.labels)

    @functools.cached_property
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
    secure_values: frozenset[str] = frozenset()  # values that came from secrets: masked wherever they land


# A run allocates millions of objects that live until it ends (the estate; the SDK's outputs, futures
# and tasks, thousands per team). With the collector's default 700 allocations between young
# collections, its full collections over all of them took a third of a 500-team run; with 10,000,
# the collections still took a quarter (4.7-5.5 s of a 500-team render, 12.5 s at 1,000 teams, where
# each young collection costs more: it reads what the young objects refer to, anywhere in the heap).
# With 100,000: 2.1-2.3 s and 7.2 s, and no full collection at 500 teams; the peak memory is the same
# (the young generation holds at most this many objects). Set where a run starts allocating: its load
# (begun before the Pulumi SDK is imported, in the offline render).
COLLECTOR_THRESHOLD = 100_000


def load_estate(stack: str, config: Mapping[str, str], secret_keys: set[str],
                layout: Layout = PROJECT_LAYOUT) -> Estate:
    """The stack's whole estate from the engine's `config` (namespaced keys, values as text) and
    the keys it marks secret; ConfigError, before any resource exists, when anything is wrong.

    Each file's problems are reported together, in this order: the stack file, then each team's
    team.yaml and code; a problem is blamed on the file that holds it. A load `begin_load` began
    with the same arguments is finished instead of starting another."""
    global _begun
    begun, _begun = _begun, None
    if begun is not None and begun.arguments != _Load.key(stack, config, secret_keys, layout):
        begun.abandon()
        begun = None
    return (begun or _Load(stack, config, secret_keys, layout)).estate()


def begin_load(stack: str, config: Mapping[str, str], secret_keys: set[str], layout: Layout = PROJECT_LAYOUT,
               then: Callable[[Estate], None] | None = None) -> None:
    """Read the files and send each team's code to the worker now; `load_estate` with the same
    arguments finishes this load, and calls `then` with the estate once it is checked, before the
    program registers anything. The offline render calls it before it imports the Pulumi SDK, so
    the team code runs meanwhile, and writes the estate's files in `then`, while the program
    registers. Whatever the load meets, `load_estate` raises."""
    global _begun
    if _begun is not None:
        _begun.abandon()
    _begun = _Load(stack, config, secret_keys, layout, then)


class _Load:
    """One load in two steps: the constructor reads the stack file and each team.yaml, and sends each
    team's code to the worker as soon as its rules are resolved, while the next team.yaml is read;
    `estate()` finishes each team's dashboards once the worker answered, and checks what spans teams.

    The problem it meets first is the one a load one step at a time would meet: the stack file's,
    then a team.yaml that does not validate, then what the stack file says of a team that it does
    not have, then each team's own problems in order. `estate()` raises it, secrets hidden."""

    @staticmethod
    def key(stack: str, config: Mapping[str, str], secret_keys: set[str], layout: Layout) -> tuple:
        return stack, tuple(sorted(config.items())), frozenset(secret_keys), layout

    def __init__(self, stack: str, config: Mapping[str, str], secret_keys: set[str], layout: Layout,
                 then: Callable[[Estate], None] | None = None) -> None:
        self.arguments = self.key(stack, config, secret_keys, layout)
        self.stack, self.layout, self.then = stack, layout, then
        self.where = layout.relative(layout.stack_file(stack))
        self.loaded: LoadedConfig | None = None
        self.error: ConfigError | None = None  # met while the files were read: raised by estate()
        self.problems: list[tuple[str, str]] = []  # what the stack file says of teams that do not have it
        self.started: list[Callable[[], Team]] = []  # each team, its code sent: the function finishes it
        self.failure: Exception | None = None  # a team's own problem, raised after the teams before it
        gc.set_threshold(COLLECTOR_THRESHOLD, *gc.get_threshold()[1:])
        team_code.prepare()  # the team-code process starts while the files are read
        try:
            self.loaded = load_stack_config(stack, config, secret_keys, layout)
            self._start_teams(self.loaded.config)
        except ConfigError as e:
            self.error = e

    def _start_teams(self, config: StackConfig) -> None:
        available = self.layout.team_names()
        unknown = [slug for slug in config.teams if slug not in available]
        if unknown:
            raise ConfigError(self.where, [
                (f"{PROJECT}:teams.{slug}", f"unknown team {quoted(slug)}; allowed: {', '.join(available)}")
                for slug in unknown
            ])
        for slug in sorted(config.teams):
            spec = load_team_spec(slug, self.layout)
            self.problems += _settings_problems(slug, spec, config.teams[slug])
            if not self.problems and self.failure is None:
                try:
                    self.started.append(_load_team(slug, spec, config.teams[slug], config, self.layout))
                except Exception as e:  # raised after the problems of the teams before it
                    self.failure = e

    def estate(self) -> Estate:
        secure_values = self.loaded.secure_values if self.loaded else frozenset()
        try:
            if self.error is not None:
                raise self.error
            if self.problems:
                raise ConfigError(self.where, self.problems)
            teams = tuple(finish() for finish in self.started)
            if self.failure is not None:
                raise self.failure
            for team in teams:  # what Grafana cannot run as promtool tested it stops here, before any resource
                grafana_templates.check_rules(team.rules, self.layout.relative(self.layout.team_file(team.slug)))
            _check_unique_uids(self.loaded.config, teams, self.where, self.layout)
            estate = Estate(stack=self.stack, config=self.loaded.config, teams=teams, secure_values=secure_values)
        except ConfigError as e:
            raise e.hiding(secure_values) from None
        finally:
            self.abandon()
        if self.then is not None:
            self.then(estate)
        return estate

    def abandon(self) -> None:
        """End the team code still running for this load (it stopped at a problem, or is not wanted)."""
        team_code.cancel_outstanding()


_begun: _Load | None = None  # the load begin_load began, until load_estate finishes it


def estate_from_file(stack: str, layout: Layout = PROJECT_LAYOUT) -> Estate:
    """A stack's estate read from its stack file alone (secrets as placeholders), as tools read it."""
    return load_estate(stack, *config_from_file(stack, layout), layout)


def load_team_spec(slug: str, layout: Layout = PROJECT_LAYOUT) -> TeamSpec:
    path = layout.team_file(slug)
    try:
        return TeamSpec.model_validate(read_yaml(path, layout.relative(path)))
    except ValidationError as e:
        raise ConfigError(layout.relative(path), validation_problems(e, TeamSpec)) from None


def _settings_problems(slug: str, spec: TeamSpec, settings: TeamSettings) -> list[tuple[str, str]]:
    """What the stack file says about a team that the team does not have."""
    at = f"{PROJECT}:teams.{slug}"
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
    return problems


def _load_team(slug: str, spec: TeamSpec, settings: TeamSettings, config: StackConfig,
               layout: Layout) -> Callable[[], Team]:
    """Resolve a team up to its team code, which is sent to the worker; the function returned finishes it."""
    selector = ", ".join(s for s in (spec.selector, settings.selector) if s.strip())
    spec_file = layout.relative(layout.team_file(slug))
    # an exporter's series carry the stack's labels (env="prod") as the team's own do
    sources = {name: ", ".join(s for s in (own, settings.selector) if s.strip()) for name, own in spec.sources.items()}
    for name, full in sources.items():
        try:
            promql.matchers(full)
        except ValueError as e:
            raise ConfigError(spec_file, [(f"sources.{name}", f"not valid label matchers: {e}")]) from None
    contract = Contract(slug, selector, {m.name: m for m in spec.metrics}, sources)
    selectors = {"selector": selector, **{SOURCE_SELECTOR.format(name): full for name, full in sources.items()}}
    variables = {**spec.variables, **settings.variables}
    rules, problems = [], []
    for rule in (*spec.alerts, *slo.alert_rules(spec.slos)):  # every rule's problems, not only the first rule's
        try:
            rules.append(_resolve_rule(slug, rule, settings, config, selectors, contract, variables, spec, spec_file))
        except ConfigError as e:
            problems += e.problems
    if problems:
        raise ConfigError(spec_file, problems)
    rules = tuple(rules)
    view = TeamView(slug, spec.title, variables,
                    {r.alert: AlertView(r.alert, r.quantity, r.comparison, r.threshold, r.unit) for r in rules},
                    {name: promql_text(spec, template.placeholder(name), selectors, variables, {}, keep=(WINDOW,))
                     for name in spec.expressions})
    finish_dashboards = _dashboards(slug, spec, selectors, contract, view, config, layout)

    def finish() -> Team:
        return Team(slug=slug, spec=spec, settings=settings, selector=selector,
                    folder_uid=spec.folder_uid or slug, dashboards=tuple(finish_dashboards()), rules=rules,
                    notification_templates=team_overrides(slug, layout), sources=sources)
    return finish


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
                params: dict[str, str], keep: tuple[str, ...] = ()) -> str:
    """A team's PromQL template filled for one stack: expressions written out, then the selectors (the
    team's and its sources'), the variables (e.g. prices a stack may override) and `params` (the window);
    the placeholders named in `keep` stay for later."""
    values = {**selectors, **{name: promql.number(v) for name, v in variables.items()}, **params}

    def value(name: str) -> str | None:
        if name in values:
            return values[name]
        if name in keep:
            return None
        raise template.UnknownPlaceholder(name)

    return template.fill(spec.expand(text), value, keep_unknown=True)


def _dashboards(slug: str, spec: TeamSpec, selectors: dict[str, str], contract: Contract, view: TeamView,
                config: StackConfig, layout: Layout) -> Callable[[], list[Dashboard]]:
    """Send the team's code to the worker; the function returned builds the dashboards once it answered."""
    team_dir = layout.team_dir(slug)
    module_path = team_dir / "dashboards.py"
    module_file = layout.relative(module_path)
    pending = None
    if module_path.exists() or spec.dashboards:
        if not module_path.exists():
            raise ConfigError(layout.relative(layout.team_file(slug)), [
                ("dashboards", f"declares {', '.join(spec.dashboards)}, which {module_file} builds; that file is missing")])
        pending = team_code.start_dashboards(slug, module_path, view, module_file)
    rows = team_code.start_error_budget_rows([error_budget(s) for s in spec.slos], possible_rows(spec.slos),
                                             layout.relative(layout.team_file(slug))) if spec.slos else None
    return lambda: _finish_dashboards(slug, spec, selectors, contract, pending, rows, config, layout)


def _finish_dashboards(slug: str, spec: TeamSpec, selectors: dict[str, str], contract: Contract,
                       pending: team_code.PendingDashboards | None, rows: team_code.PendingRows | None,
                       config: StackConfig, layout: Layout) -> list[Dashboard]:
    team_dir = layout.team_dir(slug)
    relative = layout.relative
    spec_file = relative(layout.team_file(slug))
    sources: list[tuple[str, dict]] = []
    module_file = relative(team_dir / "dashboards.py")
    if pending is not None:
        built = pending.result()
        for board in built:
            _check_uid(module_file, board)
        sources += [(module_file, board) for board in built]
        produced = [str(b.get("uid")) for b in built]
        missing = [u for u in spec.dashboards if u not in produced]
        undeclared = [u for u in produced if u not in spec.dashboards]
        problems = []
        if missing:
            problems.append(("dashboards()", f"did not build {', '.join(missing)}, which team.yaml declares "
                                             f"(it built: {', '.join(produced) or 'nothing'})"))
        if undeclared:
            problems.append(("dashboards()", f"built {', '.join(_shown_uid(u) for u in undeclared)}, which team.yaml "
                                             "does not declare: list every uid it builds under `dashboards:`"))
        twice = sorted({u for u in produced if produced.count(u) > 1})  # the team's code's doing, not team.yaml's
        if twice:
            problems.append(("dashboards()", f"built {', '.join(_shown_uid(u) for u in twice)} more than once: "
                                             "return each dashboard once"))
        if problems:
            raise ConfigError(module_file, problems)
    if spec.imports:  # loaded here: only a team that imports exported dashboards needs the importer (3 ms)
        from dashboards.importer import ImportProblems, from_export, import_dashboard
    for index, item in enumerate(spec.imports):
        path = team_dir / item.file
        if not path.resolve().is_relative_to(team_dir.resolve()):
            raise ConfigError(spec_file, [(f"imports.{index}.file", f"must be a file inside teams/{slug}/")])
        if not path.exists():
            raise ConfigError(spec_file, [(
                f"imports.{index}.file",
                f"cannot read '{item.file}' (No such file or directory); give a JSON file's path relative to "
                f"teams/{slug}/")])
        try:
            board = import_dashboard(from_export(read_json(path, relative(path))), selectors["selector"]).board
        except ImportProblems as e:  # what would change the dashboard's meaning, per panel
            raise ConfigError(relative(path), e.problems) from None
        except ValueError as e:
            raise ConfigError(relative(path), [("", str(e))]) from None
        if item.title:
            board["title"] = item.title
        board["uid"] = item.uid
        sources.append((relative(path), board))
    if rows is not None:
        sources = with_error_budget_rows(sources, spec.slos, spec_file, rows.result())
    prometheus = config.datasources.prometheus
    result = []
    for source, board in sources:
        uid = _check_uid(source, board)
        title = _check_title(source, board, uid)
        _check_tags(source, board, uid)
        if depth(board) > 64:
            raise ConfigError(source, [(f"dashboard {title}", "nested more than 64 levels deep")])
        try:
            final = finalize(board, uid=uid, team=slug, selectors=selectors,
                             datasource_uid=prometheus.uid, datasource_name=prometheus.name)
            _check_queries(source, final, contract)
            unsafe = link_problems(final)  # an import's were refused in the export's own paths, by the importer
        except (AttributeError, TypeError, KeyError, ValueError, RecursionError) as e:  # a JSON value of the wrong shape
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(source, [(f"dashboard {title}",
                                        f"not a dashboard model Grafana accepts ({type(e).__name__}); "
                                        "tags, templating.list, panels and targets must be lists of objects, "
                                        "target expr a string")]) from None
        if unsafe:
            raise ConfigError(source, [(f"dashboard {uid}: {where}", why) for where, why in unsafe])
        config_json = canonical_json(final)
        # a character is 4 bytes at most: only a board of more than a quarter of the bound is counted
        size = len(config_json.encode()) if len(config_json) * 4 > DASHBOARD_JSON_MAX else 0
        if size > DASHBOARD_JSON_MAX:
            raise ConfigError(source, [(f"dashboard {uid}", f"{size:,} bytes of JSON; Grafana's MySQL database "
                                                          f"holds at most {DASHBOARD_JSON_MAX:,} (dashboard.data, "
                                                          "MEDIUMTEXT)")])
        result.append(Dashboard(uid=uid, title=final["title"], config_json=config_json))
    return result


def _check_uid(source: str, board: dict) -> str:
    """The board's uid, which Grafana allows as [a-zA-Z0-9_-] up to 40 characters (it is also a file name
    in the render: `../../x` must never be one)."""
    uid = board.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,%d}" % UID_MAX, uid):
        raise ConfigError(source, [(f"dashboard {_shown_uid(board.get('title'))}.uid",
                                    f"a uid is 1 to {UID_MAX} letters, digits, '-' or '_' (Grafana's rule)" + got(uid))])
    return uid


def _check_title(source: str, board: dict, uid: str) -> str:
    """The board's title as Grafana takes it: text, not blank (the dashboard service's ErrDashboardTitleEmpty),
    at most TITLE_MAX characters (its dashboard.title column; the service's own 5,000 bytes are more), one
    line and not padded (DisplayName's rules)."""
    title = board.get("title")
    problem = None
    if not isinstance(title, str) or not title.strip():
        problem = "a dashboard needs a title (Grafana refuses one without)" + got(title)
    elif longer := too_long(title, TITLE_MAX, "dashboard.title"):
        problem = f"a title of {longer}"
    else:
        try:
            unpadded(single_line(title))
        except ValueError as e:
            problem = str(e)
    if problem:
        raise ConfigError(source, [(f"dashboard {uid}.title", problem)])
    return _shown_uid(title)


def _check_tags(source: str, board: dict, uid: str) -> None:
    """The board's tags as Grafana keeps them: a list of texts, each one line of at most TAG_MAX characters
    (a row of its dashboard_tag table). A text in place of the list would be taken letter by letter."""
    tags = board.get("tags", [])
    if not isinstance(tags, list):
        problem = "must be a list of texts" + got(tags)
    else:
        problem = next(filter(None, map(_tag_problem, tags)), None)
    if problem:
        raise ConfigError(source, [(f"dashboard {uid}.tags", problem)])


def _tag_problem(tag) -> str | None:
    if not isinstance(tag, str):
        return "each tag is a text" + got(tag)
    if longer := too_long(tag, TAG_MAX, "dashboard_tag.term"):
        return f"a tag of {longer}"
    try:
        single_line(tag)
    except ValueError as e:
        return f"a tag {e}"
    return None


def _shown_uid(value) -> str:
    return got(value).removeprefix(" (got ").removesuffix(")") or "(hidden)"


def _check_queries(source: str, board: dict, contract: Contract) -> None:
    problems = [
        problem
        for panel in panels(board) for target in panel.get("targets") or []
        for problem in _selector_problems(
            f"{board['uid']}.panels['{panel.get('title')}'].targets.{target.get('refId')}.expr",
            target.get("expr", ""), contract, variables=True)  # dashboard queries may use template variables
    ]
    problems += [problem for annotation in annotations(board) for holder, at in annotation_queries(annotation)
                 for problem in _selector_problems(f"{board['uid']}.annotations['{annotation.get('name')}'].{at}",
                                                   holder["expr"], contract, variables=True)]
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


def _check_unique_uids(config: StackConfig, teams: tuple[Team, ...], where: str, layout: Layout) -> None:
    """uids unique where Grafana needs them; a clash inside one team is that team's team.yaml's
    problem, a clash between teams (or with a datasource) the stack file's, which puts them together."""
    # Folders and dashboards share one uid space in Grafana; rules and datasources have their own.
    spaces = {
        "folder/dashboard": [(t.slug, f"{t.slug} (folder)", t.folder_uid) for t in teams]
        + [(t.slug, f"{t.slug} (dashboard '{d.title}')", d.uid) for t in teams for d in t.dashboards],
        "alert rule": [(t.slug, f"{t.slug} (alerts.{r.alert})", r.uid) for t in teams for r in t.rules],
        "datasource": [(None, kind, ds.uid) for kind, ds in config.datasources.items()],
        "folder title": [(t.slug, t.slug, t.spec.folder) for t in teams],
    }
    by_file: dict[str, list[tuple[str, str]]] = {}

    def blame(slugs: set, problem: tuple[str, str]) -> None:
        slug = next(iter(slugs)) if len(slugs) == 1 and None not in slugs else None
        file = layout.relative(layout.team_file(slug)) if slug else where
        by_file.setdefault(file, []).append(problem)

    for space, owned in spaces.items():
        seen: dict[str, tuple] = {}
        for slug, owner, uid in owned:
            if uid in seen:
                what = "folder titles" if space == "folder title" else "uids"
                blame({slug, seen[uid][0]}, (f"{space} '{uid}'", f"used by both {seen[uid][1]} and {owner}; {what} "
                                                                 "must be unique"))
            seen.setdefault(uid, (slug, owner))
    for team in teams:
        titles = [d.title for d in team.dashboards]
        for t in sorted({t for t in titles if titles.count(t) > 1}):
            blame({team.slug}, (f"teams.{team.slug}", f"two dashboards titled '{t}' in one folder"))
    if by_file:
        file = where if where in by_file else sorted(by_file)[0]
        raise ConfigError(file, by_file[file])
