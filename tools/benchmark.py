"""Render cost against the Pulumi SDK's own cost for the same resources, from a few teams to hundreds.

    python -m tools.benchmark                 # N = 5, 100, 500 teams
    python -m tools.benchmark --teams 5 50    # choose N

For each N, a temporary project holds the dev stack with N teams cloned from the committed ones
under new slugs (`cs7`, `vb12`...: selectors, uids and folder titles made unique). Three programs run
there, each in a fresh interpreter, under the same recording mocks:

- render: `python -m tools.render` (load and validate, build dashboards, register, write files);
- floor: a bare program that registers exactly what the render registered, and nothing else: what
  the Pulumi SDK itself costs. A recording run of the render (not timed) keeps every registration
  as the SDK sent it: type, name, parent, inputs, protect, the provider, the resources it waits for
  (an input that came from another resource's output arrives as an output of that resource, as in
  the program), and each component's `register_outputs`;
- typed floor: the same, through the Grafana provider's own resource classes
  (`pulumiverse_grafana.oss.Dashboard(...)`, as any program using the provider SDK registers them)
  instead of bare `pulumi.CustomResource`s.
Each floor checks that the SDK sent exactly the recorded registrations, every field. The three are
run in turns (render, floor, typed floor, render, ...), so a drift of the machine's speed meets all
three alike, and each one's best run is kept.

The floors run as the render does: with the program's collector threshold
(`estate.resolve.COLLECTOR_THRESHOLD`), their own data frozen once loaded (the program freezes its estate
once loaded) and without the interpreter's last full collection at exit, so the ratios hold the
program's own work against the SDK's, not one collector setting against another.
All three run with Python's bytecode cache on (in the temporary folder; this machine sets
PYTHONDONTWRITEBYTECODE, which would have every run compile the project's modules again), and each
is started by the same small process, which reports its wall time and peak memory (a process's max
RSS counts the memory of the process that forked it, so the benchmark itself cannot start them).

It prints wall seconds and peak memory (max RSS) of each, the render's ratios to both floors, and
the cost per team. Timings are measured here, never asserted in tests.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from tools import command, first_line, once, whole_number

PROJECT = "grafana-platform"  # not imported from estate: the floor's process loads only the SDK and the mocks

STACK = "dev"

# What one benchmark may ask for: every N is a project of N team folders on disk and three programs
# holding all of it in memory (1,000 teams: 0.6 to 0.8 GiB each), and every run of each is taken in turn.
MAX_TEAMS = 1000
MAX_RUNS = 30


def clone_slug(slug: str, index: int) -> str:
    """`customer-service`, 7 -> `cs7`: short enough that every generated uid stays within Grafana's 40."""
    return "".join(part[0] for part in slug.split("-")) + str(index)


def synthetic_project(root: Path, teams: int) -> Path:
    """A project at `root` whose dev stack deploys `teams` clones of the committed teams."""
    import yaml

    from estate.layout import PROJECT_LAYOUT, Layout

    layout = Layout.at(root)
    layout.stacks.mkdir(parents=True)
    shutil.copy(PROJECT_LAYOUT.project_file, layout.project_file)
    stack = yaml.safe_load(PROJECT_LAYOUT.stack_file(STACK).read_text(encoding="utf-8"))
    originals = stack["config"][f"{PROJECT}:teams"]
    sources = sorted(originals)
    clones = {}
    for index in range(teams):
        slug = sources[index % len(sources)]
        new = clone_slug(slug, index)
        clones[new] = dict(originals[slug])
        if "grafanaTeam" in clones[new]:  # Grafana team names are unique in an organization
            clones[new]["grafanaTeam"] = {**clones[new]["grafanaTeam"],
                                          "name": f"{clones[new]['grafanaTeam']['name']} {index}"}
        _clone_team(PROJECT_LAYOUT.team_dir(slug), layout.team_dir(new), slug, new, index)
    stack["config"][f"{PROJECT}:teams"] = clones
    layout.stack_file(STACK).write_text(yaml.safe_dump(stack, sort_keys=False), encoding="utf-8")
    return root


