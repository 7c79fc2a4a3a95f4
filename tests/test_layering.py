"""The packages depend one way, so each can be read (and changed) knowing only those below it:

    syntax  <-  dashboards  <-  estate  <-  components  <-  program  <-  tools, policy

`syntax` (PromQL, placeholders) needs nothing of the project; the panel library `dashboards` only
`syntax`; the domain `estate` has no Pulumi import; `components` are ComponentResources only.
Imports only a type checker reads (`if TYPE_CHECKING:`) do not count.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from estate import PROJECT_ROOT

LAYERS = {"syntax": 0, "dashboards": 1, "estate": 2, "components": 3, "program": 4, "tools": 5, "policy": 5}
MODULES = sorted(p for layer in LAYERS for p in ([PROJECT_ROOT / f"{layer}.py"] if layer == "program"
                                                 else (PROJECT_ROOT / layer).rglob("*.py")))


def imported_packages(path: Path) -> set[str]:
    """The top-level names `path` imports, anywhere in it but under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def layer_of(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_a_module_imports_only_its_own_package_and_those_below_it(path):
    own = layer_of(path)
    above = sorted(p for p in imported_packages(path) & set(LAYERS) if p != own and LAYERS[p] >= LAYERS[own])
    assert not above, f"{path.relative_to(PROJECT_ROOT)} ({own}) imports {', '.join(above)}, which build on it"


@pytest.mark.parametrize("path", [p for p in MODULES if layer_of(p) in ("syntax", "dashboards", "estate")],
                         ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_the_domain_and_the_libraries_under_it_never_import_pulumi(path):
    assert not imported_packages(path) & {"pulumi", "pulumiverse_grafana", "pulumi_kubernetes"}


@pytest.mark.parametrize("source, imported", [
    ("from components.team import ProductTeam\n", {"components"}),
    ("def f():\n    import program\n", {"program"}),  # an import inside a function still depends on it
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from estate import Rule\n", {"typing"}),
    ("from .panels import row\n", set()),  # relative: its own package
])
def test_the_check_sees_every_import_a_module_runs(tmp_path, source, imported):
    module = tmp_path / "module.py"
    module.write_text(source)
    assert imported_packages(module) == imported


def test_the_program_never_loads_the_panel_library_the_team_code_worker_builds_every_dashboard(tmp_path):
    """grafana-foundation-sdk costs the program's process about 30 ms and 6 MiB to import: team code and the
    SLOs' error-budget rows are built in the worker (estate/team_worker.py), which loads it once."""
    script = ("import sys, tools.render\n"
              f"assert tools.render.main(['--stack', 'dev', '--out', {str(tmp_path / 'out')!r}]) == 0\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'grafana_foundation_sdk', 'dashboards'}),\n"
              "      sorted(m for m in sys.modules if m.startswith('dashboards.')))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "['dashboards'] ['dashboards.finalize']"
