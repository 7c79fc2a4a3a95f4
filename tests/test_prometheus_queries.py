"""Every panel query and every alert expression of every stack, run on a real Prometheus.

One server for the whole session (tools/prometheus_server.py) on 127.0.0.1, a free port and a
temporary storage that holds synthetic history for every team's metric contract in every stack
(tools/synthetic.py, backfilled with `promtool tsdb create-blocks-from openmetrics` before the
server starts). Each query first has to name only metrics and labels of its team's contract;
then it must run without error and return data (at least one series with a number that is not
NaN). Queries run in one concurrent batch; each team's test reads its queries' results. Nothing is
rendered at collection: the stacks render on first use, once per session (tools.render.committed).
"""
from __future__ import annotations

import functools
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from dashboards.finalize import panels
from estate import PROJECT_LAYOUT
from estate.contract import Contract, contracts
from estate.model import duration_seconds
from syntax.promql import substitute_macros, without_absence, without_filters
from estate.team import Metric
from tests.conftest import STACK_TEAMS, load_yaml
from tools import synthetic
from tools.render import committed, read_render, rendered_stacks
from dashboards.importer import interpolate  # template variables of imported dashboards, at their defaults
from tools.prometheus_server import (
    SETUP_HINT, PrometheusMissing, PrometheusServer, QueryError, binary, result_size,
)

RANGE_SECONDS = 30 * 60  # range queries: the last 30 minutes of the history...
RANGE_STEP = 60  # ...every minute, or the target's own interval when it is longer
MAX_SERIES = 5000


@dataclass(frozen=True)
class Case:
    id: str
    stack: str
    team: str
    where: str  # "dashboard <uid>, panel '<title>', target A" or "alert <name> (rules/<team>.yaml)"
    expr: str
    instant: bool
    step: int = RANGE_STEP
    alert: bool = False

    @property
    def guard(self) -> bool:
        """An alert that fires on absence (absent(x)): on the full history it must stay empty."""
        return self.alert and without_absence(self.expr) is not None

    @property
    def data_expr(self) -> str:
        """What must return data: an alert's expression without its comparisons (empty = not firing);
        a guard's, what it watches (`absent(x)` -> `x`: every metric it names exists)."""
        if not self.alert:
            return self.expr
        expr = without_filters(self.expr) or self.expr
        return without_absence(expr) or expr


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@functools.lru_cache(maxsize=None)
def collect() -> list[Case]:
    """Every query of every committed stack: each panel target and each alert (rendered on first use)."""
    cases: list[Case] = []
    for stack, folder in rendered_stacks().items():
        for board in read_render(folder)[1]:
            for panel in panels(board.board):
                for target in panel.get("targets") or []:
                    if not target.get("expr"):
                        continue
                    ref = target.get("refId", "A")
                    title = panel.get("title") or f"#{panel.get('id')}"
                    interval = duration_seconds(target.get("interval") or "") or 0
                    cases.append(Case(
                        id=f"{stack}-{board.team}-{board.uid}-{_slug(title)}-{ref}",
                        stack=stack, team=board.team,
                        where=f"dashboard {board.uid}, panel '{title}', target {ref}",
                        expr=interpolate(target["expr"], board.board), instant=bool(target.get("instant")),
                        step=max(RANGE_STEP, interval)))
        for rules in sorted((folder / "rules").glob("*.yaml")):
            for group in load_yaml(rules.read_text()).get("groups") or []:
                for rule in group.get("rules") or []:
                    name = rule.get("alert") or rule.get("record")
                    cases.append(Case(
                        id=f"{stack}-{rules.stem}-alert-{name}", stack=stack, team=rules.stem,
                        where=f"alert {name} (rules/{rules.name})", expr=rule["expr"], instant=True, alert=True))
    return cases




# ---------------------------------------------------------------------------------------------
# The server and the batch of queries
# ---------------------------------------------------------------------------------------------

@dataclass
class History:
    server: PrometheusServer
    end: int  # the last sample's timestamp: instant queries are evaluated here


