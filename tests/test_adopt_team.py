"""A team of imported dashboards only (no dashboards.py, no alerts), its drafted contract, and what the program makes of it."""
from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from components.types import ResourceType as T
from dashboards.finalize import panels
from estate import ConfigError, Layout
from estate.files import read_yaml
from syntax import promql
from estate.team import TeamSpec
from tests.conftest import load_yaml, run_values, scratch_layout, stack_values
from tools import adopt, command

FIXTURES = Path(__file__).parent / "fixtures" / "adopt"
IMPORTS = {  # file -> uid
    "grafana4-payments-legacy-rows.json": "payments-legacy",
    "grafana7-payments-api.json": "payments-api",
    "grafana8-payments-providers.json": "payments-providers",
    "grafana10-payments-business.json": "payments-business",
    "grafana12-payments-workers.json": "payments-workers",
}


def write_payments_team(teams_dir: Path) -> Path:
    """teams/payments/: team.yaml with title, folder, selector and imports only, and the exported files."""
    team = teams_dir / "payments"
    (team / "dashboards").mkdir(parents=True)
    for name in IMPORTS:
        shutil.copy(FIXTURES / name, team / "dashboards" / name)
    (team / "team.yaml").write_text(
        "# Payments: adopted from the team's own Grafana.\n"
        "title: Payments\nfolder: Payments\nselector: job=\"payments\"\n"
        "imports:\n" + "".join(f"  - {{file: dashboards/{n}, uid: {u}}}\n" for n, u in IMPORTS.items()))
    return team


@pytest.fixture
def layout(tmp_path, monkeypatch) -> Layout:
    """A scratch project holding the payments team alone; tools.adopt reads it."""
    layout = scratch_layout(tmp_path / "project", teams=())
    write_payments_team(layout.teams)
    monkeypatch.setattr(adopt, "LAYOUT", layout)
    return layout


@pytest.fixture
def payments(layout) -> Path:
    return layout.team_dir("payments")


def run_payments(layout: Layout, stack: str = "staging"):
    values, secrets = stack_values(stack)
    values["teams"] = {"payments": {"selector": f'env="{stack}"'}}
    return run_values(values, secrets, layout=layout)


def test_the_contract_is_drafted_from_every_imported_query_with_types_and_labels(payments, capsys):
    assert adopt.main(["contract", "payments"]) == 0
    drafted = {m["name"]: m for m in load_yaml(capsys.readouterr().out)["metrics"]}
    assert drafted["payments_transactions_total"]["type"] == "counter"
    assert drafted["payments_transactions_total"]["labels"] == ["method", "provider", "status"]
    assert drafted["payments_transaction_duration_seconds"] == {
        "name": "payments_transaction_duration_seconds", "type": "histogram", "help": adopt.DRAFT_HELP, "labels": ["method"]}
    assert drafted["payments_queue_depth"]["type"] == "gauge" and drafted["payments_queue_depth"]["labels"] == ["queue"]
    assert drafted["process_cpu_seconds_total"]["type"] == "counter" and "labels" not in drafted["up"]
    assert not any(n.endswith(("_bucket", "_sum", "_count")) for n in drafted)


CONTRACTS = [
    # (what, queries, expected entries)
    ("a counter by its suffix", ["rate(a_total[5m])"], [{"name": "a_total", "type": "counter"}]),
    ("a counter by its rate()", ["rate(node_cpu_seconds[5m])"], [{"name": "node_cpu_seconds", "type": "counter"}]),
    ("a histogram from its buckets", ["histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))", "h_sum / h_count"],
     [{"name": "h", "type": "histogram"}]),
    ("a summary from its quantile label", ['s{quantile="0.99"}', "rate(s_sum[5m]) / rate(s_count[5m])"],
     [{"name": "s", "type": "summary"}]),
    ("an info metric", ["build_info"], [{"name": "build_info", "type": "info"}]),
    ("labels from matchers and grouping", ['sum by (route) (g{code="500", job="payments"}) / on (route) group_left (team) h'],
     [{"name": "g", "type": "gauge", "labels": ["code", "route", "team"]}, {"name": "h", "type": "gauge", "labels": ["route", "team"]}]),
    ("labels a query makes are not the metric's", ['sum by (svc) (label_replace(g, "svc", "$1", "instance", "(.*)"))'],
     [{"name": "g", "type": "gauge"}]),
]


@pytest.mark.parametrize("what,queries,expected", CONTRACTS, ids=[c[0] for c in CONTRACTS])
def test_a_metrics_type_and_labels_are_guessed_from_how_it_is_queried(what, queries, expected):
    drafted = adopt.draft_contract(queries, 'job="payments"')
    assert [{k: v for k, v in m.items() if k != "help"} for m in drafted] == expected


