"""Human diff of two offline renders, as markdown fit for a pull-request comment.

    python -m tools.diff OLD_DIR NEW_DIR                 # two folders written by tools.render
    python -m tools.diff --ref origin/main               # that git ref against the working tree, every stack
    python -m tools.diff --ref HEAD --stack prod         # one stack (repeat --stack for more)

Reads each folder's resources.json (dashboards/ and rules/ are views of it), and alerts.json for
each alert's comparison and threshold as the estate resolved them (a render written without it
shows no threshold row); component resources (grafana-platform:*) create nothing in Grafana and
are left out. Per stack: deleted resources first,
with counts per team; then replaced ones (same type and name, new identity: uid of folders,
datasources and dashboards, name of rule groups and contact points; counted once, with what else
changed in them); added ones; what changed inside the others: panels, alert rules (with their
routing), contact points, any other input; and each row of the routing table (tools/routing.py)
that goes elsewhere: "labels `team=x, severity=critical` now reach `a + b` instead of `c`".
Secret inputs are "[secret]" in a render; a field secret on either side is never shown otherwise.

Exit status: 0; with --exit-code, 1 when anything changed; 2 on usage errors or a failed render.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from estate import PROJECT_ROOT as ROOT, Layout
from components.types import ResourceType as T
from dashboards.finalize import panels as every_panel
from syntax.promql import number
from tools.mocks import MASK
from tools import command, first_line, once, routing, shown_path
from tools.render import (SHAPE_ERRORS, NotARender, not_as_written, read_alerts, read_resources,
                          rule_expr)
from tools.routing import receivers


class Resources(dict):
    """A render's Grafana resources by (type, name), and its alerts.json (None in a render without one)."""

    alerts: dict | None = None


Row = tuple[str, str, Any, Any]  # (item, field, before, after)
ABSENT = object()
TEAM_PARENTS = (T.TEAM, T.TEAM_FOLDER, T.TEAM_DASHBOARDS, T.TEAM_ALERT_RULES)
IDENTITY = {  # the input whose change makes the provider delete and re-create the object
    T.FOLDER: lambda inputs: inputs.get("uid"),
    T.DATASOURCE: lambda inputs: inputs.get("uid"),
    T.DASHBOARD: lambda inputs: json.loads(inputs["configJson"]).get("uid"),
    T.RULE_GROUP: lambda inputs: inputs.get("name"),
    T.CONTACT_POINT: lambda inputs: inputs.get("name"),
}
PANEL_SHOWN = re.compile(r"targets\[\d+\]\.expr$|fieldConfig\.defaults\.(unit|thresholds)\b")
RULE_SHOWN = re.compile(r"datas\[\d+\]\.model\.expr$|for$|labels\.severity$")


class Failure(Exception):
    """A render or git step failed: exit status 2."""


# --- reading renders ---------------------------------------------------------------------------

def load(folder: Path) -> Resources:
    """The Grafana resources of a render by (type, name); a folder without a render is empty."""
    path = folder / "resources.json"
    if not path.exists():
        return Resources()
    resources = Resources(((r["type"], r["name"]), r) for r in read_resources(folder)
                          if not r["type"].startswith("grafana-platform:"))
    resources.alerts = read_alerts(folder)
    return resources


def team(resource: dict) -> str:
    parent_type, _, parent_name = resource["parent"].rpartition("::")
    return parent_name if parent_type in TEAM_PARENTS else "platform"


def label(resource: dict) -> str:
    kind = "Provider" if resource["type"].startswith("pulumi:providers:") else resource["type"].rsplit(":", 1)[-1]
    return f"{kind} `{resource['name']}` ({team(resource)})"


def fields(resource: dict, *without: str) -> dict:
    """A resource's inputs and its protect flag, less the inputs shown in their own way."""
    return {"protect": resource["protect"], **{k: v for k, v in resource["inputs"].items() if k not in without}}


# --- field-level changes -----------------------------------------------------------------------