@pytest.fixture(scope="session")
def history(tmp_path_factory) -> History:
    try:
        promtool = binary("promtool")
        binary("prometheus")
    except PrometheusMissing as e:
        pytest.fail(str(e), pytrace=False)
    root = tmp_path_factory.mktemp("prometheus")
    # The history ends a step ago: it lies wholly in the past, in blocks, before the server starts.
    end = int(time.time()) // synthetic.STEP_SECONDS * synthetic.STEP_SECONDS - synthetic.STEP_SECONDS
    stacks = rendered_stacks()
    synthetic.backfill((synthetic.openmetrics(synthetic.sources_for(stack, folder), end)
                        for stack, folder in stacks.items()), root / "data", promtool)
    server = PrometheusServer.start(root / "data")
    try:
        yield History(server, end)
    finally:
        server.stop()


@dataclass
class Outcome:
    error: str | None = None  # the expression as written failed
    as_written: int = 0  # series the expression as written returned
    series: int = 0  # series the data expression returned
    numbers: int = 0  # of which with a value that is not NaN
    data_error: str | None = None


def _numbers(data: dict) -> int:
    if data["resultType"] == "scalar":
        return int(not math.isnan(float(data["result"][1])))
    count = 0
    for series in data["result"]:
        values = series.get("values") or [series.get("value")]
        count += any(v and not math.isnan(float(v[1])) for v in values)
    return count


def _run(server: PrometheusServer, end: int, case: Case) -> Outcome:
    def run(expr: str) -> dict:
        expr = substitute_macros(expr)
        if case.instant:
            return server.query(expr, end)
        return server.query_range(expr, end - RANGE_SECONDS, end, case.step)

    outcome = Outcome()
    try:
        data = run(case.expr)
    except QueryError as e:
        outcome.error = str(e)
        return outcome
    outcome.as_written = result_size(data)
    if case.data_expr != case.expr:
        try:
            data = run(case.data_expr)
        except QueryError as e:
            outcome.data_error = str(e)
            return outcome
    outcome.series, outcome.numbers = result_size(data), _numbers(data)
    return outcome


@pytest.fixture(scope="session")
def outcomes(history: History) -> dict[str, Outcome]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        cases = collect()
        return dict(zip((c.id for c in cases), pool.map(lambda c: _run(history.server, history.end, c), cases)))


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

def describe(case: Case) -> str:
    return f"stack {case.stack}, team {case.team}, {case.where}:\n  {case.expr}"


def query_problems(case: Case, contract: Contract, outcome: Outcome) -> list[str]:
    """Why one query fails: it names what the contract lacks, Prometheus refuses it, or it finds no data."""
    problems = contract.problems(case.expr)
    if problems:
        return [f"names what team {case.team}'s metric contract lacks:\n  " + "\n  ".join(problems)]
    if outcome.error is not None:
        return [f"Prometheus refused it: {outcome.error}"]
    if outcome.data_error is not None:
        return [f"its left side `{case.data_expr}` failed: {outcome.data_error}"]
    what = "the query" if case.data_expr == case.expr else f"what it compares, `{case.data_expr}`,"
    if not outcome.series:
        return [f"{what} returned no series from the synthetic history"]
    if not outcome.numbers:
        return [f"{what} returned only NaN"]
    if case.guard and outcome.as_written:  # every metric the guard watches is there: a typo would make it fire forever
        return ["the guard fires on a history that holds every metric it watches"]
    return []


@pytest.mark.parametrize("stack, team", STACK_TEAMS, ids=[f"{s}-{t}" for s, t in STACK_TEAMS])
def test_every_query_of_the_team_names_only_its_contract_and_returns_data(stack, team, outcomes: dict[str, Outcome]):
    contract = contracts(committed(stack).run.estate)[team]
    cases = [c for c in collect() if c.stack == stack and c.team == team]
    assert cases, f"stack {stack} renders no query of team {team}"
    failures = [f"{describe(case)}\n{problem}" for case in cases for problem in query_problems(case, contract, outcomes[case.id])]
    assert not failures, f"{len(failures)} of {len(cases)} queries fail:\n\n" + "\n\n".join(failures)


