"""Where an estate's files live: the project file, the stack files and the team folders."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT = "grafana-platform"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layout:
    """The folders one run reads. The program reads the project's own; tests and tools may point
    at copies (a scratch team folder, an older git tree) without touching the repository."""

    root: Path
    stacks: Path
    teams: Path

    @classmethod
    def at(cls, root: Path) -> "Layout":
        return cls(root=root, stacks=root / "stacks", teams=root / "teams")

    @property
    def project_file(self) -> Path:
        return self.root / "Pulumi.yaml"

    def stack_file(self, stack: str) -> Path:
        return self.stacks / f"Pulumi.{stack}.yaml"

    def stack_names(self) -> list[str]:
        """Every stack: stacks/Pulumi.<stack>.yaml."""
        return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in self.stacks.glob("Pulumi.*.yaml"))

    def team_dir(self, slug: str) -> Path:
        return self.teams / slug

    def team_file(self, slug: str) -> Path:
        return self.team_dir(slug) / "team.yaml"

    def team_names(self) -> list[str]:
        return sorted(p.parent.name for p in self.teams.glob("*/team.yaml"))

    def relative(self, path: Path) -> str:
        """`path` as a person reads it in a message: stacks/..., teams/<slug>/..."""
        for base in (self.root, self.teams.parent, self.stacks.parent):
            try:
                return str(path.relative_to(base))
            except ValueError:
                continue
        return str(path)


PROJECT_LAYOUT = Layout.at(PROJECT_ROOT)
