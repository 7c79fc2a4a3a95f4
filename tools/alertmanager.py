"""Alertmanager's own engine on a render: the policy tree as an Alertmanager config, and amtool.

    python -m tools.alertmanager render/prod            # writes render/prod/alertmanager.yml, runs check-config

Grafana's notification policy tree is Alertmanager's routing tree (Grafana routes with
Alertmanager's dispatch code), and Grafana's notification templates are Alertmanager (Go)
templates. Debian's prometheus-alertmanager (0.25) brings `amtool`, which answers both offline:
`amtool check-config`, `amtool config routes test --config.file=F label=value...` and
`amtool template render --template.glob=... --template.text=...`.

The conversion keeps every route where Grafana has it (policies[i] becomes routes[i]), so a route
is named by the same path in both: `/` the root, `/0/1` the second child of the first team route.

- route: `contactPoint` -> `receiver` (absent: inherited, as in Grafana), `matchers` as
  `label="value"` strings, `continue`, `group_by`, the three timers, `muteTimings` ->
  `mute_time_intervals` (not inherited by child routes, in Alertmanager as in Grafana);
- receivers: one per contact point, named as the contact point. Routing needs only the name; the
  integrations (Slack, e-mail, PagerDuty) are Grafana's own and are not converted;
- time_intervals: one per mute timing (`times` start/end -> start_time/end_time, weekdays,
  days_of_month, months, years, location).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from components.types import ResourceType
from tools import command, first_line, shown_path
from tools.prometheus_server import go_env
from tools.routing import Reach, receiver_names

SETUP_HINT = "run `bash scripts/setup` (it installs Debian's `prometheus-alertmanager` package: amtool)"
CONFIG_FILE = "alertmanager.yml"
_TIMERS = (("groupWait", "group_wait"), ("groupInterval", "group_interval"), ("repeatInterval", "repeat_interval"))
_INTERVAL_FIELDS = (("weekdays", "weekdays"), ("daysOfMonths", "days_of_month"), ("months", "months"),
                    ("years", "years"), ("location", "location"))


class AmtoolMissing(RuntimeError):
    pass


class AmtoolError(RuntimeError):
    pass


def amtool() -> str:
    """The path of `amtool` on PATH; AmtoolMissing, saying how to install it, when there is none."""
    path = shutil.which("amtool")
    if not path:
        raise AmtoolMissing(f"amtool is not installed (not found on PATH): {SETUP_HINT}")
    return path


# --- the conversion ----------------------------------------------------------------------------

def matcher(m: dict) -> str:
    """A Grafana matcher as Alertmanager writes it: `label="value"`, the value quoted and escaped."""
    return f'{m["label"]}{m["match"]}{json.dumps(m["value"])}'


def route(policy: dict) -> dict:
    """One Grafana policy (a rendered NotificationPolicy's inputs, or one of its `policies`) as a route."""
    out: dict = {}
    if policy.get("contactPoint"):
        out["receiver"] = policy["contactPoint"]
    if policy.get("matchers"):
        out["matchers"] = [matcher(m) for m in policy["matchers"]]
    if policy.get("continue"):
        out["continue"] = True
    if policy.get("groupBies") is not None:
        out["group_by"] = list(policy["groupBies"])
    out.update({am: policy[grafana] for grafana, am in _TIMERS if policy.get(grafana)})
    if policy.get("muteTimings"):
        out["mute_time_intervals"] = list(policy["muteTimings"])
    if policy.get("policies"):
        out["routes"] = [route(child) for child in policy["policies"]]
    return out


def time_interval(inputs: dict) -> dict:
    """A rendered MuteTiming as an Alertmanager time interval."""
    intervals = []
    for interval in inputs.get("intervals") or [{}]:
        out: dict = {}
        if interval.get("times"):
            out["times"] = [{"start_time": t["start"], "end_time": t["end"]} for t in interval["times"]]
        out.update({am: interval[grafana] for grafana, am in _INTERVAL_FIELDS if interval.get(grafana)})
        intervals.append(out)
    return {"name": inputs["name"], "time_intervals": intervals}


def config(resources: Iterable[dict], templates: Sequence[str] = ()) -> dict:
    """The Alertmanager config equivalent to a render's policy tree, contact points and mute timings.

    `resources` are render entries ({type, name, inputs}: resources.json, or Registration.as_json());
    `templates` are template file globs for check-config to parse.
    """
    resources = list(resources)
    trees = [r["inputs"] for r in resources if r["type"] == ResourceType.NOTIFICATION_POLICY]
    if len(trees) != 1:
        raise ValueError(f"a render has exactly one notification policy tree (found {len(trees)})")
    tree = trees[0]
    contact_points = {r["inputs"]["name"] for r in resources if r["type"] == ResourceType.CONTACT_POINT}
    names = sorted(contact_points | receiver_names(tree))
    out: dict = {
        "route": route(tree),
        "receivers": [{"name": name} for name in names],
        "time_intervals": [time_interval(r["inputs"]) for r in
                           sorted((r for r in resources if r["type"] == ResourceType.MUTE_TIMING),
                                  key=lambda r: r["inputs"]["name"])],
    }
    if not out["time_intervals"]:
        del out["time_intervals"]
    if templates:
        out["templates"] = list(templates)
    return out


def probe(am_config: dict) -> dict:
    """`am_config` with every route sending to a receiver named by its path (`/`, `/0`, `/0/1`...).

    Matching does not depend on receiver names, so amtool routing labels through the probe names
    the very routes that handle them, for what only routes carry (mute timings).
    """
    names: list[str] = []

    def relabel(node: dict, path: str) -> dict:
        names.append(path)
        node = {**node, "receiver": path}
        if node.get("routes"):
            node["routes"] = [relabel(child, f"{path.rstrip('/')}/{i}") for i, child in enumerate(node["routes"])]
        return node

    return {**am_config, "route": relabel(am_config["route"], "/"), "receivers": [{"name": n} for n in names]}


def at_path(am_config: dict, path: str) -> dict:
    node = am_config["route"]
    for step in filter(None, path.split("/")):
        node = node["routes"][int(step)]
    return node


def dump(am_config: dict) -> str:
    return yaml.safe_dump(am_config, sort_keys=False, default_flow_style=False, width=120)


# --- amtool --------------------------------------------------------------------------------------

def check_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([amtool(), "check-config", str(path)], capture_output=True, text=True, timeout=60, env=go_env())


def _labels_args(labels: dict[str, str]) -> list[str]:
    # amtool reads each argument as a matcher: label="value" (quoted, so any value survives)
    return [f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())]