def test_every_stack_dashboard_and_alert_is_covered():
    cases = collect()
    assert {c.stack for c in cases} == set(PROJECT_LAYOUT.stack_names())
    for stack, folder in rendered_stacks().items():
        boards = {b.uid for b in read_render(folder)[1]
                  if any(t.get("expr") for p in panels(b.board) for t in p.get("targets") or [])}
        alerts = sum(len(g.get("rules") or []) for f in (folder / "rules").glob("*.yaml")
                     for g in load_yaml(f.read_text()).get("groups") or [])
        assert {c.where.split(",")[0].split()[1] for c in cases if c.stack == stack and not c.alert} == boards
        assert sum(c.alert for c in cases if c.stack == stack) == alerts


def test_the_synthetic_history_holds_every_contract_series_of_every_stack(history: History):
    [total] = history.server.query('count({__name__=~".+"})', history.end)["result"]
    assert int(total["value"][1]) <= MAX_SERIES, f"{total['value'][1]} series: keep the synthetic history small"
    found = history.server.query('count by (__name__, job, env) ({__name__=~".+"})', history.end)["result"]
    have = {(r["metric"]["__name__"], r["metric"].get("job"), r["metric"].get("env")) for r in found}
    missing = []
    for stack in rendered_stacks():
        for contract in contracts(committed(stack).run.estate).values():
            for series, (metric, suffix) in contract.series.items():
                if suffix in ("_total", "_info"):
                    continue  # the other spelling of a counter / info metric named without the suffix
                labels = synthetic.selector_labels(contract.selector_of(metric))  # an exporter's: its own job
                if (series, labels.get("job"), labels.get("env")) not in have:
                    missing.append(f"{stack}/{contract.team}: {series}")
    assert not missing, "series missing from the synthetic history:\n  " + "\n  ".join(missing)


# ---------------------------------------------------------------------------------------------
# The checks themselves
# ---------------------------------------------------------------------------------------------

CONTRACT = Contract("shop", 'job="shop", env="prod"', {
    "http_requests_total": Metric(name="http_requests_total", type="counter", labels=["endpoint", "status"],
                                  help="Requests.", rate=5,
                                  values={"status": {"200": 1, "404": 0.05, "500": 0.02}}),
    "http_request_duration_seconds": Metric(name="http_request_duration_seconds", type="histogram",
                                            labels=["endpoint"], help="Request latency.", range=[0.03, 0.45]),
    "up": Metric(name="up", type="gauge", help="Target up.", range=[0, 1]),
})


def test_a_metric_outside_the_contract_is_named():
    problems = CONTRACT.problems('sum(rate(http_request_total{job="shop", env="prod"}[5m]))')
    assert len(problems) == 1 and "metric 'http_request_total' is not in team shop's metric contract" in problems[0]


def test_a_label_outside_the_contract_is_named_in_matchers_and_grouping():
    problems = CONTRACT.problems(
        'sum by (method) (rate(http_requests_total{job="shop", env="prod", verb="GET"}[5m]))')
    assert any("label 'verb' of metric 'http_requests_total'" in p for p in problems)
    assert any("by(method)" in p and "label 'method'" in p for p in problems)
    assert len(problems) == 2


def test_histogram_series_and_target_labels_are_part_of_the_contract():
    ok = ('histogram_quantile(0.95, sum by (le, endpoint, instance) '
          '(rate(http_request_duration_seconds_bucket{job="shop", env="prod"}[$__rate_interval])))'
          ' / on (endpoint) group_left sum by (endpoint) (rate(http_request_duration_seconds_count{job="shop", env="prod"}[5m]))')
    assert CONTRACT.problems(ok) == []
    assert CONTRACT.problems('http_request_duration_seconds{job="shop"}')  # a histogram has no bare series
    assert CONTRACT.problems('label_replace(up{job="shop"}, "check", "x", "", "") and on (check) up') == []


