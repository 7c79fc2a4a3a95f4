"""Secrets that work on the first preview (issue 13.3): no committed secret, the secrets a stack needs
are the secret fields its structure requires, and `tools.secrets` sets them from CI's secrets.

`apply` is run against a fake `pulumi` on PATH that records its argv and stdin: the real CLI is not
installable here, so what `pulumi config set` then does is proven only on a real runner.
"""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

import program
import tools.secrets
from estate import PROJECT, PROJECT_LAYOUT, ConfigError
from estate.config import config_path, env_var, leaves, stack_values_from_file
from tests.conftest import STACKS, load_yaml, run_fails, run_values, scratch_layout
from tools.mocks import run_program

ROOT = PROJECT_LAYOUT.root
P = f"{PROJECT}:"
PROD_SECRETS = [
    "datasources.prometheus.basicAuthPassword",
    *(f"contactPoints.{team}.{kind}" for team in ("api-production", "chatbot-sav", "customer-service", "voicebot",
                                                  "mlops-scoring") for kind in ("email.addresses", "slack.url")),
    *(f"contactPoints.{team}-pagerduty.pagerduty.integrationKey" for team in ("api-production", "chatbot-sav",
                                                                            "customer-service", "voicebot",
                                                                            "mlops-scoring")),
    "contactPoints.platform-ops.email.addresses",
    "kubernetes.adminPassword",
    "kubernetes.databaseUrl",  # replicas: 2 needs the external database
    "kubernetes.smtp.password",  # e-mail contact points need the deployed Grafana's SMTP
]


@pytest.mark.parametrize("stack", PROJECT_LAYOUT.stack_names())
def test_no_committed_stack_file_holds_a_secret_or_a_pretend_ciphertext(stack):
    data = load_yaml(PROJECT_LAYOUT.stack_file(stack).read_text())
    assert not {"encryptionsalt", "encryptedkey", "secretsprovider"} & set(data)
    for at, value in leaves(data["config"]):
        assert "secure" not in at, at
        assert not (isinstance(value, str) and re.match(r"^(v1:|AAABA|[A-Za-z0-9+/]{40,}={0,2}$)", value)), at


def test_prod_needs_exactly_the_secret_fields_its_structure_requires():
    assert sorted(config_path(p) for p in tools.secrets.needed("prod")) == sorted(PROD_SECRETS)