def _clone_team(source: Path, target: Path, slug: str, new: str, index: int) -> None:
    # The slug as a name (job="voicebot", voicebot-roi), not inside metric names (voicebot_calls_total).
    pattern = re.compile(rf"(?<![\w-]){re.escape(slug)}(?!\w)")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in target.rglob("*"):
        if path.is_file():
            text = pattern.sub(new, path.read_text(encoding="utf-8"))
            if path.name == "team.yaml":  # folder titles are unique in a Grafana organization
                text = re.sub(r"^folder: (.+)$", rf"folder: \1 {index}", text, count=1, flags=re.MULTILINE)
            path.write_text(text, encoding="utf-8")


def _child_run(*command: str) -> None:
    """Run `python <command>` as a person runs it: its wall time, start to exit, and its peak memory.
    All three programs are measured through this small process: a process's max RSS includes the
    memory of the one that started it (Linux keeps it across fork and exec), so starting them from
    the benchmark itself (which holds the synthetic project) would count its memory as theirs.
    The team-code worker, a process of its own that the render does not wait for, is not in it."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *command], cwd=Path(__file__).resolve().parent.parent,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)
    print(json.dumps({"seconds": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def _child_record(root: str, out: str) -> None:
    """Every registration of a render, as the SDK sent it (inputs, parent, protect, provider, the
    resources it waits for): what the floors register. Not timed: the render's time is its own run."""
    from estate import Layout
    from tools.render import render

    run = render(STACK, Layout.at(Path(root)))
    Path(out).write_text(json.dumps([asdict(r) for r in run.registrations]), encoding="utf-8")


def _child_floor(requests_file: str, collector_threshold: int, typed: bool = False) -> None:
    """Register what the render registered, and nothing else, under the same mocks and the program's
    collector threshold: each resource with the render's type, name, parent, inputs, protect and
    provider, waiting for the same resources (an input that came from another resource's output
    arrives as an output of that resource, as in the program), and each component's outputs
    registered as the program's `register_outputs` registers them; `typed`: through the provider's
    resource classes. It checks that the SDK sent exactly the render's registrations."""
    gc.set_threshold(collector_threshold, *gc.get_threshold()[1:])
    import pulumi

    from tools.mocks import MASK, RecordingMonitor, run_under_mocks

    requests = json.loads(Path(requests_file).read_text(encoding="utf-8"))
    gc.freeze()  # the floor's own data, frozen once loaded as the program freezes its estate (program.main)
    typed_class = _typed_classes() if typed else None

    def secrets(value):
        if value == MASK:
            return pulumi.Output.secret("x")
        if isinstance(value, dict):
            return {k: secrets(v) for k, v in value.items()}
        if isinstance(value, list):
            return [secrets(v) for v in value]
        return value

    classes: dict[str, type] = {}

    def component_class(token: str) -> type:
        """A ComponentResource subclass for `token`, as programs declare components. (The SDK records the
        stack of a resource only below the constructor of a subclass: a bare ComponentResource(...) would
        register without one, which no program's component does.)"""
        if token not in classes:
            class Component(pulumi.ComponentResource):
                def __init__(self, name: str, opts: pulumi.ResourceOptions) -> None:
                    super().__init__(token, name, None, opts)
            classes[token] = Component
        return classes[token]

    def program() -> None:
        created: dict[str, pulumi.Resource] = {}

        def waits_for(r: dict) -> list[str]:
            return [r["parent"], r["provider"], *r["providers"], *r["dependencies"]]

        def from_outputs(value, of: list[str]):  # the value, as an output of the resources it came from
            urns = [created[d].urn for d in of]
            return (urns[0] if len(urns) == 1 else pulumi.Output.all(*urns)).apply(lambda _: value)

        pending = list(requests)  # in the render's order: register each once what it waits for exists
        while pending:
            waiting = []
            for r in pending:
                if any(key and not key.startswith("pulumi:pulumi:Stack") and key not in created
                       for key in waits_for(r)):
                    waiting.append(r)
                    continue
                provider_resource = r["type"].startswith("pulumi:providers:")
                inputs = {k: secrets(_provider_value(v) if typed_class and provider_resource else v)
                          for k, v in r["inputs"].items()}
                inputs.update({k: from_outputs(inputs[k], of) for k, of in r["property_dependencies"].items()})
                from_inputs = {d for of in r["property_dependencies"].values() for d in of}
                opts = pulumi.ResourceOptions(
                    parent=created.get(r["parent"]), protect=r["protect"] or None,
                    provider=created.get(r["provider"]), providers=[created[p] for p in r["providers"]] or None,
                    depends_on=[created[d] for d in r["dependencies"] if d not in from_inputs] or None)
                key = f"{r['type'].split('$')[-1]}::{r['name']}"
                component = not r["inputs"] and r["type"].startswith(f"{PROJECT}:")
                if typed_class and not component:
                    cls, argument = typed_class(r["type"])
                    created[key] = cls(r["name"], opts=opts, **{argument(k, v): v for k, v in inputs.items()})
                elif provider_resource:
                    created[key] = pulumi.ProviderResource(r["type"].split(":")[-1], r["name"], inputs, opts)
                elif not component:
                    created[key] = pulumi.CustomResource(r["type"], r["name"], inputs, opts)
                else:
                    created[key] = component_class(r["type"])(r["name"], opts)
                    if r["outputs"] is not None:
                        created[key].register_outputs(secrets(r["outputs"]))
            if len(waiting) == len(pending):
                raise SystemExit(f"unresolvable: {waiting[0]['type']} {waiting[0]['name']} waits for {waits_for(waiting[0])}")
            pending = waiting

    monitor = RecordingMonitor()
    run_under_mocks(PROJECT, STACK, program, monitor=monitor)
    order = lambda r: (r["type"], r["name"], r["parent"])  # noqa: E731
    registered = sorted((asdict(r) for r in monitor.registrations), key=order)
    different = [a for a, b in zip(registered, sorted(requests, key=order)) if a != b]
    if len(registered) != len(requests) or different:
        raise SystemExit(f"the floor registered {len(registered)} resources, the render {len(requests)}; first "
                         f"different: {different[0]['type']} {different[0]['name']}" if different else "")


