"""Run the real program under Pulumi mocks and keep every registration, with secrets masked.

Mocks hand `new_resource` plain values, so secrecy is read off the wire instead: values the
SDK serialized as secrets carry Pulumi's secret signature and are recorded as "[secret]".
"""
from __future__ import annotations

import asyncio
import gc
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import pulumi
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.types import ResourceType

if TYPE_CHECKING:  # imported where used: the benchmark's floor runs these mocks without the program
    from estate import Estate, Layout

SECRET_SIG = "4dabf18193072939515e22adb298388d"
MASK = "[secret]"


@dataclass
class Registration:
    type: str
    name: str
    parent: str
    inputs: dict
    protect: bool
    dependencies: list[str] = field(default_factory=list)  # short URNs (`type::name`) it waits for
    # The rest of what the SDK sent (the benchmark's floors register the same): the inputs that came from
    # other resources' outputs, and the provider a resource is managed by or a component hands down.
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    providers: list[str] = field(default_factory=list)
    outputs: dict | None = None  # what a component registered as its outputs (register_outputs), masked

    def as_json(self) -> dict:
        return {"type": self.type, "name": self.name, "parent": self.parent, "inputs": self.inputs,
                "protect": self.protect}


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return MASK
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == ResourceType.OSS_TEAM:  # Grafana assigns a team its id: a stand-in that says so
            outputs["teamId"] = f"<team id of {args.name}>"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(MockMonitor):
    """Keeps every registration (components too) with its masked inputs, in order."""

    def __init__(self) -> None:
        super().__init__(Mocks())
        self.registrations: list[Registration] = []
        self.by_urn: dict[str, Registration] = {}
        self.thread_loops: list[asyncio.AbstractEventLoop] = []

    def RegisterResource(self, request):
        # Registrations arrive on worker threads, where the SDK would leave event loops unclosed;
        # give each thread a loop we close after the run.
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            self.thread_loops.append(asyncio.new_event_loop())
            asyncio.set_event_loop(self.thread_loops[-1])
        if request.type != "pulumi:pulumi:Stack":
            inputs = mask(json_format.MessageToDict(request.object)) if request.custom else {}
            parent = _short_urn(request.parent) if request.parent else ""
            registration = Registration(
                request.type, request.name, parent, inputs, request.protect,
                sorted(_short_urn(u) for u in request.dependencies),
                {k: sorted(_short_urn(u) for u in v.urns) for k, v in sorted(request.propertyDependencies.items())
                 if v.urns},
                _short_urn(_provider_urn(request.provider)) if request.provider else "",
                sorted(_short_urn(_provider_urn(p)) for p in request.providers.values()))
            self.registrations.append(registration)
            self.by_urn[self.make_urn(request.parent, request.type, request.name)] = registration
        return super().RegisterResource(request)

    def RegisterResourceOutputs(self, request):
        if request.urn in self.by_urn:
            self.by_urn[request.urn].outputs = mask(json_format.MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)


def _provider_urn(reference: str) -> str:
    """A provider reference (`<urn>::<id>`) -> its URN."""
    return reference.rsplit("::", 1)[0]


def _short_urn(urn: str) -> str:
    """`urn:pulumi:stack::project::a$b::name` -> `b::name`: the parent's own type and name."""
    types, name = urn.split("::")[-2:]
    return f"{types.split('$')[-1]}::{name}"


@dataclass
class Run:
    registrations: list[Registration] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)  # the stack outputs, secret ones masked
    estate: "Estate | None" = None  # what the program resolved and declared (None only in hand-made Runs)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str, name: str) -> Registration:
        matches = [r for r in self.of_type(type_) if r.name == name]
        assert len(matches) == 1, f"{len(matches)} {type_} named {name}"
        return matches[0]

    def dashboards_of(self, team: str) -> list[Registration]:
        """The dashboards of one team (those its TeamDashboards component holds), in registration order."""
        parent = f"{ResourceType.TEAM_DASHBOARDS}::{team}"
        return [r for r in self.of_type(ResourceType.DASHBOARD) if r.parent == parent]


def run_program(stack: str, config: dict[str, str], secret_keys: set[str],
                monitor: RecordingMonitor | None = None, layout: "Layout | None" = None) -> Run:
    """Run the program (what __main__.py runs) for `stack` with `config` and the files of `layout`,
    on a fresh event loop; raises what the program raises.

    Pass a `monitor` to see what was registered even when the program fails.
    """
    import program
    from estate import PROJECT, PROJECT_LAYOUT

    resolved: list[Estate] = []
    monitor = monitor or RecordingMonitor()
    exports = run_under_mocks(PROJECT, stack, lambda: resolved.append(program.main(layout or PROJECT_LAYOUT)),
                              config, secret_keys, monitor)
    return Run(monitor.registrations, exports, resolved[0])


def run_under_mocks(project: str, stack: str, body: Callable[[], None], config: dict[str, str] | None = None,
                    secret_keys: set[str] = frozenset(), monitor: RecordingMonitor | None = None) -> dict[str, Any]:
    """Run `body` as a Pulumi program under the recording mocks, on a fresh event loop; its exports.

    The run has a thread of its own, so its stack starts there, as a real run's starts in the language
    host: the SDK extracts the whole Python stack at every registration (for its source positions,
    pulumi.runtime.resource._get_stack_trace), and under pytest's frames that doubled its cost. And
    an interrupt (Ctrl-C) reaches the caller's thread, waiting here, never the event loop mid-run
    (where it could hang the render).
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["exports"] = _run_on_this_thread(project, stack, body, config, secret_keys, monitor)
        except BaseException as e:  # noqa: BLE001  everything the program raises is the caller's to see
            outcome["error"] = e

    thread = threading.Thread(target=run, name=f"pulumi program, stack {stack}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome.pop("error")
    return outcome["exports"]


def _run_on_this_thread(project: str, stack: str, body: Callable[[], None], config: dict[str, str] | None,
                        secret_keys: set[str], monitor: RecordingMonitor | None) -> dict[str, Any]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = monitor or RecordingMonitor()
    try:
        pulumi.runtime.reset_options(project=project, stack=stack)
        pulumi.runtime.set_mocks(Mocks(), project=project, stack=stack, preview=False, monitor=monitor)
        pulumi.runtime.set_all_config(config or {}, sorted(secret_keys))
        _sync_await(run_pulumi_func(body))
        return _exports()
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        for thread_loop in (loop, *monitor.thread_loops):
            thread_loop.close()
        asyncio.set_event_loop(None)
        gc.unfreeze()  # what the program froze (program.main) can be collected again


def _exports() -> dict[str, Any]:
    """Resolve the stack outputs (mocks never send them to a monitor)."""
    root = pulumi.runtime.settings.get_root_resource()
    exports = {}
    for name, value in sorted((root.outputs if root else {}).items()):
        output = pulumi.Output.from_input(value)
        exports[name] = MASK if _sync_await(output.is_secret()) else _sync_await(output.future())
    return exports


if __name__ == "__main__":  # a library: run as a command, it must not end at exit 0 having done nothing
    raise SystemExit("python -m tools.mocks: not a command; python -m tools.render runs the program under these mocks")