def test_an_alert_must_return_data_for_what_it_compares():
    assert without_filters('up{job="a"} == 0') == '(up{job="a"})'
    assert without_filters(
        'count by (topic) (min by (topic, partition) (kafka_in_sync{job="a"}) == 0) > 0'
    ) == '(count by (topic)((min by (topic, partition)(kafka_in_sync{job="a"}))))'
    assert without_filters('sum(rate(x_total[5m])) / sum(rate(y_total[5m])) > bool 0.05') is None
    assert without_filters('rate(x_total[5m])') is None


def test_the_failure_message_names_stack_team_dashboard_panel_and_metric():
    case = Case("prod-shop-b-p-A", "prod", "shop", "dashboard shop-overview, panel 'Requests', target A",
                'sum(rate(http_request_total{job="shop", env="prod"}[5m]))', False)
    message = describe(case) + "\n" + "\n".join(CONTRACT.problems(case.expr))
    for part in ("stack prod", "team shop", "dashboard shop-overview", "panel 'Requests'", "'http_request_total'"):
        assert part in message


def test_a_missing_prometheus_says_how_to_install_it():
    with pytest.raises(PrometheusMissing, match=re.escape(SETUP_HINT)):
        binary("prometheus-that-is-not-installed")
    assert "bash scripts/setup" in SETUP_HINT


def test_the_synthetic_history_is_shaped_like_real_metrics():
    source = synthetic.TeamSource("prod", CONTRACT, [
        'sum(rate(http_requests_total{job="shop", env="prod", status=~"5..", endpoint="/cart"}[5m]))',
        'sum(rate(http_request_duration_seconds_bucket{job="shop", env="prod", le="0.3", endpoint=~"/cart|/pay"}[5m]))',
    ])
    end = 1_800_000_000
    families = synthetic.families([source], end)
    assert set(families) == {"http_requests", "http_request_duration_seconds", "up"}
    assert families["http_requests"][0] == "counter" and families["http_request_duration_seconds"][0] == "histogram"

    def samples(family: str) -> dict[str, list[tuple[int, float]]]:
        series: dict[str, list[tuple[int, float]]] = {}
        for line in families[family][2]:
            name, value, t = line.rsplit(" ", 2)
            series.setdefault(name, []).append((int(t), float(value)))
        return series

    requests = samples("http_requests")
    statuses = {re.search(r'status="(\d+)"', s).group(1) for s in requests}
    endpoints = {re.search(r'endpoint="([^"]+)"', s).group(1) for s in requests}
    assert statuses == {"200", "404", "500"} and "/cart" in endpoints and "/pay" not in endpoints  # per metric
    assert all('env="prod"' in s and 'job="shop"' in s and 'instance="' in s for s in requests)
    for values in requests.values():
        assert [t for t, _ in values] == sorted(t for t, _ in values) and values[-1][0] == end
        assert all(b[1] >= a[1] for a, b in zip(values, values[1:])), "counters never decrease"

    histogram = samples("http_request_duration_seconds")
    at_end = {name: values[-1][1] for name, values in histogram.items()}
    one = next(n for n in at_end if n.startswith("http_request_duration_seconds_count"))
    labels = one[one.index("{"):].rstrip("}")
    buckets = sorted(((float(re.search(r'le="([^"]+)"', n).group(1)), v) for n, v in at_end.items()
                      if n.startswith("http_request_duration_seconds_bucket" + labels + ",")))
    assert 0.3 in [le for le, _ in buckets], "a bucket where a query asks for one"
    assert {"/cart", "/pay"} <= {re.search(r'endpoint="([^"]+)"', n).group(1) for n in histogram}
    assert all(b[1] >= a[1] for a, b in zip(buckets, buckets[1:])), "buckets are cumulative"
    assert buckets[-1] == (math.inf, at_end[one]), "+Inf is the count"
    assert 0 < at_end["http_request_duration_seconds_sum" + labels + "}"] / at_end[one] < 1  # a mean latency in seconds

    up = samples("up")
    assert len(up) == 2 and sum(v == 0 for values in up.values() for _, v in values) > 0
    assert all(values[-1][1] == 1 for values in up.values()), "every instance is up at the end"
