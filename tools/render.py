"""Offline render: run the real program for one stack under Pulumi mocks and write what it declares.

    python -m tools.render --stack prod --out render/prod

Needs no Pulumi CLI, no Grafana and no secrets: `secure:` values become masked placeholders.
Writes DIR/resources.json, DIR/exports.json, DIR/dashboards/<uid>.json, DIR/rules/<team>.yaml
(for promtool) and DIR/alerts.json (each alert's meaning as the estate resolved it: quantity,
comparison, threshold, for, unit, no data; tools.diff reads thresholds from it).
"""
from __future__ import annotations

import argparse
import atexit
import functools
import json
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.types import ResourceType
from estate import PROJECT, PROJECT_LAYOUT, ConfigError, Estate, Layout, Team
from estate.config import config_from_file
from tools.mocks import Run, run_program


def render(stack: str, layout: Layout = PROJECT_LAYOUT) -> Run:
    path = layout.stack_file(stack)
    if not path.exists():
        raise ConfigError(layout.relative(path), [("", f"no such stack; available: {', '.join(layout.stack_names())}")])
    return run_program(stack, *config_from_file(stack, layout), layout=layout)


def rule_expr(rule: dict) -> str:
    """The PromQL expression of a recorded Grafana alert rule: its query step A."""
    return json.loads(next(d for d in rule["datas"] if d["refId"] == "A")["model"])["expr"]


def rules_file(team: Team) -> dict:
    """The Prometheus rule file (for promtool) of a team's rules as the estate resolved them: one group.

    Read from the estate, not from the recorded Grafana rule group: the Grafana rule carries the
    texts in Grafana's template dialect ($values.A.Value), the rule file keeps Prometheus' ($value),
    the dialect promtool tests (estate/grafana_templates.py). The expression, `for`, labels and
    group are the same ones the Grafana rule group is built from (components/alert_rules.py).
    """
    rules = [{
        "alert": rule.alert,
        "expr": rule.expr,
        "for": rule.for_,
        "labels": dict(sorted(rule.labels.items())),
        "annotations": dict(sorted(rule.annotations.items())),
    } for rule in team.rules]
    return {"groups": [{"name": team.slug, "interval": f"{team.interval_seconds}s", "rules": rules}]}


class _RuleFileDumper(yaml.SafeDumper):
    """Multi-line expressions stay readable as YAML block scalars, as people write rule files."""


_RuleFileDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def write(run: Run, out: Path) -> None:
    """Write the render into `out`, replacing what was there only once everything is written.

    Everything is written into a staging folder next to `out` (same file system, so the final
    rename is one step); on any failure the staging folder is removed and `out` left as it was.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".render-", dir=out.parent))
    try:
        registrations = sorted(run.registrations, key=lambda r: (r.type, r.name, r.parent))
        (staging / "resources.json").write_text(
            json.dumps([r.as_json() for r in registrations], indent=2, sort_keys=True) + "\n")
        (staging / "exports.json").write_text(json.dumps(run.exports, indent=2, sort_keys=True) + "\n")
        if run.estate is not None:
            (staging / ALERTS).write_text(json.dumps(alerts(run.estate), indent=2, sort_keys=True) + "\n")
        (staging / "dashboards").mkdir()
        for board in run.of_type(ResourceType.DASHBOARD):
            (staging / "dashboards" / f"{board.name}.json").write_text(board.inputs["configJson"])
        (staging / "rules").mkdir()
        for team in run.estate.teams:
            (staging / "rules" / f"{team.slug}.yaml").write_text(
                yaml.dump(rules_file(team), Dumper=_RuleFileDumper, sort_keys=False, width=120, allow_unicode=True))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def alerts(estate: Estate) -> dict:
    """Each team's alerts as the estate resolved them for the stack: what they watch and where they fire."""
    return {team.slug: {rule.alert: {"quantity": rule.quantity, "comparison": rule.comparison,
                                     "threshold": rule.threshold, "for": rule.for_, "unit": rule.unit,
                                     "noData": rule.no_data}
                        for rule in team.rules}
            for team in estate.teams}


def summary(stack: str, run: Run) -> str:
    by_type = Counter(r.type for r in run.registrations)
    lines = [f"stack {stack}: {len(run.registrations)} resources"]
    lines += [f"  {count:4d}  {type_}" for type_, count in sorted(by_type.items())]
    for team in sorted(run.of_type(ResourceType.TEAM), key=lambda r: r.name):
        groups = [g for g in run.of_type(ResourceType.RULE_GROUP)
                  if g.parent == f"{ResourceType.TEAM_ALERT_RULES}::{team.name}"]  # none for a team without alerts
        lines.append(f"  team {team.name}: {len(run.dashboards_of(team.name))} dashboards, "
                     f"{sum(len(g.inputs['rules']) for g in groups)} alert rules")
    return "\n".join(lines)


# --- reading render folders ----------------------------------------------------------------------

ALERTS = "alerts.json"


@dataclass(frozen=True)
class RenderedDashboard:
    team: str
    uid: str
    board: dict


def read_render(folder: Path) -> tuple[str, list[RenderedDashboard]]:
    """The stack a render folder was written for, and its dashboards with their owning team."""
    resources = json.loads((folder / "resources.json").read_text())
    stack_prefix = f"pulumi:pulumi:Stack::{PROJECT}-"
    stack = next((r["parent"][len(stack_prefix):] for r in resources if r["parent"].startswith(stack_prefix)), None)
    if stack is None:
        raise ValueError(f"{folder}/resources.json: no stack resource to tell which stack this is")
    boards = []
    for r in resources:
        if r["type"] == ResourceType.DASHBOARD:
            team = r["parent"].rsplit("::", 1)[-1]
            board = json.loads((folder / "dashboards" / f"{r['name']}.json").read_text())
            boards.append(RenderedDashboard(team, r["name"], board))
    return stack, sorted(boards, key=lambda b: (b.team, b.uid))


def read_alerts(folder: Path) -> dict | None:
    """A render folder's alerts.json (team -> alert -> meaning); None for a render written without one."""
    path = folder / ALERTS
    return json.loads(path.read_text()) if path.exists() else None


@functools.lru_cache(maxsize=None)
def rendered_stacks() -> dict[str, Path]:
    """Every committed stack rendered once per process into a temporary folder: {stack: folder}."""
    root = Path(tempfile.mkdtemp(prefix="grafana-platform-render-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    out = {}
    for stack in PROJECT_LAYOUT.stack_names():
        write(render(stack), root / stack)
        out[stack] = root / stack
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the render into")
    parser.add_argument("--root", type=Path, default=PROJECT_LAYOUT.root,
                        help="project folder holding Pulumi.yaml, stacks/ and teams/ (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        run = render(args.stack, Layout.at(args.root))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    write(run, args.out)
    print(summary(args.stack, run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
