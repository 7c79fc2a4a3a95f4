"""End to end on a real Grafana: `pulumi up` the local stack, read Grafana back, preview again, make
every alert fire, read the notifications, `pulumi destroy`.

Runs where GRAFANA_E2E_URL names a Grafana of docker-compose.yml (GitHub Actions:
.github/workflows/e2e.yml; a laptop: docs/real-run.md):

    source scripts/local && docker compose up -d --wait
    GRAFANA_E2E_URL=http://localhost:3000 venv/bin/python -m pytest tests/e2e/test_real_grafana.py

It needs the Pulumi CLI, and a fresh compose Grafana (`docker compose down && docker compose up -d
--wait`): the stack's state lives in a temporary backend, so folders left by an earlier `pulumi up`
would collide. PROMETHEUS_E2E_URL and WEBHOOK_E2E_URL default to the compose ports on localhost.
Without GRAFANA_E2E_URL every test here is skipped with that reason: nothing else is.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest


from estate.layout import PROJECT_LAYOUT, PROJECT_ROOT as ROOT, Layout
from estate.team import TeamSpec
from tools import adopt
from tests.conftest import load_yaml
from tests.e2e import grafana_state as gs
from tests.e2e.alert_texts import expected_text, rule_templates
from tests.e2e.synthetic import STEP, Pusher, scenario_series
from tools.render import render, write
from tools.routing import receivers

STACK = "local"
GRAFANA = os.environ.get("GRAFANA_E2E_URL", "").rstrip("/")
PROMETHEUS = os.environ.get("PROMETHEUS_E2E_URL", "http://localhost:9090").rstrip("/")
WEBHOOK = os.environ.get("WEBHOOK_E2E_URL", "http://localhost:8080").rstrip("/")
ALERT_DEADLINE = 20 * 60  # seconds: Grafana evaluates every minute, the longest `for` in the stack is 5m

pytestmark = pytest.mark.skipif(
    not GRAFANA, reason="no real Grafana: set GRAFANA_E2E_URL (e.g. http://localhost:3000, with docker compose "
                        "up and the Pulumi CLI; docs/real-run.md); .github/workflows/e2e.yml runs this")


def pulumi(env: dict[str, str], *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(["pulumi", *args, "--stack", STACK, "--non-interactive"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    print(done.stdout[-20000:], done.stderr[-5000:])  # shown by pytest when a test fails
    return done


def local_environment(backend: Path) -> dict[str, str]:
    """This process' environment after `source scripts/local` (stack selected, its secrets set)."""
    env = {**os.environ, "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL", f"file://{backend}")}
    done = subprocess.run(["bash", "-c", "source scripts/local >&2 && env -0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """`pulumi up` of the local stack; `pulumi destroy` afterwards, which must leave none of its folders."""
    env = local_environment(tmp_path_factory.mktemp("pulumi-backend"))
    out = tmp_path_factory.mktemp("render") / STACK
    write(render(STACK), out)
    resources = json.loads((out / "resources.json").read_text())
    up = pulumi(env, "up", "--yes", "--skip-preview", "--policy-pack", "policy")
    assert up.returncode == 0, "pulumi up failed (output above)"
    yield env, out, resources
    destroy = pulumi(env, "destroy", "--yes")
    assert destroy.returncode == 0, "pulumi destroy failed (output above)"
    left = {f["uid"] for f in client(env).get("/api/folders")} & {f["inputs"]["uid"] for f in gs.of_type(resources, gs.FOLDER)}
    assert not left, f"folders left after pulumi destroy: {sorted(left)}"


def client(env: dict[str, str]) -> gs.GrafanaClient:
    return gs.GrafanaClient(GRAFANA, "admin", env["GRAFANA_ADMIN_PASSWORD"])


def test_grafana_holds_exactly_what_the_render_says(deployed):
    env, _, resources = deployed
    assert gs.compare(resources, gs.fetch(client(env), resources)) == []


def test_a_second_preview_shows_no_change(deployed):
    env, _, _ = deployed
    preview = pulumi(env, "preview", "--expect-no-changes", "--diff", "--policy-pack", "policy")
    assert preview.returncode == 0, "pulumi preview --expect-no-changes found changes (a perpetual diff; output above)"


def received() -> list[dict]:
    with urllib.request.urlopen(f"{WEBHOOK}/received", timeout=30) as r:
        return json.load(r)


def firing(items: list[dict]) -> dict[tuple[str, str], list[tuple[str, dict]]]:
    """(team, alertname) -> [(contact point path, alert)] of every firing alert received."""
    found: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for item in items:
        for alert in item["payload"].get("alerts") or []:
            if alert.get("status") == "firing":
                key = (alert["labels"].get("team"), alert["labels"].get("alertname"))
                found.setdefault(key, []).append((item["path"].strip("/"), alert))
    return found


def test_every_alert_fires_reaches_its_contact_points_and_reads_as_prometheus_would_print_it(deployed):
    _, out, resources = deployed
    templates = rule_templates(out / "rules")
    tree = gs.of_type(resources, gs.POLICY)[0]["inputs"]
    urllib.request.urlopen(urllib.request.Request(f"{WEBHOOK}/received", method="DELETE"), timeout=30)
    pusher = Pusher(PROMETHEUS, scenario_series(STACK))
    pusher.backfill(minutes=15)
    deadline = time.monotonic() + ALERT_DEADLINE
    while set(templates) - set(firing(received())) and time.monotonic() < deadline:
        time.sleep(STEP)
        pusher.push_now()
    got = firing(received())
    assert set(templates) - set(got) == set(), "alerts that never reached a webhook"
    for key, deliveries in sorted(got.items()):
        if key not in templates:
            continue
        expected_paths = set(receivers(tree, deliveries[0][1]["labels"]))
        assert {path for path, _ in deliveries} == expected_paths, (key, "routing")
        for path, alert in deliveries:
            values = alert.get("values") or {}
            assert "A" in values, f"{key}: the payload has no value of query A (values: {values})"
            for text, template in templates[key].items():
                assert alert["annotations"].get(text) == expected_text(template, alert["labels"], values["A"]), \
                    (key, path, text)


def service_account_token(env: dict[str, str]) -> str:
    """A Viewer service account's token, as a team adopting its folder would use (tools.adopt reads only)."""
    account = client(env).post("/api/serviceaccounts", {"name": "adopt-e2e", "role": "Viewer"})
    return client(env).post(f"/api/serviceaccounts/{account['id']}/tokens", {"name": "adopt-e2e"})["key"]


def test_a_deployed_folder_pulled_back_is_the_team_that_made_it(deployed, tmp_path, monkeypatch):
    """tools.adopt pull on Grafana's real API answers: the Voicebot folder reads back as a team with the
    dashboards and alert rules the render deployed there, and an import file naming what the program registers."""
    env, _, resources = deployed
    layout = Layout(root=ROOT, stacks=PROJECT_LAYOUT.stacks, teams=tmp_path / "teams")
    layout.teams.mkdir()
    monkeypatch.setattr(adopt, "LAYOUT", layout)
    monkeypatch.setenv(adopt.TOKEN_ENV, service_account_token(env))
    import_file = tmp_path / "import.json"
    assert adopt.main(["pull", "--url", GRAFANA, "--folder", "Voicebot", "--stack", STACK, "--team", "voicebot",
                       "--import-file", str(import_file)]) == 0
    spec = TeamSpec.model_validate(load_yaml((layout.team_dir("voicebot") / "team.yaml").read_text()))
    deployed_boards = {json.loads(d["inputs"]["configJson"])["uid"] for d in gs.of_type(resources, gs.DASHBOARD)
                       if d["inputs"]["folder"] == "voicebot"}
    assert {i.uid for i in spec.imports} == deployed_boards
    [group] = [g for g in gs.of_type(resources, gs.RULE_GROUP) if g["inputs"]["folderUid"] == "voicebot"]
    assert {a.alert for a in spec.alerts} == {r["name"] for r in group["inputs"]["rules"]}
    assert json.loads(import_file.read_text())["resources"], "the import file names what already exists"