def decoded(value: Any) -> Any:
    """JSON carried in a string input (configJson, jsonDataEncoded, rule models) as data."""
    if isinstance(value, str) and value.startswith(("{", "[")):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    value = decoded(value)
    if isinstance(value, dict) and value:
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list) and value:
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return {path: value}
    return {p: v for sub_path, sub in items for p, v in flatten(sub, sub_path).items()}


def field_changes(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """(path, before, after) for every leaf that differs; under a path secret on either side, both masked."""
    old, new = flatten(before), flatten(after)
    secret = [p for p, v in (*old.items(), *new.items()) if v == MASK]
    changes = []
    for path in sorted(old.keys() | new.keys()):
        b, a = old.get(path, ABSENT), new.get(path, ABSENT)
        if b != a:
            hidden = any(path == s or path.startswith((f"{s}.", f"{s}[")) for s in secret)
            changes.append((path, *(v if v is ABSENT or not hidden else MASK for v in (b, a))))
    return changes


def view_rows(item: str, before: dict, after: dict) -> list[Row]:
    """Rows for the headline fields of one panel or rule; an empty view stands for a missing item."""
    return [(item, k, before.get(k, ABSENT), after.get(k, ABSENT))
            for k in dict.fromkeys([*before, *after]) if before.get(k, ABSENT) != after.get(k, ABSENT)]


def others(item: str, before: Any, after: Any, shown: re.Pattern) -> list[str]:
    paths = [p for p, *_ in field_changes(before, after) if not shown.search(p)]
    return [f"- {item}: also changed {', '.join(f'`{p}`' for p in paths)}"] if paths else []


# --- dashboards --------------------------------------------------------------------------------

def panels(board: dict) -> dict[str, dict]:
    """Every panel, those inside collapsed rows too, by title (a repeated title gets #2, #3...)."""
    seen: Counter = Counter()
    found = {}
    for panel in every_panel(board):
        title = panel.get("title") or f"untitled {panel.get('type')}"
        seen[title] += 1
        found[title if seen[title] == 1 else f"{title} #{seen[title]}"] = panel
    return found


def thresholds(config: dict | None) -> str | None:
    if not config:
        return None
    steps = " · ".join(s["color"] if s.get("value") is None else f"{s['value']:g} {s['color']}"
                       for s in config.get("steps", []))
    return steps if config.get("mode", "absolute") == "absolute" else f"{config['mode']}: {steps}"


def panel_view(panel: dict) -> dict:
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    view = {f"query {t.get('refId', i)}": t.get("expr") for i, t in enumerate(panel.get("targets") or [])}
    return {**view, "unit": defaults.get("unit"), "thresholds": thresholds(defaults.get("thresholds"))}


def dashboard_detail(before: dict, after: dict, *_) -> list[str]:
    old, new = (json.loads(r["inputs"]["configJson"]) for r in (before, after))
    old_panels, new_panels = panels(old), panels(new)
    lines = [f"- panels {verb}: {', '.join(f'**{t}**' for t in titles)}"
             for verb, titles in (("removed", [t for t in old_panels if t not in new_panels]),
                                  ("added", [t for t in new_panels if t not in old_panels])) if titles]
    rows, notes = [], []
    for title in [t for t in new_panels if t in old_panels]:
        b, a = old_panels[title], new_panels[title]
        rows += view_rows(title, panel_view(b), panel_view(a))
        notes += others(title, b, a, PANEL_SHOWN)
    settings = [{**fields(r, "configJson"), **{k: v for k, v in d.items() if k != "panels"}}
                for r, d in ((before, old), (after, new))]
    return lines + table("panel", rows) + notes + field_table(*settings)


# --- alert rules -------------------------------------------------------------------------------

def rule_view(rule: dict, policy: dict, meaning: dict | None) -> dict:
    """The headline fields of a rule; its threshold from the estate's meaning of it (alerts.json)."""
    labels = rule.get("labels") or {}
    view = {"expression": rule_expr(rule)}
    if meaning is not None:
        view["threshold"] = (f"{meaning['comparison']} {number(meaning['threshold'])}" if meaning.get("comparison")
                             else None)
    return {**view, "for": rule.get("for"), "severity": labels.get("severity"),
            "routing": " + ".join(dict.fromkeys(receivers(policy, labels)))}


def rule_group_detail(before: dict, after: dict, context: tuple) -> list[str]:
    policies, alerts = context
    old, new = ({r["name"]: r for r in g["inputs"].get("rules", [])} for g in (before, after))
    team = after["name"]
    # thresholds only when both renders carry the estate's alerts.json (a render from before it shows none)
    known = all(a is not None for a in alerts)
    meaning = [(a or {}).get(team, {}) for a in alerts]
    rows, notes = [], []
    for name in [*old, *(n for n in new if n not in old)]:
        tag = name if name in old and name in new else f"{name} ({'added' if name in new else 'removed'})"
        b, a = old.get(name), new.get(name)
        rows += view_rows(tag, rule_view(b, policies[0], meaning[0].get(name) if known else None) if b else {},
                          rule_view(a, policies[1], meaning[1].get(name) if known else None) if a else {})
        notes += others(name, b, a, RULE_SHOWN) if b and a else []
    return table("rule", rows) + notes + field_table(fields(before, "rules"), fields(after, "rules"))


# --- everything else ---------------------------------------------------------------------------

def generic_detail(before: dict, after: dict, *_) -> list[str]:
    return field_table(fields(before), fields(after))


DETAIL = {T.DASHBOARD: dashboard_detail, T.RULE_GROUP: rule_group_detail}
SHOWN_WHEN_ADDED = (T.RULE_GROUP, T.CONTACT_POINT)  # which alerts fire, and where they go


def detail(before: dict, after: dict, context: tuple) -> list[str]:
    """What changed in one resource; `context` is ((policy before, after), (alerts before, after))."""
    return DETAIL.get(after["type"], generic_detail)(before, after, context)


# --- markdown ----------------------------------------------------------------------------------

def cell(value: Any) -> str:
    if value is ABSENT or value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value)
    return "`" + text.replace("\n", " ").replace("|", "\\|") + "`"


