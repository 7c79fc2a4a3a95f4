"""tools.diff: the markdown diff of two renders, and the CI workflows that post it."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from estate import PROJECT_ROOT as ROOT
from components.types import ResourceType as T
from tools.diff import Failure, compare_ref, diff_stack, load, main, render_trees
from tools.render import committed
from tests.conftest import load_yaml

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BOARD = (T.DASHBOARD, "api-production-overview")
GROUP = (T.RULE_GROUP, "api-production")


@pytest.fixture(scope="module")
def prod_render() -> Path:
    return committed("prod").folder  # rendered once per process; the tests edit copies of it


@pytest.fixture
def renders(prod_render, tmp_path) -> tuple[Path, Path]:
    """Two copies of the prod render: `old` as rendered, `new` to edit."""
    old, new = tmp_path / "old" / "prod", tmp_path / "new" / "prod"
    shutil.copytree(prod_render, old)
    shutil.copytree(prod_render, new)
    return old, new


def edit(folder: Path, change) -> None:
    """Apply `change(resources_by_key)` to a render's resources.json."""
    path = folder / "resources.json"
    resources = json.loads(path.read_text())
    change({(r["type"], r["name"]): r for r in resources})
    path.write_text(json.dumps([r for r in resources if not r.get("drop")], indent=2))


def edit_alerts(folder: Path, change) -> None:
    """Apply `change(alerts)` to a render's alerts.json (team -> alert -> meaning)."""
    path = folder / "alerts.json"
    alerts = json.loads(path.read_text())
    change(alerts)
    path.write_text(json.dumps(alerts, indent=2))


def rule(resources: dict, name: str) -> dict:
    return next(r for r in resources[GROUP]["inputs"]["rules"] if r["name"] == name)


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().out


def test_no_change_is_an_empty_diff(renders, capsys):
    old, new = renders
    assert not diff_stack(load(old), load(new))
    code, out = run(capsys, old, new, "--exit-code")
    assert code == 0
    assert "- `prod`: no changes" in out
    assert "###" not in out and "|" not in out


def test_one_threshold_change_is_exactly_that_change(renders, capsys):
    old, new = renders
    before_expr = json.loads(rule(load(old), "HighErrorRate")["datas"][0]["model"])["expr"]
    op, before = re.search(r"(>|<|>=|<=)\s*([\d.]+)$", before_expr).groups()

    def raise_threshold(resources):
        data = rule(resources, "HighErrorRate")["datas"][0]
        model = json.loads(data["model"])
        model["expr"] = model["expr"][:-len(before)] + "0.123"
        data["model"] = json.dumps(model)
    edit(new, raise_threshold)
    edit_alerts(new, lambda alerts: alerts["api-production"]["HighErrorRate"].update(threshold=0.123))

    diff = diff_stack(load(old), load(new))
    assert (diff.removed, diff.replaced, diff.added) == ([], [], [])
    assert [r["name"] for r, _ in diff.changed] == ["api-production"]
    code, out = run(capsys, old, new, "--exit-code")
    assert code == 1
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| rule ")]
    assert rows == [
        f"| HighErrorRate | expression | `{before_expr}` | `{before_expr[:-len(before)]}0.123` |",
        f"| HighErrorRate | threshold | `{op} {before}` | `{op} 0.123` |",
    ]
    assert "also changed" not in out
    assert main([str(old), str(new)]) == 0  # without --exit-code, a change is not a failure


def test_a_threshold_is_read_from_the_estates_alerts_not_from_the_expression(renders, capsys):
    old, new = renders
    edit_alerts(new, lambda alerts: alerts["api-production"]["HighErrorRate"].update(threshold=0.5))
    rows = [line for line in run(capsys, old, new)[1].splitlines() if line.startswith("| HighErrorRate ")]
    assert rows == ["| HighErrorRate | threshold | `> 0.05` | `> 0.5` |"]
    (old / "alerts.json").unlink()  # a render written before alerts.json existed: no threshold rows at all
    assert not [line for line in run(capsys, old, new)[1].splitlines() if line.startswith("| HighErrorRate ")]


