"""Every query of an adopted team (imports only, drafted contract) runs on a real Prometheus and returns data.

The same proof tests/test_prometheus_queries.py gives the committed teams: Debian's `prometheus`
on 127.0.0.1 (free port, temporary storage, stopped by PID) over synthetic history generated
from the team's metric contract (tools/synthetic.py), here the contract `tools.adopt contract`
drafted from the imported dashboards. Template variables are filled in as Grafana does with
their defaults (`tools.adopt.interpolate`), Grafana's macros as for every query.
"""
from __future__ import annotations

import json
import math
import time

import pytest

from dashboards.finalize import panels
from dashboards.importer import interpolate, variable_exprs
from estate.contract import Contract
from syntax.promql import substitute_macros, without_filters
from estate.team import Metric
from tests.conftest import load_yaml, scratch_layout
from tests.test_adopt_team import run_payments, write_payments_team
from tools import adopt, synthetic
from tools.prometheus_server import PrometheusMissing, PrometheusServer, QueryError, binary, result_size

STACK = "prod"
RANGE_SECONDS, STEP = 30 * 60, 60


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    """The payments team's rendered queries and its drafted contract, in stack prod."""
    layout = scratch_layout(tmp_path_factory.mktemp("adopt") / "project", teams=())
    team = write_payments_team(layout.teams)
    saved, adopt.LAYOUT = adopt.LAYOUT, layout
    try:
        assert adopt.main(["contract", "payments", "--write"]) == 0
    finally:
        adopt.LAYOUT = saved
    run = run_payments(layout, STACK)
    spec = load_yaml((team / "team.yaml").read_text())
    contract = Contract("payments", f'job="payments", env="{STACK}"',
                             {m["name"]: Metric.model_validate(m) for m in spec["metrics"]})
    cases = []
    for board in run.dashboards_of("payments"):
        model = json.loads(board.inputs["configJson"])
        for panel in panels(model):
            for target in panel.get("targets") or []:
                if target.get("expr"):
                    cases.append((f"{board.name}/{panel['title']}/{target['refId']}",
                                  interpolate(target["expr"], model), bool(target.get("instant")), False))
        for annotation in model["annotations"]["list"]:
            if annotation.get("expr"):  # marks where it is true: what it compares must return data
                cases.append((f"{board.name}/annotation {annotation['name']}",
                              interpolate(annotation["expr"], model), False, True))
        for expr in variable_exprs(model):
            cases.append((f"{board.name}/variable", interpolate(expr, model), True, False))
    return contract, cases


@pytest.fixture(scope="module")
def prometheus(adopted, tmp_path_factory):
    try:
        promtool = binary("promtool")
        binary("prometheus")
    except PrometheusMissing as e:
        pytest.fail(str(e), pytrace=False)
    contract, cases = adopted
    end = int(time.time()) // synthetic.STEP_SECONDS * synthetic.STEP_SECONDS - synthetic.STEP_SECONDS
    data = tmp_path_factory.mktemp("adopt-prometheus") / "data"
    source = synthetic.TeamSource(STACK, contract, [expr for _, expr, _, _ in cases])
    synthetic.backfill([synthetic.openmetrics([source], end)], data, promtool)
    server = PrometheusServer.start(data)
    try:
        yield server, end
    finally:
        server.stop()


def test_the_adopted_team_has_queries_from_every_dashboard(adopted):
    _, cases = adopted
    boards = {where.split("/")[0] for where, *_ in cases}
    assert boards == {"payments-legacy", "payments-api", "payments-providers", "payments-business", "payments-workers"}
    assert len(cases) >= 25


def test_every_panel_query_names_only_the_drafted_contract(adopted):
    contract, cases = adopted
    problems = {where: contract.problems(expr) for where, expr, _, _ in cases if "/variable" not in where}
    assert {w: p for w, p in problems.items() if p} == {}


def test_every_adopted_query_runs_on_prometheus_and_returns_data(adopted, prometheus):
    server, end = prometheus
    _, cases = adopted
    failures = []
    for where, expr, instant, compares in cases:
        query = substitute_macros(without_filters(expr) or expr if compares else expr)
        try:
            data = server.query(query, end) if instant else server.query_range(query, end - RANGE_SECONDS, end, STEP)
        except QueryError as e:
            failures.append(f"{where}: Prometheus refused `{query}`: {e}")
            continue
        if not result_size(data):
            failures.append(f"{where}: no data for `{query}`")
        elif not _numbers(data):
            failures.append(f"{where}: only NaN for `{query}`")
    assert not failures, "\n".join(failures)


def _numbers(data: dict) -> int:
    """Series with at least one value that is a number (not NaN)."""
    if data["resultType"] == "scalar":
        return int(not math.isnan(float(data["result"][1])))
    return sum(any(v and not math.isnan(float(v[1])) for v in s.get("values") or [s.get("value")]) for s in data["result"])