def test_drafting_again_keeps_what_a_person_wrote_and_adds_what_is_new():
    existing = [{"name": "a_total", "type": "counter", "help": "Payments accepted", "labels": ["method"]}]
    drafted = adopt.draft_contract(['sum by (status) (rate(a_total[5m]))', "b"], 'job="p"', existing)
    assert drafted == [{"name": "a_total", "type": "counter", "help": "Payments accepted", "labels": ["method", "status"]},
                       {"name": "b", "type": "gauge", "help": adopt.DRAFT_HELP}]


def test_drafting_again_keeps_every_field_a_person_wrote_on_an_entry():
    existing = [{"name": "up", "type": "gauge", "help": "Scraped", "range": [0, 1], "source": "node"},
                {"name": "a_total", "type": "counter", "help": "Payments", "labels": ["method"], "rate": [1, 5],
                 "values": {"method": ["card"]}},
                {"name": "d_seconds", "type": "histogram", "help": "Latency", "buckets": [0.1, 1]}]
    drafted = adopt.draft_contract(['sum by (status) (rate(a_total[5m]))', "up", "d_seconds_bucket"], 'job="p"',
                                   [dict(e) for e in existing])
    assert drafted == [{**existing[1], "labels": ["method", "status"]}, existing[2], existing[0]]


def test_the_committed_teams_contracts_are_written_again_as_they_are():
    """`contract --write` on a team whose contract is complete changes none of its entries."""
    from estate import PROJECT_LAYOUT
    from tests.conftest import load_yaml

    for slug in PROJECT_LAYOUT.team_names():
        metrics = load_yaml(PROJECT_LAYOUT.team_file(slug).read_text())["metrics"]
        assert adopt.draft_contract([], f"job=\"{slug}\"", [dict(m) for m in metrics]) == sorted(metrics, key=lambda m: m["name"]), slug


def test_writing_the_contract_keeps_the_rest_of_team_yaml(payments):
    assert adopt.main(["contract", "payments", "--write"]) == 0
    text = (payments / "team.yaml").read_text()
    assert text.startswith("# Payments: adopted from the team's own Grafana.\ntitle: Payments\n")
    spec = TeamSpec.model_validate(load_yaml(text))
    assert len(spec.metrics) == 11 and spec.alerts == [] and len(spec.imports) == 5
    assert adopt.main(["contract", "payments", "--write"]) == 0
    assert (payments / "team.yaml").read_text() == text  # drafting is idempotent


COMMENTED = """\
metrics:  # reviewed with the payments team
  # every payment, by its outcome
  - name: payments_transactions_total
    type: counter  # a counter since v2
    help: Payments processed
    # the provider's label comes with v3
    labels: [status]
  # chargebacks are not on a dashboard yet
  - {name: payments_chargebacks_total, type: counter, help: Chargebacks}  # counted once a day
  # nothing below this line is a metric

"""


def commented_team(payments: Path) -> Path:
    """The payments team with a contract of two metrics, commented as a person does."""
    path = payments / "team.yaml"
    path.write_text(path.read_text().replace("imports:\n", COMMENTED + "imports:\n"))
    return path


def test_writing_the_contract_keeps_the_teams_comments_before_the_metrics_they_were_written_at(payments, capsys):
    path = commented_team(payments)
    assert adopt.main(["contract", "payments", "--write"]) == 0
    assert capsys.readouterr().err == ""
    text = path.read_text()
    lines = text.splitlines()
    assert lines[lines.index("metrics:  # reviewed with the payments team") + 1].startswith("  - {name: ")
    at = lines.index("  - {name: payments_transactions_total, type: counter, help: Payments processed, labels: [status, "
                     "method, provider]}")
    assert lines[at - 3:at] == ["  # every payment, by its outcome", "  # a counter since v2",
                                "  # the provider's label comes with v3"]
    at = lines.index("  - {name: payments_chargebacks_total, type: counter, help: Chargebacks}")
    assert lines[at - 2:at] == ["  # chargebacks are not on a dashboard yet", "  # counted once a day"]
    assert "  # nothing below this line is a metric\n\nimports:\n" in text
    drafted = [i for i, line in enumerate(lines) if line.startswith("  - {name: ")]
    assert all(not lines[i - 1].lstrip().startswith("#") for i in drafted
               if "payments_transactions_total" not in lines[i] and "payments_chargebacks_total" not in lines[i])
    spec = TeamSpec.model_validate(read_yaml(path, "teams/payments/team.yaml"))
    assert len(spec.metrics) == 12 and len(spec.imports) == 5
    assert adopt.main(["contract", "payments", "--write"]) == 0
    assert path.read_text() == text  # the comments stay where they are


def test_comments_of_a_metric_no_longer_in_the_contract_are_dropped_with_a_note(payments, capsys, monkeypatch):
    path = commented_team(payments)
    draft = adopt.draft_contract
    monkeypatch.setattr(adopt, "draft_contract",
                        lambda *args: [m for m in draft(*args) if m["name"] != "payments_chargebacks_total"])
    assert adopt.main(["contract", "payments", "--write"]) == 0
    assert capsys.readouterr().err == ("note: 2 comment line(s) of metrics no longer in the contract dropped: "
                                       "payments_chargebacks_total\n")
    text = path.read_text()
    assert "chargebacks" not in text and "  # every payment, by its outcome\n" in text
    assert len(TeamSpec.model_validate(read_yaml(path, "teams/payments/team.yaml")).metrics) == 11