@pytest.mark.parametrize("stack, secret", [
    ("dev", "grafanaAuth"), ("dev", "contactPoints.platform-dev.slack.url"),
    ("staging", "grafanaAuth"), ("staging", "contactPoints.voicebot-staging.slack.url"),
    ("local", "grafanaAuth"), ("local", "contactPoints.pager-local.webhook.url"),
])
def test_list_names_each_secret_with_its_config_path_and_variable(stack, secret, capsys):
    assert tools.secrets.main(["list", "--stack", stack]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(line for line in lines if line.startswith(f"{P}{secret} "))
    assert line.split() == [f"{P}{secret}", "GRAFANA_PLATFORM_SECRET_" + re.sub(r"[^A-Z0-9]", "_", secret.upper())]


@pytest.mark.parametrize("command", ["list", "apply"])
def test_a_root_that_is_no_project_is_named_as_the_root_not_as_a_missing_stack(command, tmp_path, capsys):
    (tmp_path / "stacks").mkdir()
    assert tools.secrets.main([command, "--stack", "dev", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (f"error: --root {tmp_path}: no Pulumi.yaml there; give the project's folder "
                                       "(the one holding Pulumi.yaml, stacks/ and teams/)\n")


def test_a_variable_name_is_the_path_upper_cased_with_other_characters_as_underscores():
    assert env_var(("contactPoints", "api-production", "slack", "url")) == \
        "GRAFANA_PLATFORM_SECRET_CONTACTPOINTS_API_PRODUCTION_SLACK_URL"
    assert config_path(("contactPoints", "a.b c", "email", "addresses")) == 'contactPoints["a.b c"].email.addresses'


@pytest.mark.parametrize("stack", STACKS)
def test_the_offline_render_fills_each_needed_secret_with_a_masked_placeholder(stack, rendered):
    run = rendered(stack)
    secrets = [config_path(p) for p in tools.secrets.needed(stack)]
    raw = json.dumps([r.inputs for r in run.registrations])
    assert "<secure" not in raw and secrets
    config = run.estate.config.model_dump(by_alias=True)
    for path in secrets:
        node = config
        for step in re.split(r"\.", path):
            node = node[step]
        assert node == f"<secure {P}{path}>"


def test_a_real_run_missing_secrets_stops_with_one_line_per_missing_key_and_its_command():
    """Config as the engine hands it over (the stack file alone, nothing set): one line each."""
    config, secret_keys = stack_values_from_file("dev", PROJECT_LAYOUT)
    with pytest.raises(ConfigError) as error:
        run_program("dev", config, secret_keys)
    lines = str(error.value).splitlines()
    assert lines[0] == "stacks/Pulumi.dev.yaml: invalid configuration (2 problems); nothing was deployed:"
    assert lines[1:] == [
        f"  {P}{path}: a secret this stack needs, not set; set it with: pulumi config set --stack dev --secret "
        f"--path '{P}{path}' (value on stdin), or tools.secrets apply"
        for path in ("contactPoints.platform-dev.slack.url", "grafanaAuth")]


def test_a_missing_secret_under_a_name_with_a_dot_is_named_as_pulumi_config_set_path_reads_it():
    config, secret_keys = stack_values_from_file("dev", PROJECT_LAYOUT)
    renamed = {k: v.replace('"platform-dev"', '"platform.dev"') for k, v in config.items()}
    assert renamed != config
    with pytest.raises(ConfigError) as error:
        run_program("dev", renamed, secret_keys)
    lines = str(error.value).splitlines()
    assert lines[0] == "stacks/Pulumi.dev.yaml: invalid configuration (2 problems); nothing was deployed:"
    assert lines[1] == (f"  {P}contactPoints[\"platform.dev\"].slack.url: a secret this stack needs, not set; set it "
                        f"with: pulumi config set --stack dev --secret --path '{P}contactPoints[\"platform.dev\"]"
                        ".slack.url' (value on stdin), or tools.secrets apply")


def test_prod_missing_every_secret_still_says_it_in_15_lines():
    config, secret_keys = stack_values_from_file("prod", PROJECT_LAYOUT)
    with pytest.raises(ConfigError) as error:
        run_program("prod", config, secret_keys)
    lines = str(error.value).splitlines()
    assert len(lines) == 15 and "(20 problems)" in lines[0] and "… and 7 more problems" in lines[-1]


def esc_config(tmp_path: Path) -> tuple[dict[str, str], Any]:
    """The dev stack as the engine hands it over with an ESC environment supplying its secrets (the stack
    file holds no `secure:`): the config, and the scratch project it runs in."""
    layout = scratch_layout(tmp_path / "project", tuple(PROJECT_LAYOUT.team_names()))
    (layout.stacks / "Pulumi.dev.yaml").write_text(PROJECT_LAYOUT.stack_file("dev").read_text())
    config, _ = stack_values_from_file("dev", layout)
    points = json.loads(config[f"{P}contactPoints"])
    points["platform-dev"]["slack"]["url"] = "https://hooks.slack.com/services/T0/B0/from-esc"
    config[f"{P}contactPoints"] = json.dumps(points)
    config[f"{P}grafanaAuth"] = "glsa_from_esc"
    return config, layout


def test_a_stack_file_with_structure_and_secrets_from_an_esc_environment_deploys(tmp_path):
    """ESC merges pulumiConfig objects into the stack file's (docs/secrets.md): the engine hands the
    program the merged values and marks the key secret as a whole; the stack file has no `secure:`."""
    config, layout = esc_config(tmp_path)
    run = run_program("dev", config, {f"{P}contactPoints", f"{P}grafanaAuth"}, layout=layout)
    assert "from-esc" not in json.dumps([r.inputs for r in run.registrations])


def test_a_value_the_engine_marks_secret_without_secure_in_the_stack_file_is_masked_everywhere(tmp_path):
    """An ESC environment's `fn::secret` (or a stack without a stack file): the engine marks a key secret
    that the stack file holds in clear or not at all. A key of one value is known exactly: every input
    holding it is a secret, the export too, and a message quotes none of it."""
    config, layout = esc_config(tmp_path)
    config[f"{P}grafanaUrl"] = "https://PLANTED-internal.acme-corp.com"
    config[f"{P}runbookBaseUrl"] = "https://PLANTED-runbooks.acme-corp.com/dev"
    marked = {f"{P}contactPoints", f"{P}grafanaAuth", f"{P}grafanaUrl", f"{P}runbookBaseUrl"}
    run = run_program("dev", config, marked, layout=layout)
    assert "PLANTED" not in json.dumps([r.inputs for r in run.registrations]) + json.dumps(run.exports)
    config[f"{P}runbookBaseUrl"] = "ftp://PLANTED-runbooks.acme-corp.com/{{x"
    with pytest.raises(ConfigError) as error:
        run_program("dev", config, marked, layout=layout)
    assert "runbookBaseUrl" in str(error.value) and "PLANTED" not in str(error.value)


def test_a_real_run_refuses_the_offline_placeholder(monkeypatch, prod_values):
    monkeypatch.setattr(program, "_under_mocks", lambda: False)
    message, monitor = run_fails(*prod_values)
    assert "holds the offline render's placeholder, not a secret; set the real value" in message
    assert monitor.registrations == []


# ----------------------------------------------------------------------------------------- apply

FAKE_PULUMI = """#!{python}
import json, os, sys, time
record = {{"argv": sys.argv[1:], "stdin": sys.stdin.read()}}
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
with open(os.environ["FAKE_PULUMI_LOG"]) as log:
    calls = sum(1 for _ in log)
if calls == int(os.environ.get("FAKE_PULUMI_HANG_AT", "0")):  # a CLI waiting on a login or a lock
    time.sleep(60)
sys.exit(int(os.environ.get("FAKE_PULUMI_EXIT", "0")))
"""


@pytest.fixture
def fake_pulumi(tmp_path):
    """A `pulumi` on PATH that records each call's argv and stdin in a log; with FAKE_PULUMI_EXIT it
    exits with that status, with FAKE_PULUMI_HANG_AT=n its n-th call never answers (it sleeps a minute)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(FAKE_PULUMI.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "pulumi.log"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_PULUMI_LOG": str(log)}

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return env, calls


def secret_values(stack: str) -> dict[str, str]:
    """A value for each secret the stack needs, each unique and valid for its field."""
    values = {}
    for index, path in enumerate(tools.secrets.needed(stack)):
        name = config_path(path)
        values[env_var(path)] = (f"oncall{index}@acme-corp.com" if name.endswith("addresses")
                                 else f"https://hooks.example.invalid/s{index}" if name.endswith("url") or
                                 name.endswith("Url") else f"secret-value-{index}-long-enough")
    return values


@pytest.fixture
def run_apply(monkeypatch, capfd) -> Callable[[str, dict], subprocess.CompletedProcess]:
    """`python -m tools.secrets apply --stack <stack>` with `env` added to the environment: the command's
    main in-process (its `pulumi` calls are processes), all it and they write captured."""
    def run(stack: str, env: dict) -> subprocess.CompletedProcess:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = tools.secrets.main(["apply", "--stack", stack])
        written = capfd.readouterr()
        return subprocess.CompletedProcess(["tools.secrets", "apply", "--stack", stack], code, written.out, written.err)
    return run


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_apply_sets_each_secret_with_its_value_on_stdin_never_in_argv(stack, fake_pulumi, run_apply):
    env, calls = fake_pulumi
    values = secret_values(stack)
    result = run_apply(stack, {**env, **values})
    assert result.returncode == 0, result.stderr
    paths = tools.secrets.needed(stack)
    assert [c["argv"] for c in calls()] == [
        ["config", "set", "--stack", stack, "--secret", "--path", f"{P}{config_path(p)}"] for p in paths]
    assert [c["stdin"] for c in calls()] == [values[env_var(p)] for p in paths]
    shown = result.stdout + result.stderr
    assert not any(value in shown for value in values.values())
    assert len(result.stdout.splitlines()) <= 15


def test_apply_with_variables_missing_names_each_sets_nothing_and_exits_1(fake_pulumi, run_apply):
    env, calls = fake_pulumi
    values = secret_values("dev")
    del values["GRAFANA_PLATFORM_SECRET_GRAFANAAUTH"]
    result = run_apply("dev", {**env, **values, "GRAFANA_PLATFORM_SECRET_CONTACTPOINTS_PLATFORM_DEV_SLACK_URL": ""})
    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [
        "  GRAFANA_PLATFORM_SECRET_CONTACTPOINTS_PLATFORM_DEV_SLACK_URL: is not set (or empty): the secret "
        f"{P}contactPoints.platform-dev.slack.url",
        f"  GRAFANA_PLATFORM_SECRET_GRAFANAAUTH: is not set (or empty): the secret {P}grafanaAuth"]
    assert calls() == []


def test_apply_refuses_a_value_the_stack_would_refuse_before_setting_anything(fake_pulumi, run_apply):
    env, calls = fake_pulumi
    values = secret_values("prod")
    values["GRAFANA_PLATFORM_SECRET_KUBERNETES_ADMINPASSWORD"] = "admin"
    values["GRAFANA_PLATFORM_SECRET_CONTACTPOINTS_API_PRODUCTION_SLACK_URL"] = "not a url LEAKME"
    result = run_apply("prod", {**env, **values})
    assert result.returncode == 1
    assert f"{P}kubernetes.adminPassword: must not be Grafana's default password" in result.stderr
    assert f"{P}contactPoints.api-production.slack.url: must be a https:// URL" in result.stderr
    assert "LEAKME" not in result.stderr and "Traceback" not in result.stderr
    assert calls() == []


@pytest.mark.parametrize("token, refused", [
    ("glsa_PLANTED\n", False),  # a secret store's value with its newline: `pulumi config set` drops it
    ("glsa_PLANTED\n\n", True),  # and only one: the stored token would hold a line break
    ("glsa_PLANTED X", True),
], ids=["one newline at the end", "two", "a space"])
def test_apply_checks_the_grafana_token_as_pulumi_stores_it(fake_pulumi, token, refused, run_apply):
    env, calls = fake_pulumi
    values = {**secret_values("dev"), "GRAFANA_PLATFORM_SECRET_GRAFANAAUTH": token}
    result = run_apply("dev", {**env, **values})
    assert result.returncode == (1 if refused else 0), result.stderr
    assert (f"{P}grafanaAuth: " in result.stderr) == refused and "PLANTED" not in result.stderr + result.stdout
    assert len(calls()) == (0 if refused else len(tools.secrets.needed("dev")))


def test_apply_refuses_a_variable_holding_a_byte_that_is_no_utf_8_before_setting_anything(fake_pulumi, run_apply):
    env, calls = fake_pulumi  # Python reads the byte 0xff of a variable as the lone surrogate \udcff
    result = run_apply("dev", {**env, **secret_values("dev"), "GRAFANA_PLATFORM_SECRET_GRAFANAAUTH": "glsa_PLANTED\udcff"})
    assert result.returncode == 1
    assert "GRAFANA_PLATFORM_SECRET_GRAFANAAUTH: the text holds a lone surrogate" in result.stderr
    assert "PLANTED" not in result.stderr and "Traceback" not in result.stderr
    assert calls() == []


def test_apply_stops_at_the_first_failing_pulumi_call_and_says_how_far_it_got(fake_pulumi, run_apply):
    env, calls = fake_pulumi
    result = run_apply("dev", {**env, **secret_values("dev"), "FAKE_PULUMI_EXIT": "3"})
    assert result.returncode == 1
    assert "`pulumi config set` failed (exit 3); 0 of 2 secrets were set before it" in result.stderr
    assert len(calls()) == 1


def test_apply_stops_a_pulumi_call_that_never_answers_and_says_in_one_line_how_far_it_got(fake_pulumi, run_apply,
                                                                                             monkeypatch):
    env, calls = fake_pulumi
    monkeypatch.setattr(tools.secrets, "PULUMI_TIMEOUT_SECONDS", 1.5)  # the first call answers well within it
    values = secret_values("dev")
    result = run_apply("dev", {**env, **values, "FAKE_PULUMI_HANG_AT": "2"})
    assert result.returncode == 1 and result.stdout == "", result.stderr
    second = f"{P}{config_path(tools.secrets.needed('dev')[1])}"
    assert result.stderr.splitlines() == [
        "error: dev's secrets (GRAFANA_PLATFORM_SECRET_* environment variables): invalid configuration (1 problem); "
        "nothing was deployed:",
        f"  {second}: `pulumi config set` did not answer within 1.5 s (stopped); 1 of 2 secrets were set before it"]
    assert "Traceback" not in result.stderr
    assert not any(value in result.stdout + result.stderr for value in values.values())
    assert len(calls()) == 2  # the second was started, and stopped


def test_apply_as_a_command_is_a_process_that_exits_with_mains_status(tmp_path):
    # the tests above run the command's main in-process; this is the command itself, in an environment
    # of PATH alone (-B: PYTHONDONTWRITEBYTECODE is not in it, and no bytecode is left beside the sources)
    result = subprocess.run([sys.executable, "-B", "-m", "tools.secrets", "apply", "--stack", "dev"], cwd=ROOT,
                            env={"PATH": str(tmp_path)}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and result.stdout == "", result.stderr
    assert result.stderr.startswith("error: dev's secrets (GRAFANA_PLATFORM_SECRET_* environment variables)"), \
        result.stderr
    assert "Traceback" not in result.stderr


def test_apply_without_the_pulumi_cli_says_so(tmp_path, run_apply):
    result = run_apply("dev", {**secret_values("dev"), "PATH": str(tmp_path)})
    assert result.returncode == 1 and "the Pulumi CLI (`pulumi`) is not on PATH" in result.stderr


def test_two_secrets_that_would_read_one_variable_are_refused(tmp_path):
    layout = scratch_layout(tmp_path / "project")
    text = PROJECT_LAYOUT.stack_file("dev").read_text().replace(
        "  grafana-platform:contactPoints:\n", "  grafana-platform:contactPoints:\n    platform_dev:\n      slack: {}\n")
    text = re.sub(r"(grafana-platform:teams:\n)(.*?)(\n  grafana-platform:contactPoints)",
                  lambda m: m.group(1) + "    api-production:\n      selector: env=\"dev\"" + m.group(3), text, flags=re.S)
    layout.stack_file("dev").write_text(text)
    with pytest.raises(ConfigError) as error:
        tools.secrets.needed("dev", layout)
    assert "reads the same variable GRAFANA_PLATFORM_SECRET_CONTACTPOINTS_PLATFORM_DEV_SLACK_URL" in str(error.value)


def test_apply_sets_secrets_run_values_accepts():
    """What apply would set makes the stack deploy: the values, as secrets, through the real program."""
    config, secret_keys = stack_values_from_file("dev", PROJECT_LAYOUT)
    values = {k.split(":", 1)[1]: json.loads(v) if v[:1] in "{[" else v for k, v in config.items()}
    values["grafanaAuth"] = "glsa_token"
    values["contactPoints"]["platform-dev"]["slack"]["url"] = "https://hooks.slack.com/services/x"
    assert run_values(values, ["grafanaAuth", "contactPoints"], stack="unit-test").registrations
    assert Path(ROOT / "stacks").is_dir()