def table(item: str, rows: list[Row]) -> list[str]:
    if not rows:
        return []
    return [f"| {item} | field | before | after |", "|---|---|---|---|",
            *(f"| {name} | {key} | {cell(b)} | {cell(a)} |" for name, key, b, a in rows), ""]


def field_table(before: dict, after: dict) -> list[str]:
    changes = field_changes(before, after)
    if not changes:
        return []
    return ["| field | before | after |", "|---|---|---|",
            *(f"| `{path}` | {cell(b)} | {cell(a)} |" for path, b, a in changes), ""]


# --- one stack ---------------------------------------------------------------------------------

@dataclass
class StackDiff:
    removed: list[dict] = field(default_factory=list)
    replaced: list[tuple[dict, dict]] = field(default_factory=list)  # (before, after); not also in `changed`
    added: list[tuple[dict, list[str]]] = field(default_factory=list)  # with the details of SHOWN_WHEN_ADDED
    changed: list[tuple[dict, list[str]]] = field(default_factory=list)
    # what else changed in each replaced resource, by (type, name)
    replaced_details: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    routing: list[str] = field(default_factory=list)  # label sets of the routing table that now go elsewhere

    def __bool__(self) -> bool:
        return bool(self.removed or self.replaced or self.added or self.changed)

    def counts(self) -> str:
        return ", ".join(f"{len(items)} {what}" for what, items in (
            ("deleted", self.removed), ("replaced", self.replaced), ("added", self.added), ("changed", self.changed)))


def policy(resources: Resources) -> dict:
    return next((r["inputs"] for r in resources.values() if r["type"] == T.NOTIFICATION_POLICY), {})


def by_team(resources: list[dict]) -> list[dict]:
    return sorted(resources, key=lambda r: (team(r), r["type"], r["name"]))


