"""The benchmark's floors register what the render registered, and check it: the SDK's own cost is
measured for the very registrations the program sends (inputs, parents, protect, provider, and the
resources each one waits for), not for a lighter set (tools/benchmark.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from estate.resolve import COLLECTOR_THRESHOLD
from tools.render import committed

ROOT = Path(__file__).resolve().parent.parent


def run_floor(kind: str, requests: list[dict], tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(requests))
    return subprocess.run([sys.executable, "-m", "tools.benchmark", kind, str(path), str(COLLECTOR_THRESHOLD)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def dev_requests() -> list[dict]:
    return [asdict(r) for r in committed("dev").run.registrations]


def test_the_dev_render_sends_providers_dependencies_and_outputs_the_floors_must_repeat(dev_requests):
    custom = [r for r in dev_requests if r["inputs"] and not r["type"].startswith("pulumi:providers:")]
    components = [r for r in dev_requests if not r["inputs"]]
    assert custom and all(r["provider"] == "pulumi:providers:grafana::grafana" for r in custom)
    assert any(r["providers"] for r in components)  # the components that hand the provider down
    assert any(r["property_dependencies"] for r in custom)  # a dashboard's folder is the folder's output
    folder = next(r for r in components if r["type"] == "grafana-platform:index:TeamFolder")
    assert folder["outputs"] == {"uid": folder["name"]}  # register_outputs, as the component wrote it


@pytest.mark.parametrize("kind", ["--child-floor", "--child-typed-floor"])
def test_each_floor_registers_exactly_the_renders_registrations(kind, dev_requests, tmp_path):
    done = run_floor(kind, dev_requests, tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("field, change", [
    ("provider", lambda r: ""),  # the SDK still hands it down from the parent component
    ("dependencies", lambda r: r["dependencies"][:-1]),  # an input still comes from that resource's output
])
def test_a_floor_whose_registrations_differ_from_the_record_fails(field, change, dev_requests, tmp_path):
    """A record the SDK cannot reproduce (as a floor that left something out would differ from the
    render): the floor's check compares what the SDK sent with the record, and says so."""
    requests = json.loads(json.dumps(dev_requests))
    target = next(r for r in requests if r["type"] == "grafana:oss/dashboard:Dashboard")
    target[field] = change(target)
    done = run_floor("--child-typed-floor", requests, tmp_path)
    assert done.returncode == 1
    assert f"first different: grafana:oss/dashboard:Dashboard {target['name']}" in done.stderr


@pytest.mark.parametrize("argv, part", [
    (["--teams", "0"], "argument --teams: 0 is not within 1 to 1000"),
    (["--teams", "5", "-3"], "argument --teams: -3 is not within 1 to 1000"),
    (["--teams", "100000000"], "argument --teams: 100000000 is not within 1 to 1000"),
    (["--runs", "0"], "argument --runs: 0 is not within 1 to 30"),
    (["--runs", "1000000"], "argument --runs: 1000000 is not within 1 to 30"),
    (["--teams", "5", "5"], "--teams: give each number of teams once"),
], ids=["no teams", "a negative number", "more teams than a disk holds", "no runs", "endless runs",
        "one number twice"])
def test_the_benchmark_refuses_what_it_cannot_measure_before_it_measures(argv, part, capsys):
    from tools.benchmark import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and part in capsys.readouterr().err