def test_removed_dashboard_is_a_deletion_at_the_top(renders, capsys):
    old, new = renders
    edit(new, lambda resources: resources[BOARD].update(drop=True))
    (new / "dashboards" / f"{BOARD[1]}.json").unlink()

    diff = diff_stack(load(old), load(new))
    assert [(r["type"], r["name"]) for r in diff.removed] == [BOARD]
    assert (diff.replaced, diff.added, diff.changed) == ([], [], [])
    code, out = run(capsys, old, new, "--exit-code")
    assert code == 1
    body = out.split("### Stack `prod`", 1)[1].splitlines()
    caution = [line for line in body if line.startswith(">")]
    assert body[2:4] == ["> [!CAUTION]", "> **1 resource will be DELETED** — api-production: 1"]
    assert f"> - Dashboard `{BOARD[1]}` (api-production)" in caution
    assert "- `prod`: 1 deleted, 0 replaced, 0 added, 0 changed" in out


def with_thresholds(board: dict) -> dict:
    """The first panel with a threshold step above its base colour."""
    return next(p for p in board["panels"]
                if len(p.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])) > 1)


def test_panel_changes_show_query_unit_and_thresholds(renders, capsys):
    old, new = renders
    title = with_thresholds(json.loads(load(old)[BOARD]["inputs"]["configJson"]))["title"]

    def change_panels(resources):
        board = json.loads(resources[BOARD]["inputs"]["configJson"])
        panel = with_thresholds(board)
        panel["fieldConfig"]["defaults"]["unit"] = "short"
        panel["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] = 99
        panel["targets"][0]["expr"] = "vector(1)"
        board["panels"].append({"id": 999, "type": "stat", "title": "Brand new"})
        resources[BOARD]["inputs"]["configJson"] = json.dumps(board)
    edit(new, change_panels)

    code, out = run(capsys, old, new)
    assert code == 0
    assert "- panels added: **Brand new**" in out
    changed = {line.split(" | ")[1] for line in out.splitlines() if line.startswith(f"| {title} |")}
    assert changed == {"query A", "unit", "thresholds"}
    assert re.search(r"\| thresholds \| `green · [^`]+` \| `green · .*99 red` \|", out)


def test_routing_follows_the_notification_policy(renders, capsys):
    old, new = renders
    edit(new, lambda resources: resources[(T.NOTIFICATION_POLICY, "notification-policy")]["inputs"]
         .update(policies=[]))  # no team routes: everything goes to the root receiver
    root = load(new)[(T.NOTIFICATION_POLICY, "notification-policy")]["inputs"]["contactPoint"]

    code, out = run(capsys, old, new)
    group = out.split("#### Changed: RuleGroup `api-production`", 1)[1].split("####", 1)[0]
    routing = [line.split(" | ") for line in group.splitlines() if " | routing | " in line]
    assert {r[0].lstrip("| ") for r in routing} == {r["name"] for r in load(old)[GROUP]["inputs"]["rules"]}
    assert all(r[2] != f"`{root}`" and r[3] == f"`{root}` |" for r in routing)


def test_contact_point_secrets_stay_masked(renders, capsys):
    old, new = renders

    def nested_slack(**slack):  # a render whose secret sits inside the block (the program masks whole lists)
        return lambda resources: resources[(T.CONTACT_POINT, "api-production")]["inputs"].update(slacks=[slack])
    edit(old, nested_slack(recipient="#api-production-alerts", url="[secret]"))
    edit(new, nested_slack(recipient="#elsewhere", url="https://hooks.example/in-clear-by-mistake"))

    code, out = run(capsys, old, new)
    assert "in-clear-by-mistake" not in out
    assert "| `slacks[0].url` | `[secret]` | `[secret]` |" in out
    assert "| `slacks[0].recipient` | `#api-production-alerts` | `#elsewhere` |" in out


def test_new_folder_uid_is_a_replacement(renders, capsys):
    old, new = renders
    edit(new, lambda resources: resources[(T.FOLDER, "api-production")]["inputs"].update(uid="api-prod"))
    diff = diff_stack(load(old), load(new))
    assert [(b["inputs"]["uid"], a["inputs"]["uid"]) for b, a in diff.replaced] == [("api-production", "api-prod")]
    code, out = run(capsys, old, new)
    assert "> - Folder `api-production` (api-production): `api-production` → `api-prod`" in out


def test_a_replacement_is_counted_once_with_what_else_changed(renders, capsys):
    old, new = renders
    edit(new, lambda resources: resources[(T.FOLDER, "api-production")]["inputs"].update(uid="api-prod", title="API"))
    diff = diff_stack(load(old), load(new))
    assert diff.changed == []
    code, out = run(capsys, old, new)
    assert "- `prod`: 0 deleted, 1 replaced, 0 added, 0 changed" in out
    assert "#### Changed:" not in out
    details = out.split("#### Replaced: Folder `api-production` (api-production)", 1)[1]
    assert "| `title` | `API Production` | `API` |" in details


def test_ref_renders_both_trees(capsys):
    stacks = compare_ref("HEAD", ["prod"])
    assert list(stacks) == ["prod"]
    for side in stacks["prod"]:
        assert BOARD in side and GROUP in side


def test_a_render_that_fails_in_either_tree_is_the_diffs_failure_naming_stack_and_tree(tmp_path):
    """The renders run at once; the first that fails, in the order of the trees and stacks, is the one said."""
    trees = {}
    for side in ("old", "new"):
        tree = tmp_path / side
        (tree / "stacks").mkdir(parents=True)
        (tree / "tools").mkdir()
        for stack in ("dev", "prod"):
            (tree / "stacks" / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
        (tree / "tools" / "render.py").write_text(
            f"import sys\nif '{side}' == 'new' and 'prod' in sys.argv:\n    print('error: broken')\n    sys.exit(1)\n")
        trees[tree] = tmp_path / f"{side}-out"
    with pytest.raises(Failure, match=rf"^rendering prod in {tmp_path / 'new'} failed:\nerror: broken\n$"):
        render_trees(trees, ["dev", "prod"])


def test_usage_and_render_errors_exit_2(renders, capsys):
    old, new = renders
    for argv in ([], [old], [old, new, "--ref", "HEAD"], [old, new, "--stack", "prod"], [old, old.parent]):
        with pytest.raises(SystemExit) as exit_:
            main([str(a) for a in argv])
        assert exit_.value.code == 2
    assert main(["--ref", "no-such-ref-anywhere"]) == 2
    assert "no-such-ref-anywhere" in capsys.readouterr().err
    assert main(["--ref", "HEAD", "--stack", "no-such-stack"]) == 2
    assert "no-such-stack" in capsys.readouterr().err


def test_ctrl_c_while_both_trees_render_ends_the_diff_in_one_line_and_leaves_no_tree(tmp_path):
    diff = subprocess.Popen([sys.executable, "-m", "tools.diff", "--ref", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("tools-diff-*/tree/Pulumi.yaml")) and time.monotonic() < deadline:
            time.sleep(0.02)  # until the ref is exported (and the tool's modules loaded)
        time.sleep(0.3)  # the renders run
        os.killpg(diff.pid, signal.SIGINT)  # as Ctrl-C reaches every process of the terminal's group
        _, err = diff.communicate(timeout=60)
    finally:
        diff.kill()
    assert (diff.returncode, err) == (130, "error: interrupted\n")
    assert list(tmp_path.iterdir()) == []


def test_a_ref_whose_tree_is_no_project_is_refused_rather_than_every_stack_reading_as_new(capsys):
    assert main(["--ref", "HEAD:teams"]) == 2
    assert capsys.readouterr().err == ("error: --ref HEAD:teams: its tree holds no Pulumi.yaml; give a branch, tag or "
                                       "commit of this project\n")


def test_a_ref_that_git_would_read_as_an_option_is_refused_and_writes_nothing(tmp_path, capsys):
    written = tmp_path / "written-by-git.tar"
    assert main([f"--ref=--output={written}"]) == 2
    assert capsys.readouterr().err == (f"error: --ref --output={written}: not a git ref (no ref starts with '-'); "
                                       "give a branch, tag or commit\n")
    assert not written.exists()  # `git archive --output=<file>` would have made it


def check_workflows(*paths: Path) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(tool), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
                          capture_output=True, text=True)


def test_workflows_match_the_github_schema(tmp_path):
    assert {p.name for p in WORKFLOWS} >= {"pr.yml", "deploy.yml"}
    done = check_workflows(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    steps: [{run: true, uses: a}]\n")  # no runs-on
    assert check_workflows(broken).returncode == 1


def test_workflows_keep_their_promises():
    pr = load_yaml((ROOT / ".github/workflows/pr.yml").read_text())["jobs"]
    assert "secrets." not in json.dumps(pr["render-diff"])  # works for forks
    assert pr["render-diff"]["needs"] == "tests" and pr["preview"]["needs"] == "render-diff"
    assert pr["preview"]["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    deploy = load_yaml((ROOT / ".github/workflows/deploy.yml").read_text())["jobs"]
    assert deploy["prod"]["environment"] == "production" and deploy["prod"]["needs"] == "staging"
    assert deploy["staging"]["needs"] == "tests"
    assert deploy["staging"]["concurrency"]["group"] != deploy["prod"]["concurrency"]["group"]
    assert not any(job["concurrency"]["cancel-in-progress"] for job in (deploy["staging"], deploy["prod"]))