def _typed_classes():
    """type token -> (the provider SDK's resource class, its Python argument name for a recorded input)."""
    import pulumiverse_grafana
    from pulumi import _types
    from pulumi.runtime.rpc import get_resource_module

    found: dict = {}

    def of(token: str):
        if token not in found:
            if token.startswith("pulumi:providers:"):
                cls, args = pulumiverse_grafana.Provider, pulumiverse_grafana.ProviderArgs
            else:  # the module the provider SDK registered for the token (as the engine finds it)
                pkg, mod, _ = token.split(":")
                info = get_resource_module(pkg, mod, "").mod_info
                module = __import__(info["fqn"], fromlist=["_"])
                cls = getattr(module, info["classes"][token])
                args = getattr(module, f"{cls.__name__}Args")
            python = {wire: py for py, wire in _types.input_type_py_to_pulumi_names(args).items()}
            found[token] = cls, lambda key, value: python.get(key, key)  # nested values keep the wire names
        return found[token]
    return of


def _provider_value(recorded):
    """A provider input as the program gave it: the SDK sends a provider's non-text inputs as JSON text."""
    if isinstance(recorded, str):
        try:
            value = json.loads(recorded)
        except ValueError:
            return recorded
        return value if not isinstance(value, (dict, list)) else recorded
    return recorded


