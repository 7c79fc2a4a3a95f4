"""`tools.adopt pull` against a Grafana HTTP API on 127.0.0.1 answering in the shapes Grafana documents.

The fake Grafana is a real HTTP server on a free loopback port, stopped at the end of each test;
the tests that only read what a successful pull wrote and printed share one pull (`pulled`);
its answers follow Grafana's HTTP API reference (search, folders, dashboards, library elements,
datasources, alerting provisioning: alert-rules, rule-groups, contact-points, policies), with
secure contact point settings redacted as Grafana's provisioning API returns them.
"""
from __future__ import annotations

import contextlib
import copy
import errno
import io
import itertools
import json
import os
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from components.types import ResourceType as T
from estate import PROJECT_LAYOUT, PROJECT_ROOT, Layout
from estate.team import TeamSpec
from tests.conftest import load_yaml, run_values, stack_values
from tools import adopt, command

FIXTURES = Path(__file__).parent / "fixtures" / "adopt"
TOKEN = "glsa_adoptiontest_0123456789abcdef"
PROM_UID = "P1809F7CD0C75ACF3"
LIBRARY_UID = "b7f1c2a0-5a7e-4c1b-9a58-3f6f1d2e9c11"
ADDRESSES = "payments-oncall@acme-corp.com"


def internal_model(name: str, id_: int) -> dict:
    """A fixture as GET /api/dashboards/uid returns it: datasources by uid, no export inputs, an id."""
    board = json.loads((FIXTURES / name).read_text())
    board = board.get("dashboard", board)
    text = json.dumps(board).replace("${DS_PROMETHEUS-PROD}", PROM_UID)
    board = json.loads(text)
    for key in ("__inputs", "__requires", "__elements"):
        board.pop(key, None)
    board["id"] = id_
    return board


def three_step_rule(uid: str, title: str, expr: str, group: str, labels: dict, annotations: dict, for_: str = "5m") -> dict:
    """A Grafana-managed rule as GET /api/v1/provisioning/alert-rules returns the converter's shape."""
    return {
        "id": hash(uid) % 1000, "uid": uid, "orgID": 1, "folderUID": "payments", "ruleGroup": group, "title": title,
        "condition": "C",
        "data": [
            {"refId": "A", "queryType": "", "relativeTimeRange": {"from": 600, "to": 0}, "datasourceUid": PROM_UID,
             "model": {"datasource": {"type": "prometheus", "uid": PROM_UID}, "expr": expr, "instant": True,
                       "intervalMs": 1000, "maxDataPoints": 43200, "refId": "A"}},
            {"refId": "B", "queryType": "", "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": "__expr__",
             "model": {"datasource": {"type": "__expr__", "uid": "__expr__"},
                       "expression": "is_number($A) || is_nan($A) || is_inf($A)", "refId": "B", "type": "math"}},
            {"refId": "C", "queryType": "", "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": "__expr__",
             "model": {"conditions": [{"evaluator": {"params": [0], "type": "gt"}, "operator": {"type": "and"},
                                       "query": {"params": ["C"]}, "reducer": {"params": [], "type": "last"}, "type": "query"}],
                       "datasource": {"type": "__expr__", "uid": "__expr__"}, "expression": "B", "refId": "C",
                       "type": "threshold"}},
        ],
        "updated": "2025-06-01T10:00:00Z", "noDataState": "OK", "execErrState": "Error", "for": for_,
        "annotations": annotations, "labels": labels, "isPaused": False,
    }


def classic_rule() -> dict:
    """A rule made in the UI: query, reduce, threshold (not the converter's shape)."""
    rule = three_step_rule("pay-queue", "Queue backlog", "max(payments_queue_depth)", "payments-ui",
                           {"severity": "warning"}, {"summary": "Backlog"})
    rule["data"][1]["model"] = {"datasource": {"type": "__expr__", "uid": "__expr__"}, "expression": "A",
                                "reducer": "last", "refId": "B", "type": "reduce"}
    rule["data"][2]["model"]["conditions"][0]["evaluator"]["params"] = [1000]
    rule["noDataState"] = "NoData"
    return rule