def test_writing_the_contract_keeps_text_that_reads_as_a_number_text(payments):
    path = payments / "team.yaml"
    path.write_text(path.read_text().replace("imports:\n", "metrics:\n  - {name: payments_transactions_total, "
                                             "type: counter, help: '1e3', labels: [status], "
                                             "values: {status: ['0o17', '1e3', 'y']}}\nimports:\n"))
    assert adopt.main(["contract", "payments", "--write"]) == 0
    metric = next(m for m in read_yaml(path, "teams/payments/team.yaml")["metrics"]
                  if m["name"] == "payments_transactions_total")
    assert metric["help"] == "1e3" and metric["values"] == {"status": ["0o17", "1e3", "y"]}


def test_writing_the_contract_on_a_full_disk_leaves_team_yaml_as_it_was(payments, monkeypatch):
    path = payments / "team.yaml"
    before = path.read_bytes()
    write = Path.write_text

    def full(self, text, *args, **kwargs):
        write(self, text[:10], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(SystemExit) as ended:
        command(lambda: adopt.main(["contract", "payments", "--write"]))
    monkeypatch.undo()
    assert ended.value.code == 1
    assert path.read_bytes() == before and not list(payments.glob(".*"))


def test_a_team_of_imports_only_deploys_its_folder_and_scoped_dashboards_and_no_rule_group(layout):
    adopt.main(["contract", "payments", "--write"])
    run = run_payments(layout, "staging")
    assert run.one(T.FOLDER, "payments").inputs["title"] == "Payments"
    assert sorted(b.name for b in run.dashboards_of("payments")) == sorted(IMPORTS.values())
    assert run.of_type(T.RULE_GROUP) == [] and run.of_type(T.TEAM_ALERT_RULES) == []
    required = promql.matchers('job="payments", env="staging"')
    for board in run.dashboards_of("payments"):
        model = json.loads(board.inputs["configJson"])
        assert model["templating"]["list"][0]["name"] == "datasource"
        for panel in panels(model):
            for target in panel.get("targets") or []:
                assert promql.metrics_without(target["expr"], required, variables=True) == [], target["expr"]


def test_the_imported_dashboards_render_byte_identically_twice(layout):
    adopt.main(["contract", "payments", "--write"])
    first = {b.name: b.inputs["configJson"] for b in run_payments(layout).dashboards_of("payments")}
    second = {b.name: b.inputs["configJson"] for b in run_payments(layout).dashboards_of("payments")}
    assert first == second


def test_an_import_that_would_change_meaning_stops_the_program_naming_file_and_panel(layout, payments):
    adopt.main(["contract", "payments", "--write"])
    board = json.loads((payments / "dashboards" / "grafana12-payments-workers.json").read_text())
    board["dashboard"]["panels"][0]["targets"][0]["expr"] = 'max(payments_queue_depth{job="billing"})'
    (payments / "dashboards" / "grafana12-payments-workers.json").write_text(json.dumps(board))
    with pytest.raises(ConfigError) as error:
        run_payments(layout)
    message = str(error.value)
    assert "teams/payments/dashboards/grafana12-payments-workers.json" in message
    assert "panels['Queue depth'].targets.A.expr: `payments_queue_depth` selects job=\"billing\"" in message


def test_check_reports_every_note_and_problem_per_panel(payments, capsys):
    assert adopt.main(["check", "payments"]) == 0
    out = capsys.readouterr().out
    assert "grafana7-payments-api.json: panels['Queues']: table-old options with no table equivalent dropped" in out
    assert out.strip().endswith("8 note(s), 0 problem(s)")


@pytest.mark.parametrize("argv", [["check", "nope"], ["contract", "nope"], ["check", "../outside"],
                                  ["contract", "../outside", "--write"], ["contract", "payments/../../outside", "--write"]],
                         ids=["check an unknown team", "contract an unknown team", "check a path",
                              "contract --write a path", "contract --write a path through a team"])
def test_a_team_argument_is_a_team_of_the_project_never_a_path(layout, capsys, argv):
    outside = layout.teams.parent / "outside"  # a team.yaml beside the teams folder: never read or written
    outside.mkdir()
    (outside / "team.yaml").write_text("title: Outside\nselector: job=\"outside\"\n")
    assert adopt.main(argv) == 2
    assert capsys.readouterr().err == f"error: no team '{argv[1]}' in teams/; teams: payments\n"
    assert (outside / "team.yaml").read_text() == "title: Outside\nselector: job=\"outside\"\n"


@pytest.mark.parametrize("command", ["check", "contract"])
def test_a_team_argument_holding_a_line_break_is_shown_escaped(layout, capsys, command):
    assert adopt.main([command, "pay\nments"]) == 2
    assert capsys.readouterr().err == "error: no team 'pay\\nments' in teams/; teams: payments\n"