def _run_child(*args: str, bytecode: Path) -> dict:
    """A child of the benchmark, with Python's bytecode cache on (in `bytecode`, not beside the sources):
    a program's modules are compiled once, as on any machine that does not set PYTHONDONTWRITEBYTECODE."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-m", "tools.benchmark", *args], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, env={**environment, "PYTHONPYCACHEPREFIX": str(bytecode)})
    if done.returncode:
        raise SystemExit(f"benchmark child {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}


def measure(teams: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="grafana-platform-bench-") as tmp:
        root = synthetic_project(Path(tmp) / "project", teams)
        bytecode = Path(tmp) / "bytecode"
        requests = Path(tmp) / "requests.json"
        _run_child("--child-record", str(root), str(requests), bytecode=bytecode)  # first: it fills the cache

        def measured(*command: str) -> dict:
            return _run_child("--child-run", *command, bytecode=bytecode)

        out = Path(tmp) / "render"
        from estate.resolve import COLLECTOR_THRESHOLD  # read here: the floors' processes load only the SDK and the mocks

        programs = {"render": ("-m", "tools.render", "--root", str(root), "--stack", STACK, "--out", str(out)),
                    **{kind: ("-m", "tools.benchmark", f"--child-{kind}", str(requests), str(COLLECTOR_THRESHOLD))
                       for kind in ("floor", "typed-floor")}}
        # Taken in turns (render, floor, typed floor, render, ...): this machine's speed drifts over a
        # minute, and runs of one program in a row would each meet another part of the drift.
        results: dict[str, list[dict]] = {name: [] for name in programs}
        for _ in range(runs):
            for name, argv in programs.items():
                results[name].append(measured(*argv))
        render, floor, typed = results["render"], results["floor"], results["typed-floor"]
        count = len(json.loads((out / "resources.json").read_text(encoding="utf-8")))
    best = lambda runs_of: (min(m["seconds"] for m in runs_of), max(m["peak_mib"] for m in runs_of))  # noqa: E731
    (render_s, render_mib), (floor_s, floor_mib), (typed_s, typed_mib) = best(render), best(floor), best(typed)
    return {"teams": teams, "resources": count, "render_s": render_s, "floor_s": floor_s, "typed_s": typed_s,
            "render_mib": render_mib, "floor_mib": floor_mib, "typed_mib": typed_mib}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmark", description=first_line(__doc__))
    parser.add_argument("--teams", action=once(), type=whole_number(1, MAX_TEAMS), nargs="+", default=[5, 100, 500],
                        help=f"team counts to measure, 1 to {MAX_TEAMS} each")
    parser.add_argument("--runs", action=once(), type=whole_number(1, MAX_RUNS), default=3,
                        help=f"runs of each program per count, 1 to {MAX_RUNS} (best time kept)")
    parser.add_argument("--child-run", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--child-record", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-typed-floor", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_run:
        _child_run(*args.child_run)
        return 0
    if args.child_record:
        _child_record(*args.child_record)
        return 0
    if args.child_floor or args.child_typed_floor:
        resources_file, threshold = args.child_floor or args.child_typed_floor
        _child_floor(resources_file, int(threshold), typed=bool(args.child_typed_floor))
        gc.freeze()  # as `python -m tools.render` ends: no last full collection over the run's objects
        return 0
    if len(set(args.teams)) < len(args.teams):  # the cost per team is read between the first and the last N
        parser.error("--teams: give each number of teams once")
    print("| teams | resources | render s | floor s | time ratio | typed floor s | time ratio | render MiB | "
          "floor MiB | memory ratio | typed floor MiB | memory ratio |")
    print("| --- " * 12 + "|")
    rows = []
    for teams in args.teams:
        row = measure(teams, args.runs)
        rows.append(row)
        print(f"| {teams} | {row['resources']} | {row['render_s']:.2f} | {row['floor_s']:.2f} | "
              f"{row['render_s'] / row['floor_s']:.2f}x | {row['typed_s']:.2f} | {row['render_s'] / row['typed_s']:.2f}x | "
              f"{row['render_mib']:.0f} | {row['floor_mib']:.0f} | {row['render_mib'] / row['floor_mib']:.2f}x | "
              f"{row['typed_mib']:.0f} | {row['render_mib'] / row['typed_mib']:.2f}x |", flush=True)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        per_team = lambda key: (last[key] - first[key]) / (last["teams"] - first["teams"])  # noqa: E731
        print(f"\nper team: render {per_team('render_s') * 1000:.0f} ms and {per_team('render_mib'):.2f} MiB, "
              f"floor {per_team('floor_s') * 1000:.0f} ms and {per_team('floor_mib'):.2f} MiB, "
              f"typed floor {per_team('typed_s') * 1000:.0f} ms and {per_team('typed_mib'):.2f} MiB")
    return 0


if __name__ == "__main__":
    command(main)