def grafana_api() -> dict[str, object]:
    boards = {
        "payments-providers": internal_model("grafana8-payments-providers.json", 31),
        "payments-business": internal_model("grafana10-payments-business.json", 44),
        "payments-workers": internal_model("grafana12-payments-workers.json", 57),
    }
    library = json.loads((FIXTURES / "grafana10-payments-business.json").read_text())["__elements"][LIBRARY_UID]
    model = json.loads(json.dumps(library["model"]).replace("${DS_PROMETHEUS-PROD}", PROM_UID))
    rules = [
        three_step_rule("pay-failures", "High failure rate",
                        'sum(rate(payments_transactions_total{job="payments", status="failed"}[5m])) '
                        '/ sum(rate(payments_transactions_total{job="payments"}[5m])) > 0.05',
                        "payments", {"severity": "critical", "team": "payments"},
                        {"summary": "Failure rate above 5 %", "description": "{{ $values.A.Value }} of transactions fail",
                         "runbook_url": "https://wiki.acme-corp.com/payments/failures", "__dashboardUid__": "payments-business"}),
        three_step_rule("pay-down", "PaymentsDown", 'up{job="payments"} == 0', "payments", {}, {}, "1m"),
        classic_rule(),
        {**three_step_rule("other", "Other team", "up == 0", "billing", {}, {}), "folderUID": "billing"},
    ]
    hits = [{"id": b["id"], "uid": uid, "title": b["title"], "uri": f"db/{uid}", "url": f"/d/{uid}/{uid}", "type": "dash-db",
             "tags": b.get("tags", []), "folderId": 12, "folderUid": "payments", "folderTitle": "Payments"}
            for uid, b in boards.items()]
    hits.append({"id": 99, "uid": "billing-overview", "title": "Billing", "type": "dash-db", "folderId": 13,
                 "folderUid": "billing", "folderTitle": "Billing"})  # a Grafana that ignores folderUIDs
    routes = {"receiver": "grafana-default-email", "group_by": ["grafana_folder", "alertname"], "routes": [
        {"receiver": "payments-oncall", "object_matchers": [["grafana_folder", "=", "Payments"]]},
        {"receiver": "billing", "object_matchers": [["grafana_folder", "=", "Billing"]]},
    ]}
    return {
        "/api/org": {"id": 1, "name": "Main Org.", "address": {}},
        "/api/search?type=dash-folder": [
            {"id": 12, "uid": "payments", "title": "Payments", "uri": "db/payments", "url": "/dashboards/f/payments/payments",
             "type": "dash-folder", "tags": [], "isStarred": False},
            {"id": 14, "uid": "payments-archive", "title": "Payments archive", "type": "dash-folder"},
        ],
        "/api/folders/payments": {"id": 12, "uid": "payments", "title": "Payments", "url": "/dashboards/f/payments/payments",
                                  "hasAcl": False, "canSave": True, "canEdit": True, "canAdmin": True, "version": 1},
        "/api/search?type=dash-db": hits,
        **{f"/api/dashboards/uid/{uid}": {"dashboard": b, "meta": {"type": "db", "folderUid": "payments",
                                                                  "folderTitle": "Payments", "version": 3}}
           for uid, b in boards.items()},
        f"/api/library-elements/{LIBRARY_UID}": {"result": {
            "id": 3, "orgId": 1, "folderUid": "payments", "uid": LIBRARY_UID, "name": library["name"], "kind": 1,
            "type": "timeseries", "description": "", "model": model, "version": 2}},
        "/api/datasources": [
            {"id": 1, "uid": PROM_UID, "orgId": 1, "name": "Prometheus", "type": "prometheus", "access": "proxy",
             "url": "http://prometheus:9090", "isDefault": True},
            {"id": 2, "uid": "loki", "orgId": 1, "name": "Loki", "type": "loki", "access": "proxy", "url": "http://loki:3100"},
        ],
        "/api/v1/provisioning/alert-rules": rules,
        "/api/v1/provisioning/folder/payments/rule-groups/payments": {
            "title": "payments", "folderUid": "payments", "interval": 60, "rules": rules[:2]},
        "/api/v1/provisioning/folder/payments/rule-groups/payments-ui": {
            "title": "payments-ui", "folderUid": "payments", "interval": 300, "rules": rules[2:3]},
        "/api/v1/provisioning/contact-points": [
            {"uid": "cp1", "name": "payments-oncall", "type": "email", "settings": {"addresses": ADDRESSES, "singleEmail": False},
             "disableResolveMessage": False},
            {"uid": "cp2", "name": "payments-oncall", "type": "slack",
             "settings": {"recipient": "#payments-oncall", "url": "[REDACTED]"}, "disableResolveMessage": False},
            {"uid": "cp3", "name": "grafana-default-email", "type": "email", "settings": {"addresses": "<example@email.com>"}},
        ],
        "/api/v1/provisioning/policies": routes,
    }


class FakeGrafana(ThreadingHTTPServer):
    def __init__(self, answers: dict[str, object]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = answers
        self.requests: list[tuple[str, str]] = []  # (path with query, Authorization header)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class CutShort(bytes):
    """An answer whose Content-Length promises 100 bytes more than are sent before the connection closes."""


class Redirect(str):
    """An answer that is a redirect to this address."""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        server: FakeGrafana = self.server  # type: ignore[assignment]
        server.requests.append((self.path, self.headers.get("Authorization", "")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"message": "Unauthorized"})
        url = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qs(url.query)
        key = url.path + (f"?type={params['type'][0]}" if url.path == "/api/search" else "")
        if key not in server.answers:
            return self._send(404, {"message": "Not found"})
        answer = server.answers[key]
        if isinstance(answer, Redirect):
            self.send_response(302)
            self.send_header("Location", answer)
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if key == "/api/search?type=dash-folder":
            answer = [f for f in answer if params.get("query", [""])[0].lower() in f["title"].lower()]
        self._send(200, answer)

    def _send(self, status: int, body: object) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()  # bytes: an answer as it is
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data) + (100 if isinstance(body, CutShort) else 0)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving() -> Iterator[FakeGrafana]:
    server = FakeGrafana(grafana_api())
    # shutdown() waits for the serving loop's next poll: poll often, so each test ends at once
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def grafana():
    with serving() as server:
        yield server