def routes_test(path: Path, label_sets: Sequence[dict[str, str]]) -> list[list[str]]:
    """The receivers amtool routes each label set to, in the tree's order (one amtool per label set).

    amtool tests one label set per run and takes about 10 ms, so the runs go all at once.
    """
    tool = amtool()
    runs = [subprocess.Popen([tool, "config", "routes", "test", f"--config.file={path}", *_labels_args(labels)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=go_env())
            for labels in label_sets]
    answers = []
    for labels, run in zip(label_sets, runs):
        out, err = run.communicate(timeout=60)
        if run.returncode:
            raise AmtoolError(f"amtool config routes test {' '.join(_labels_args(labels))} failed:\n{out}{err}")
        answers.append(out.strip().split(","))
    return answers


def routing(folder: Path, am_config: dict, label_sets: Sequence[dict[str, str]]) -> list[list[Reach]]:
    """Route every label set with amtool through `am_config` (written into `folder`) and its probe."""
    for name in (r["name"] for r in am_config["receivers"]):
        if "," in name:  # amtool separates receivers with commas
            raise AmtoolError(f"contact point '{name}': amtool cannot report a receiver name with a comma")
    real, routes = folder / CONFIG_FILE, folder / "alertmanager-probe.yml"
    real.write_text(dump(am_config), encoding="utf-8")
    routes.write_text(dump(probe(am_config)), encoding="utf-8")
    answers = routes_test(real, label_sets)
    paths = routes_test(routes, label_sets)
    result = []
    for labels, receivers, matched in zip(label_sets, answers, paths):
        if len(receivers) != len(matched):
            raise AmtoolError(f"{labels}: {receivers} from the config but routes {matched} from its probe")
        result.append([Reach(receiver, tuple(at_path(am_config, p).get("mute_time_intervals") or ()), p)
                       for receiver, p in zip(receivers, matched)])
    return result


# Between the texts of one batched run: no template writes this line.
_NEXT_TEXT = "\n-- tools.alertmanager: next text --\n"


def render_templates(globs: Sequence[Path | str], requests: Sequence[tuple[str, Path]]) -> list[tuple[int, str]]:
    """`amtool template render` for each (text, data): `text` executed with the templates of `globs`
    (later globs redefine earlier ones) on `data`, a template.Data JSON file. (exit status, output) each.

    The texts of one data file go in one run (each in a scope of its own, `{{ if true }}...{{ end }}`,
    separated by _NEXT_TEXT), as starting amtool costs more than rendering; a run that fails, or whose
    output does not split into its texts' outputs, is made again one text per run, so each text gets
    its own status and message. The runs go all at once."""
    by_data: dict[str, list[int]] = {}
    for index, (_, data) in enumerate(requests):
        by_data.setdefault(str(data), []).append(index)
    batches = list(by_data.values())
    results: list[tuple[int, str]] = [(0, "")] * len(requests)
    alone = []
    for batch, (code, out) in zip(batches, _render(globs, [(_batch_text([requests[i][0] for i in batch]),
                                                            requests[batch[0]][1]) for batch in batches])):
        parts = [out] if len(batch) == 1 else out.split(_NEXT_TEXT)
        if len(batch) == 1 or (code == 0 and len(parts) == len(batch)):
            for index, part in zip(batch, parts):
                results[index] = (code, part)
        else:
            alone += batch
    for index, result in zip(alone, _render(globs, [requests[i] for i in alone])):
        results[index] = result
    return results


def _batch_text(texts: list[str]) -> str:
    if len(texts) == 1:
        return texts[0]
    return _NEXT_TEXT.join("{{ if true }}" + text + "{{ end }}" for text in texts)


def _render(globs: Sequence[Path | str], requests: Sequence[tuple[str, Path]]) -> list[tuple[int, str]]:
    """One `amtool template render` per (text, data), all at once: (exit status, output) each."""
    tool = amtool()
    runs = [subprocess.Popen([tool, "template", "render", f"--template.text={text}", f"--template.data={data}",
                              *(f"--template.glob={g}" for g in globs)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=go_env())
            for text, data in requests]
    results = []
    for run in runs:
        out, _ = run.communicate(timeout=60)
        results.append((run.returncode, out))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.alertmanager", description=first_line(__doc__))
    parser.add_argument("render", type=Path, help="a folder written by tools.render")
    args = parser.parse_args(argv)
    from tools.render import SHAPE_ERRORS, not_as_written, read_resources  # the program's modules: only here

    if not (args.render / "resources.json").is_file():
        parser.error(f"not a render folder (no resources.json): {shown_path(args.render)}")
    try:
        am_config = config(read_resources(args.render))
    except ValueError as e:  # NotARender, or a render without one policy tree
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SHAPE_ERRORS as e:
        print(f"error: {not_as_written(e)}", file=sys.stderr)
        return 2
    try:
        amtool()  # before anything is written: without amtool the configuration would be left unchecked
    except AmtoolMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    path = args.render / CONFIG_FILE
    if path.is_symlink() or (path.exists() and not path.is_file()):  # written through, a link could replace anything
        print(f"error: {shown_path(path)}: is a link or no regular file; remove it, the tool writes its own", file=sys.stderr)
        return 2
    try:
        path.write_text(dump(am_config), encoding="utf-8")
    except OSError as e:
        print(f"error: {shown_path(path)}: cannot write it ({e.strerror or e})", file=sys.stderr)
        return 2
    done = check_config(path)
    print(f"wrote {path}\n{done.stdout}{done.stderr}", end="")
    return done.returncode


if __name__ == "__main__":
    command(main)