def routing_changes(old: Resources, new: Resources) -> list[str]:
    """Each row of the routing table (every team x severity, an unknown team, no labels) that goes elsewhere now."""
    teams = {r["name"] for r in (*old.values(), *new.values()) if r["type"] == T.RULE_GROUP}
    before, after = policy(old), policy(new)
    lines = []
    for labels in routing.label_sets(teams):
        was, now = (routing.reach_text(routing.route(tree, labels)) for tree in (before, after))
        if was != now:
            lines.append(f"- labels `{routing.describe(labels)}` now reach {cell(now)} instead of {cell(was)}")
    return lines


def diff_stack(old: Resources, new: Resources) -> StackDiff:
    context = ((policy(old), policy(new)), (getattr(old, "alerts", None), getattr(new, "alerts", None)))
    diff = StackDiff(removed=by_team([old[k] for k in old.keys() - new.keys()]), routing=routing_changes(old, new))
    for r in by_team([new[k] for k in new.keys() - old.keys()]):
        # an added rule group shows its thresholds from the new render alone
        added_context = (context[0], ({}, context[1][1]) if context[1][1] is not None else (None, None))
        diff.added.append((r, detail({**r, "inputs": {}}, r, added_context) if r["type"] in SHOWN_WHEN_ADDED else []))
    for key in sorted(old.keys() & new.keys()):
        b, a = old[key], new[key]
        identity = IDENTITY.get(key[0])
        lines = detail(b, a, context)
        if identity and identity(b["inputs"]) != identity(a["inputs"]):
            diff.replaced.append((b, a))
            diff.replaced_details[key] = lines
        elif lines:
            diff.changed.append((a, lines))
    return diff


def n_resources(count: int) -> str:
    return f"{count} resource{'' if count == 1 else 's'}"


def stack_markdown(name: str, diff: StackDiff) -> list[str]:
    lines = [f"### Stack `{name}`: {diff.counts()}", ""]
    if diff.removed:
        per_team = Counter(team(r) for r in diff.removed)
        lines += ["> [!CAUTION]", f"> **{n_resources(len(diff.removed))} will be DELETED** — "
                  + ", ".join(f"{t}: {n}" for t, n in sorted(per_team.items())), ">",
                  *(f"> - {label(r)}" for r in diff.removed), ""]
    if diff.replaced:
        lines += ["> [!WARNING]", f"> **{n_resources(len(diff.replaced))} will be REPLACED** (deleted, then created)", ">",
                  *(f"> - {label(a)}: {cell(IDENTITY[a['type']](b['inputs']))} → {cell(IDENTITY[a['type']](a['inputs']))}"
                    for b, a in diff.replaced), ""]
    if diff.added:
        lines += ["#### Added", *(f"- {label(r)}" for r, _ in diff.added), ""]
    for resource, added in diff.added:
        lines += [f"#### Added: {label(resource)}", *added] if added else []
    for _, resource in diff.replaced:
        details = diff.replaced_details.get((resource["type"], resource["name"]))
        lines += [f"#### Replaced: {label(resource)}", *details] if details else []
    for resource, changes in diff.changed:
        lines += [f"#### Changed: {label(resource)}", *changes]
    if diff.routing:
        lines += ["#### Routing", *diff.routing, ""]
    return lines


def report(title: str, stacks: dict[str, tuple[Resources, Resources]]) -> tuple[str, bool]:
    """The markdown for every stack, and whether anything changed."""
    diffs = {name: diff_stack(old, new) for name, (old, new) in stacks.items()}
    lines = [f"## Render diff: {title}", ""]
    lines += [f"- `{name}`: {diff.counts() if diff else 'no changes'}" for name, diff in diffs.items()] + [""]
    for name, diff in diffs.items():
        lines += stack_markdown(name, diff) if diff else []
    return "\n".join(lines).rstrip() + "\n", any(diffs.values())


# --- rendering a git ref and the working tree --------------------------------------------------