def scratch_teams(root: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    """The project's stacks, and its teams in a scratch teams folder with room for the adopted one."""
    layout = Layout(root=PROJECT_ROOT, stacks=PROJECT_LAYOUT.stacks, teams=root / "teams")
    layout.teams.mkdir()
    for team in PROJECT_LAYOUT.team_names():
        (layout.teams / team).symlink_to(PROJECT_LAYOUT.team_dir(team), target_is_directory=True)
    monkeypatch.setattr(adopt, "LAYOUT", layout)
    monkeypatch.setenv(adopt.TOKEN_ENV, TOKEN)
    return layout


@pytest.fixture
def layout(tmp_path, monkeypatch) -> Layout:
    return scratch_teams(tmp_path, monkeypatch)


@pytest.fixture
def teams(layout) -> Path:
    return layout.teams


def pull(grafana: FakeGrafana, tmp_path: Path, *extra: str) -> int:
    return adopt.main(["pull", "--url", grafana.url, "--folder", "Payments", "--stack", "staging",
                       "--import-file", str(tmp_path / "adopt.json"), *extra])


@dataclass(frozen=True)
class Pulled:
    """What one successful pull left: the scratch layout it wrote the team into, its import file,
    what it printed and the requests Grafana answered."""

    layout: Layout
    import_file: Path
    out: str
    requests: list[tuple[str, str]]

    @property
    def team(self) -> Path:
        return self.layout.teams / "payments"


@pytest.fixture(scope="module")
def pulled(tmp_path_factory) -> Pulled:
    """One pull of the Payments folder into staging, shared by the tests that only read its results
    (each pull runs the program on the adopted team)."""
    root = tmp_path_factory.mktemp("pulled")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, serving() as grafana, contextlib.redirect_stdout(out):
        layout = scratch_teams(root, monkeypatch)
        assert pull(grafana, root) == 0
    return Pulled(layout, root / "adopt.json", out.getvalue(), list(grafana.requests))


def test_pull_writes_a_team_that_validates_with_its_dashboards_alerts_and_drafted_contract(pulled):
    team = pulled.team
    spec = TeamSpec.model_validate(load_yaml((team / "team.yaml").read_text()))
    assert (spec.title, spec.folder, spec.folder_uid, spec.selector) == ("Payments", "Payments", "payments", 'job="payments"')
    assert sorted(i.uid for i in spec.imports) == ["payments-business", "payments-providers", "payments-workers"]
    assert all((team / i.file).exists() for i in spec.imports)
    business = json.loads((team / "dashboards" / "payments-business.json").read_text())
    assert business["__elements"][LIBRARY_UID]["model"]["title"] == "Payments volume (EUR)"  # fetched from the library
    assert (spec.alert_group, spec.alert_interval) == ("payments", "1m")
    alerts = {a.alert: a for a in spec.alerts}
    assert set(alerts) == {"HighFailureRate", "PaymentsDown"}
    failure = alerts["HighFailureRate"]
    assert failure.uid == "pay-failures" and failure.for_ == "5m" and failure.severity == "critical"
    assert (failure.quantity, failure.comparison, failure.threshold) == (
        'sum(rate(payments_transactions_total{job="payments", status="failed", %(selector)s}[5m])) '
        '/ sum(rate(payments_transactions_total{job="payments", %(selector)s}[5m]))', ">", 0.05)
    assert failure.no_data == "ok"  # only rules whose no data is OK are adopted
    assert failure.summary == "Failure rate above 5 %" and failure.labels == {}
    assert failure.description == "{{ $value }} of transactions fail"  # Grafana's $values.A.Value, in Prometheus' dialect
    down = alerts["PaymentsDown"]
    assert (down.quantity, down.comparison, down.threshold) == ('up{job="payments", %(selector)s}', "==", 0)
    assert alerts["PaymentsDown"].severity == "warning"
    assert {m.name for m in spec.metrics} >= {"payments_transactions_total", "up", "payments_queue_depth"}


NOTES = [
    "alert 'High failure rate': named HighFailureRate",
    "alert 'High failure rate': runbook_url https://wiki.acme-corp.com/payments/failures becomes <runbookBaseUrl>/payments/high-failure-rate",
    "alert 'High failure rate': annotations __dashboardUid__ not carried over",
    "alert 'PaymentsDown': severity None is not critical, warning or info: warning",
    "rule group 'payments-ui' stays unmanaged (converting it without these would delete them): 'Queue backlog': "
    "its threshold is not `> 0`",
    "dashboard payments-business: panels['Payments volume (EUR)']: library panel 'Payments volume (EUR)' inlined",
]


@pytest.mark.parametrize("note", NOTES, ids=[n.split(":")[0] + ": " + n.split(":")[1][:30] for n in NOTES])
def test_pull_reports_what_changes_and_what_stays_unmanaged(pulled, note):
    assert f"  - {note}" in pulled.out


def enabled(layout: Layout, stack: str = "staging"):
    """The stack's config with the adopted team enabled and its contact point set (as the printed commands do)."""
    values, secrets = stack_values(stack)
    values["teams"]["payments"] = {"routing": {"receiver": "payments-oncall"}}
    values["contactPoints"]["payments-oncall"] = {
        "email": {"addresses": f"<secure {stack}>"}, "slack": {"url": f"<secure {stack}>", "recipient": "#payments-oncall"}}
    return run_values(values, secrets, layout=layout)


def test_the_import_file_names_exactly_what_the_program_registers_for_the_adopted_team(pulled):
    document = json.loads(pulled.import_file.read_text())
    run = enabled(pulled.layout)
    by_short = {f"{r.type}::{r.name}": r for r in run.registrations}

    def urn(short: str) -> str:
        chain, node = [], by_short.get(short)
        while node is not None:
            chain.append(node.type)
            node = by_short.get(node.parent)
        return f"urn:pulumi:staging::grafana-platform::{'$'.join(reversed(chain))}::{short.split('::', 1)[1]}"

    entries = {e["name"]: e for e in document["resources"]}
    imported_urns = set()
    for entry in document["resources"]:
        short = f"{entry['type']}::{entry['logicalName']}"
        assert short in by_short, f"{short} is not registered by the program"
        parent = entries.get(entry["parent"])
        parent_urn = urn(f"{parent['type']}::{parent['logicalName']}") if parent else document["nameTable"][entry["parent"]]
        assert parent_urn == urn(by_short[short].parent), f"{short}: parent differs from the program's"
        imported_urns.add(urn(short))
    assert document["nameTable"]["grafana-provider"] == urn("pulumi:providers:grafana::grafana")
    # Everything the program registers for the team (and its contact point) is imported: nothing to create.
    team_resources = {urn(f"{r.type}::{r.name}") for r in run.registrations
                      if r.name == "payments" and r.type.startswith(("grafana:", "grafana-platform:index:Team"))}
    team_resources |= {urn(f"{r.type}::{r.name}") for r in run.dashboards_of("payments")}
    team_resources.add(urn(f"{T.CONTACT_POINT}::payments-oncall"))
    assert team_resources == imported_urns


IDS = [  # (type, logical name, import id as terraform-provider-grafana's import docs give it)
    (T.FOLDER, "payments", "1:payments"),
    (T.DASHBOARD, "payments-business", "1:payments-business"),
    (T.DASHBOARD, "payments-providers", "1:payments-providers"),
    (T.DASHBOARD, "payments-workers", "1:payments-workers"),
    (T.RULE_GROUP, "payments", "1:payments:payments"),
    (T.CONTACT_POINT, "payments-oncall", "1:payments-oncall"),
]


@pytest.mark.parametrize("type_,name,id_", IDS, ids=[f"{t.split(':')[-1]}-{n}" for t, n, _ in IDS])
def test_each_existing_resource_is_imported_by_its_provider_import_id(pulled, type_, name, id_):
    document = json.loads(pulled.import_file.read_text())
    [entry] = [e for e in document["resources"] if e["type"] == type_ and e["logicalName"] == name]
    assert entry["id"] == id_ and entry["provider"] == "grafana-provider" and "component" not in entry


def test_the_components_above_are_created_empty_by_the_import(pulled):
    document = json.loads(pulled.import_file.read_text())
    components_ = [(e["type"], e["logicalName"], e["parent"]) for e in document["resources"] if e.get("component")]
    assert components_ == [
        (T.TEAM, "payments", "platform-grafana-platform"),
        (T.TEAM_ALERT_RULES, "payments", "team-payments"),
        (T.TEAM_DASHBOARDS, "payments", "team-payments"),
        (T.TEAM_FOLDER, "payments", "team-payments"),
    ]
    assert all("id" not in e for e in document["resources"] if e.get("component"))
    assert set(document["nameTable"]) == {"platform-grafana-platform", "contact-points-contact-points", "grafana-provider"}


def test_the_adopted_rule_group_keeps_its_grafana_name_folder_and_rule_uids(pulled):
    group = enabled(pulled.layout).one(T.RULE_GROUP, "payments").inputs
    assert (group["name"], group["folderUid"], group["intervalSeconds"]) == ("payments", "payments", 60)
    assert sorted(r["uid"] for r in group["rules"]) == ["pay-down", "pay-failures"]
    assert all(r["labels"]["team"] == "payments" for r in group["rules"])


def test_pull_prints_the_stack_entry_and_commands_and_never_a_secret(pulled):
    out = pulled.out
    assert "    payments:\n      routing:\n        receiver: payments-oncall" in out
    assert ("pulumi config set --stack staging --secret --path 'grafana-platform:contactPoints.payments-oncall.email.addresses'"
            in out)
    assert "pulumi config set --stack staging --path 'grafana-platform:contactPoints.payments-oncall.slack.recipient' " \
           "'#payments-oncall'" in out
    assert f"pulumi import --stack staging --file {pulled.import_file} --generate-code=false --protect=false" in out
    written = "".join(p.read_text() for p in pulled.team.rglob("*") if p.is_file())
    written += pulled.import_file.read_text()
    for secret in (TOKEN, ADDRESSES):
        assert secret not in out and secret not in written


def test_the_token_goes_in_the_authorization_header_only(pulled):
    assert pulled.requests and all(auth == f"Bearer {TOKEN}" for _, auth in pulled.requests)
    assert all(TOKEN not in path for path, _ in pulled.requests)
    paths = {urllib.parse.urlsplit(p).path for p, _ in pulled.requests}
    assert {"/api/v1/provisioning/alert-rules", "/api/v1/provisioning/contact-points", "/api/v1/provisioning/policies",
            "/api/dashboards/uid/payments-workers", f"/api/library-elements/{LIBRARY_UID}"} <= paths
    assert "/api/dashboards/uid/billing-overview" not in paths  # another folder's dashboard is not read


REFUSALS = [
    ("no token in the environment", lambda mp: mp.delenv(adopt.TOKEN_ENV), [], 2,
     "set the Grafana token in the environment variable GRAFANA_TOKEN"),
    ("a token Grafana refuses", lambda mp: mp.setenv(adopt.TOKEN_ENV, "wrong"), [], 1,
     "GET /api/org: HTTP 401 Unauthorized (the token was refused)"),
    ("an unknown folder", lambda mp: None, ["--folder", "Nope"], 1, "no folder titled 'Nope'"),
    ("an unknown folder holding a line break", lambda mp: None, ["--folder", "No\npe"], 1,
     "no folder titled 'No\\npe' (or with that uid)"),
    ("an unknown rule group", lambda mp: None, ["--group", "nope"], 1, "no rule group 'nope' in folder 'Payments'"),
    ("a selector that is not matchers", lambda mp: None, ["--selector", "job=payments"], 1, "--selector: not valid label matchers"),
    ("an unknown stack", lambda mp: None, ["--stack", "nope"], 1, "stacks/Pulumi.nope.yaml: no such stack"),
    ("a --stack that is a path", lambda mp: None, ["--stack", "../../etc/passwd"], 1, "error: --stack: no such stack"),
    ("a --stack longer than a file name", lambda mp: None, ["--stack", "a" * 5000], 1, "error: --stack: no such stack"),
    ("a --url that is no address", lambda mp: None, ["--url", "grafana.acme-corp.com"], 2,
     "--url grafana.acme-corp.com: give the Grafana's address, e.g. https://grafana.acme-corp.com"),
    ("a token with a line break", lambda mp: mp.setenv(adopt.TOKEN_ENV, "PLANTED-TOKEN\nX-Evil: 1"), [], 1,
     "the token holds a line break, a control character or a character beyond ASCII"),
    ("a --url whose IPv6 address is not closed", lambda mp: None, ["--url", "http://[::1"], 2,
     "--url http://[::1: give the Grafana's address"),
    ("a --url whose port is no number", lambda mp: None, ["--url", "http://127.0.0.1:grafana"], 2,
     "--url http://127.0.0.1:grafana: give the Grafana's address"),
    ("a --url whose port is past 65535", lambda mp: None, ["--url", "http://127.0.0.1:99999"], 2,
     "--url http://127.0.0.1:99999: give the Grafana's address"),
    # every message names the address: one with a password or a query (a token?) is refused without them
    ("a --url with a user and password", lambda mp: None, ["--url", "http://admin:PLANTED@127.0.0.1:9"], 2,
     "--url http://…@127.0.0.1:9: give the Grafana's address alone, without a user, password or query"),
    ("a --url with a query", lambda mp: None, ["--url", "https://grafana.acme-corp.com/?auth_token=PLANTED"], 2,
     "--url https://grafana.acme-corp.com/?…: give the Grafana's address alone"),
    ("a --url that is no address, with a password", lambda mp: None, ["--url", "ftp://admin:PLANTED@grafana"], 2,
     "--url ftp://…@grafana: give the Grafana's address"),
    ("a --url too long to show whole", lambda mp: None, ["--url", "grafana." + "a" * 5000], 2,
     "--url grafana.aaaa"),
]


TOKEN_ENV_RULE = "is not the name of an environment variable (letters, digits and _, not beginning with a digit)"
SLUG_RULE = "is not a team slug (lowercase letters, digits and '-', starting with a letter, at most 40 characters)"
ARGUMENT_REFUSALS = [
    *(("--token-env", name, f"{name!r} {TOKEN_ENV_RULE}") for name in ["", "GRAFANA TOKEN", "1TOKEN", "TOKEN=x"]),
    *(("--team", team, f"{team[:40]!r} {SLUG_RULE}") for team in ["", "Payments", "1payments", "pay\nments", "a" * 41]),
]


@pytest.mark.parametrize("option, value, says", ARGUMENT_REFUSALS, ids=[f"{o} {v[:12]!r}" for o, v, _ in ARGUMENT_REFUSALS])
def test_an_argument_that_is_no_name_is_refused_escaped_before_anything_is_read(option, value, says, grafana, teams,
                                                                               tmp_path, capsys):
    with pytest.raises(SystemExit) as ended:
        pull(grafana, tmp_path, option, value)
    assert ended.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: argument {option}: {says}")
    assert grafana.requests == [] and list(tmp_path.iterdir()) == [teams]


def test_a_redirect_is_not_followed_so_the_token_never_reaches_another_host(grafana, teams, tmp_path, capsys):
    with serving() as elsewhere:  # urllib would send it there with the Authorization header
        grafana.answers["/api/org"] = Redirect(f"{elsewhere.url}/api/org")
        assert pull(grafana, tmp_path) == 1
        assert elsewhere.requests == []
    err = capsys.readouterr().err
    assert "GET /api/org: HTTP 302 Found (a redirect, not followed: give the address Grafana answers on as --url)" in err
    assert TOKEN not in err and not (teams / "payments").exists() and not (tmp_path / "adopt.json").exists()


def test_a_token_of_another_organization_is_refused(grafana, teams, tmp_path, capsys):
    grafana.answers["/api/org"] = {"id": 2, "name": "Payments Org"}
    assert pull(grafana, tmp_path) == 1
    assert "the token reads organization 2, the stack manages organization 1" in capsys.readouterr().err
    assert not (teams / "payments").exists()


@pytest.mark.parametrize("what,env,args,code,message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_pull_refuses_with_one_message_and_writes_nothing(grafana, teams, tmp_path, capsys, monkeypatch,
                                                          what, env, args, code, message):
    env(monkeypatch)
    argv = ["pull", "--url", grafana.url, "--folder", "Payments", "--stack", "staging",
            "--import-file", str(tmp_path / "adopt.json")]
    for flag, value in zip(args[::2], args[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert adopt.main(argv) == code
    err = capsys.readouterr().err
    assert message in err and TOKEN not in err and "PLANTED" not in err and len(err.strip().splitlines()) <= 15
    assert max(map(len, err.splitlines())) <= 400
    assert not (teams / "payments").exists() and not (tmp_path / "adopt.json").exists()


def test_pull_never_overwrites_a_team(grafana, teams, tmp_path, capsys):
    assert pull(grafana, tmp_path) == 0
    before = (teams / "payments" / "team.yaml").read_text()
    assert pull(grafana, tmp_path) == 1
    assert "teams/payments exists already" in capsys.readouterr().err
    assert (teams / "payments" / "team.yaml").read_text() == before


@pytest.mark.parametrize("where, message", [
    (lambda layout, tmp: layout.stack_file("staging"), "is inside the project's stacks/ folder; give a path outside it"),
    (lambda layout, tmp: layout.teams / "adopt.json", "is inside the project's teams/ folder; give a path outside it"),
    (lambda layout, tmp: tmp / "README.md", "holds something other than a pulumi import file; give a new path"),
    (lambda layout, tmp: tmp / "no-such-folder" / "adopt.json", "its folder {tmp}/no-such-folder does not exist"),
    (lambda layout, tmp: tmp, "is a folder; give the path of the file to write"),
], ids=["the stack file", "inside teams/", "another file", "in a folder that does not exist", "a folder"])
def test_an_import_file_that_would_replace_what_is_not_one_stops_the_pull_before_grafana_is_asked(
        where, message, grafana, layout, tmp_path, capsys):
    (tmp_path / "README.md").write_text("# mine\n")
    path = where(layout, tmp_path)
    before = path.read_bytes() if path.is_file() else None
    assert adopt.main(["pull", "--url", grafana.url, "--folder", "Payments", "--stack", "staging",
                       "--import-file", str(path)]) == 1
    assert capsys.readouterr().err == f"error: --import-file {path}: {message.format(tmp=tmp_path)}\n"
    assert grafana.requests == [] and not (layout.teams / "payments").exists()
    assert (path.read_bytes() if path.is_file() else None) == before


def test_a_pull_may_write_over_an_earlier_import_file(grafana, teams, tmp_path, capsys):
    (tmp_path / "adopt.json").write_text('{"nameTable": {}, "resources": []}\n')  # an earlier pull's, its team removed
    assert pull(grafana, tmp_path) == 0
    assert json.loads((tmp_path / "adopt.json").read_text())["resources"]


def test_a_dashboard_that_cannot_be_imported_stops_the_pull_before_anything_is_written(grafana, teams, tmp_path, capsys):
    board = grafana.answers["/api/dashboards/uid/payments-workers"]["dashboard"]
    board["panels"].append({"type": "logs", "title": "Errors", "datasource": {"type": "loki", "uid": "loki"},
                            "targets": [{"refId": "A", "expr": '{app="payments"}'}]})
    assert pull(grafana, tmp_path) == 1
    err = capsys.readouterr().err
    assert "dashboard payments-workers: panels['Errors'].targets.A: queries a loki datasource" in err
    assert not (teams / "payments").exists()


def test_a_contact_point_the_stack_cannot_model_is_left_in_grafana_and_said_so(grafana, teams, tmp_path, capsys):
    grafana.answers["/api/v1/provisioning/contact-points"] = copy.deepcopy(
        grafana.answers["/api/v1/provisioning/contact-points"]) + [
        {"uid": "cp9", "name": "payments-oncall", "type": "opsgenie", "settings": {"apiKey": "[REDACTED]"}}]
    assert pull(grafana, tmp_path) == 0
    out = capsys.readouterr().out
    assert "contact point 'payments-oncall' is not imported: the stack model has no opsgenie" in out
    document = json.loads((tmp_path / "adopt.json").read_text())
    assert not [e for e in document["resources"] if e["type"] == T.CONTACT_POINT]


@pytest.mark.parametrize("integration, settings", [
    ({"type": "webhook", "settings": {"url": "[REDACTED]", "username": "svc", "password": "[REDACTED]"}},
     "webhook settings password, username"),
    ({"type": "webhook", "settings": {"url": "[REDACTED]", "authorization_credentials": "[REDACTED]"}},
     "webhook settings authorization_credentials"),
    ({"type": "slack", "settings": {"token": "[REDACTED]", "recipient": "#pay"}}, "slack settings token"),
    ({"type": "pagerduty", "settings": {"integrationKey": "[REDACTED]", "severity": "critical"}},
     "pagerduty settings severity"),
    ({"type": "email", "settings": {"addresses": "a@b.c"}, "disableResolveMessage": True},
     "email settings disableResolveMessage"),
], ids=["webhook basic auth", "webhook bearer", "slack bot token", "pagerduty severity", "no resolved message"])
def test_a_contact_point_with_settings_the_stack_cannot_carry_is_left_in_grafana_naming_them(
        integration, settings, grafana, teams, tmp_path, capsys):
    grafana.answers["/api/v1/provisioning/contact-points"] = [
        {"uid": "cp1", "name": "payments-oncall", "settings": {}, **integration}]
    assert pull(grafana, tmp_path) == 0
    out = capsys.readouterr().out
    assert f"contact point 'payments-oncall' is not imported: the stack model has no {settings}" in out
    assert "[REDACTED]" not in out and "svc" not in out
    document = json.loads((tmp_path / "adopt.json").read_text())
    assert not [e for e in document["resources"] if e["type"] == T.CONTACT_POINT]


def _rule(change) -> dict:
    rule = three_step_rule("r", "R", "up == 0", "g", {"severity": "warning"}, {"summary": "down"})
    change(rule)
    return rule


def _set(path: str, value):
    def change(rule):
        node = rule
        *steps, last = path.split(".")
        for step in steps:
            node = node[int(step)] if isinstance(node, list) else node[step]
        node[last] = value
    return change


SHAPES = [
    # (what, change, why it is not the converter's shape; None: it is)
    ("the converter's three steps", lambda r: None, None),
    ("refIds other than A, B, C", lambda r: r.update(condition="T", data=[
        {**r["data"][0], "refId": "Q", "model": {**r["data"][0]["model"], "refId": "Q"}},
        {**r["data"][1], "refId": "M", "model": {**r["data"][1]["model"], "refId": "M",
                                                  "expression": "is_number($Q) || is_nan($Q) || is_inf($Q)"}},
        {**r["data"][2], "refId": "T", "model": {**r["data"][2]["model"], "refId": "T", "expression": "M"}}]), None),
    ("a fourth step", lambda r: r["data"].append({**r["data"][1], "refId": "D"}), "4 steps"),
    ("a reduce instead of the math", _set("data.1.model", {"type": "reduce", "expression": "A", "reducer": "last"}),
     "its threshold does not read `is_number($A) || is_nan($A) || is_inf($A)`"),
    ("a threshold other than > 0", _set("data.2.model.conditions.0.evaluator", {"params": [5], "type": "gt"}),
     "its threshold is not `> 0`"),
    ("a condition on the math step", _set("condition", "B"), "its condition is not a threshold step"),
    ("a range query", _set("data.0.model.instant", False), "its query is a range query"),
    ("a query in the past", _set("data.0.relativeTimeRange.to", 300), "relative time range `to` is not 0"),
    ("a Loki query", _set("data.0.datasourceUid", "loki"), "its query is not a Prometheus query (loki)"),
    ("no data alerting", _set("noDataState", "Alerting"), "no data is Alerting and errors are Error"),
    ("paused", _set("isPaused", True), "it is paused"),
    ("its own notification settings", _set("notification_settings", {"receiver": "x"}),
     "it routes by its own notification settings"),
    ("a template over every value", _set("annotations.description", "{{ range $k, $v := $values }}{{ $k }}{{ end }}"),
     "its description template is not one the platform translates"),
    ("a recovery threshold", _set("data.2.model.conditions.0.unloadEvaluator", {"params": [-1], "type": "lt"}),
     "it has a recovery threshold (unloadEvaluator)"),
    ("keep firing for", _set("keep_firing_for", "30m"), "it keeps firing for 30m once resolved"),
    ("keep firing for nothing", _set("keep_firing_for", "0s"), None),
    ("a vanished series resolved after 5 evaluations", _set("missing_series_evals_to_resolve", 5),
     "it resolves a vanished series after 5 evaluations"),
    ("a vanished series resolved at the first", _set("missing_series_evals_to_resolve", 1), None),
]


@pytest.mark.parametrize("what,change,why", SHAPES, ids=[s[0] for s in SHAPES])
def test_only_rules_in_the_converters_three_step_shape_are_written_back(what, change, why):
    expr, reason = adopt.rule_query(_rule(change), {PROM_UID: "prometheus", "loki": "loki"})
    if why is None:
        assert expr == "up == 0"
    else:
        assert expr is None and why in reason


TEMPLATES = [
    ("{{ $values.A.Value | humanizePercentage }} fail", "{{ $value | humanizePercentage }} fail"),
    ("{{ $values.A.Labels.instance }} is down", "{{ $labels.instance }} is down"),
    ("{{ .Values.A.Value }} on {{ $labels.instance }}", "{{ .Value }} on {{ $labels.instance }}"),
    ('{{ printf "%.2f" $values.A.Value }}', '{{ printf "%.2f" $values.A.Value }}'.replace("$values.A.Value", "$value")),
    ("plain text with $values.A.Value outside an action", "plain text with $values.A.Value outside an action"),
]


@pytest.mark.parametrize("grafana_text,prometheus_text", TEMPLATES, ids=[t[0] for t in TEMPLATES])
def test_grafana_template_dialect_is_written_back_in_prometheus_dialect(grafana_text, prometheus_text):
    assert adopt.from_grafana(grafana_text, "A") == prometheus_text


def test_an_answer_not_in_the_documented_shape_is_one_message_and_nothing_written(grafana, teams, tmp_path, capsys):
    grafana.answers["/api/v1/provisioning/alert-rules"] = {"rules": "not a list"}
    assert pull(grafana, tmp_path) == 1
    err = capsys.readouterr().err
    assert "is not in the documented shape" in err and "Traceback" not in err
    assert not (teams / "payments").exists() and not (tmp_path / "adopt.json").exists()


@pytest.mark.parametrize("answer, reason", [
    (b'{"rules": [], "rules": []}', "the answer is not valid JSON here: the key 'rules' is given twice in one object"),
    (b'[NaN]', "the answer is not valid JSON: NaN is not a JSON number"),
    (b'\xff\xfe', "the answer is not UTF-8 text"),
    (CutShort(b'[]'), "the answer was cut short (100 of its bytes never came)"),
], ids=["a key twice", "NaN", "not UTF-8", "cut short"])
def test_an_answer_no_json_reader_would_take_as_it_is_is_one_message_and_nothing_written(
        grafana, teams, tmp_path, capsys, answer, reason):
    grafana.answers["/api/v1/provisioning/alert-rules"] = answer
    assert pull(grafana, tmp_path) == 1
    err = capsys.readouterr().err
    assert "/api/v1/provisioning/alert-rules: " + reason in err and "Traceback" not in err, err
    assert len(err.splitlines()) == 1
    assert not (teams / "payments").exists() and not (tmp_path / "adopt.json").exists()


@pytest.mark.parametrize("answer", [b"[" * 100_000 + b"]" * 100_000, json.dumps(
    {"rules": [{"a": None}]}).encode().replace(b"null", b"[" * 70 + b"]" * 70)], ids=["past the decoder", "past 64 levels"])
def test_an_answer_nested_too_deep_is_one_message_and_nothing_written(grafana, teams, tmp_path, capsys, answer):
    grafana.answers["/api/v1/provisioning/alert-rules"] = answer
    assert pull(grafana, tmp_path) == 1
    err = capsys.readouterr().err
    assert "GET /api/v1/provisioning/alert-rules: the answer is" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 15
    assert not (teams / "payments").exists() and not (tmp_path / "adopt.json").exists()


@pytest.mark.parametrize("text, problem", [
    ('{"title": "A", "title": "B", "panels": []}', "not valid JSON here: the key 'title' is given twice in one object; keep one"),
    ('{"title": "A", "panels": [NaN]}', "not valid JSON: NaN is not a JSON number"),
    ('{"title": "A", "panels": [' * 70 + ']}' * 70, "nested more than 64 levels deep"),
], ids=["a key twice", "NaN", "nested 70 deep"])
def test_check_reads_an_import_file_as_the_program_does_and_reports_what_it_refuses(layout, capsys, text, problem):
    team = layout.teams / "payments"
    (team / "dashboards").mkdir(parents=True)
    (team / "team.yaml").write_text('title: Payments\nselector: job="payments"\n'
                                    "imports:\n  - {file: dashboards/board.json, uid: payments-board}\n")
    (team / "dashboards" / "board.json").write_text(text)
    assert adopt.main(["check", "payments"]) == 1
    assert f"error: {layout.relative(team / 'dashboards' / 'board.json')}: {problem}" in capsys.readouterr().out


def test_rules_that_waited_grafanas_default_to_resolve_are_said_to_resolve_as_prometheus_does(grafana, teams, tmp_path,
                                                                                              capsys):
    assert pull(grafana, tmp_path) == 0  # the fixture's rules set no missing_series_evals_to_resolve
    assert ("2 rule(s) resolve an instance whose series is gone at the next evaluation, as Prometheus does; in "
            "Grafana they waited one more (its default)") in capsys.readouterr().out


def after_the_render(monkeypatch, target: object, name: str, replacement) -> None:
    """`target.name` is `replacement(original, *args)` from when the program has run on the adopted team,
    so that pull's own writes meet it, not the scratch team that run reads."""
    render = adopt._render_with

    def rendered(*args, **kwargs):
        registrations = render(*args, **kwargs)
        original = getattr(target, name)
        monkeypatch.setattr(target, name, lambda *a, **k: replacement(original, *a, **k))
        return registrations
    monkeypatch.setattr(adopt, "_render_with", rendered)


def full_disk_at(call: int):
    """A Path.write_text whose `call`-th call (from 0) writes half its text, then finds the disk full."""
    calls = itertools.count()

    def write_text(original, path, text, *args, **kwargs):
        if next(calls) == call:
            original(path, text[:len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(path, text, *args, **kwargs)
    return write_text


def refused(original, *args, **kwargs):
    raise OSError(errno.EACCES, os.strerror(errno.EACCES))


# pull writes the three dashboards, team.yaml, the import file, then moves the team and the import file into place
FAILURES = [
    ("the first dashboard", Path, "write_text", full_disk_at(0)),
    ("team.yaml", Path, "write_text", full_disk_at(3)),
    ("the import file", Path, "write_text", full_disk_at(4)),
    ("moving the team into place", os, "rename", refused),
    ("moving the import file into place", os, "replace", refused),
]


@pytest.mark.parametrize("what,target,name,replacement", FAILURES, ids=[f[0] for f in FAILURES])
def test_a_pull_that_fails_while_writing_leaves_no_team_no_import_file_and_nothing_staged(
        grafana, teams, tmp_path, capsys, monkeypatch, what, target, name, replacement):
    """Staged beside teams/ (here tmp_path) and beside the import file (tmp_path too): nothing may stay there."""
    after_the_render(monkeypatch, target, name, replacement)
    assert pull(grafana, tmp_path) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: writing teams/payments/ and {tmp_path / 'adopt.json'}: ") and len(err.splitlines()) == 1
    assert err.endswith(" (nothing was written)\n") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [teams] and not (teams / "payments").exists()


def test_a_pull_interrupted_while_writing_leaves_no_team_and_no_import_file(grafana, teams, tmp_path, capsys,
                                                                            monkeypatch):
    def interrupted(original, path, *args, **kwargs):
        if path.name == "team.yaml":
            raise KeyboardInterrupt
        return original(path, *args, **kwargs)
    after_the_render(monkeypatch, Path, "write_text", interrupted)
    with pytest.raises(SystemExit) as ended:
        command(lambda: pull(grafana, tmp_path))
    assert ended.value.code == 130 and capsys.readouterr().err == "error: interrupted\n"
    assert list(tmp_path.iterdir()) == [teams] and not (teams / "payments").exists()


def test_a_pull_that_fails_while_writing_leaves_an_earlier_import_file_as_it_was(grafana, teams, tmp_path, capsys,
                                                                                 monkeypatch):
    earlier = '{"nameTable": {}, "resources": []}\n'  # an earlier pull's, its team removed
    (tmp_path / "adopt.json").write_text(earlier)
    after_the_render(monkeypatch, os, "rename", refused)
    assert pull(grafana, tmp_path) == 1
    assert "(nothing was written)" in capsys.readouterr().err
    assert (tmp_path / "adopt.json").read_text() == earlier
    assert sorted(tmp_path.iterdir()) == [tmp_path / "adopt.json", teams] and not (teams / "payments").exists()