def render_trees(trees: dict[Path, Path], stacks: list[str]) -> None:
    """Render `stacks` of each tree into its folder (tree -> out/<stack>) with the tree's own
    tools.render and this interpreter, as many renders at once as this machine has cores (8 renders,
    one after the other, took 5 s on 2 cores); a stack a tree lacks stays empty."""
    jobs = [(tree, stack, out / stack) for tree, out in trees.items()
            for stack in sorted(set(stacks) & set(Layout.at(tree).stack_names()))]

    def render(job: tuple[Path, str, Path]) -> subprocess.CompletedProcess:
        tree, stack, out = job
        return subprocess.run([sys.executable, "-m", "tools.render", "--stack", stack, "--out", str(out)],
                              cwd=tree, capture_output=True, text=True)

    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    try:
        for (tree, stack, _), done in zip(jobs, pool.map(render, jobs)):
            if done.returncode:
                raise Failure(f"rendering {stack} in {tree} failed:\n{done.stdout}{done.stderr}")
    finally:
        pool.shutdown(cancel_futures=True)  # after a failure (or Ctrl-C), renders not yet started are dropped


def export(ref: str, into: Path) -> None:
    """The tree of `ref`, written without touching the repository's working tree or index."""
    if ref.startswith("-"):  # git would read it as an option (`--output=<file>` writes a file anywhere)
        raise Failure(f"--ref {shown_path(ref)}: not a git ref (no ref starts with '-'); give a branch, tag or commit")
    done = subprocess.run(["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True)
    if done.returncode:
        said = done.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {done.returncode}"]
        raise Failure(f"git archive {shown_path(ref, 80)}: {shown_path(said[0], 160)}")  # git's line quotes the ref
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(into, filter="data")


def compare_ref(ref: str, stacks: list[str] | None) -> dict[str, tuple[Resources, Resources]]:
    with tempfile.TemporaryDirectory(prefix="tools-diff-") as tmp:
        base = Path(tmp) / "tree"
        export(ref, base)
        old = Layout.at(base)
        if not old.project_file.is_file():  # `HEAD:teams` is a tree too: every stack would read as new
            raise Failure(f"--ref {shown_path(ref)}: its tree holds no {old.project_file.name}; give a "
                          "branch, tag or commit of this project")
        known = set(old.stack_names()) | set(Layout.at(ROOT).stack_names())
        if unknown := set(stacks or ()) - known:
            raise Failure(f"no such stack in {shown_path(ref)} or the working tree: "
                          f"{', '.join(shown_path(u, 60) for u in sorted(unknown))}")
        names = sorted(stacks or known)
        render_trees({base: Path(tmp) / "old", ROOT: Path(tmp) / "new"}, names)
        return {name: (load(Path(tmp) / "old" / name), load(Path(tmp) / "new" / name)) for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.diff", description=first_line(__doc__))
    parser.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="OLD_DIR NEW_DIR: two render folders")
    parser.add_argument("--ref", action=once(),
                        help="git ref to compare the working tree with (rendered from a git archive)")
    parser.add_argument("--stack", action="append", help="with --ref: stack to compare (default: all)")
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when anything changed")
    args = parser.parse_args(argv)
    if args.ref and args.dirs or not args.ref and (len(args.dirs) != 2 or args.stack):
        parser.error("give OLD_DIR NEW_DIR, or --ref REF [--stack NAME ...]")
    missing = [str(d) for d in args.dirs if not (d / "resources.json").is_file()]
    if missing:
        parser.error(f"not a render folder (no resources.json): {', '.join(missing)}")
    try:
        if args.ref:
            title, stacks = f"`{args.ref}` → working tree", compare_ref(args.ref, args.stack)
        else:
            old, new = args.dirs
            title, stacks = f"`{old}` → `{new}`", {new.name: (load(old), load(new))}
        markdown, changed = report(title, stacks)
    except (Failure, NotARender) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SHAPE_ERRORS as e:
        if args.ref:  # both renders are this tool's own: a bug, shown as one
            raise
        print(f"error: {not_as_written(e)}", file=sys.stderr)
        return 2
    print(markdown, end="")
    return int(args.exit_code and changed)


if __name__ == "__main__":
    command(main)
