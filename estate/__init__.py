"""The estate as a domain: what stack and team files may say, loaded, validated and resolved.

No Pulumi here: `program.py` hands the engine's config in, `components/` turns the resolved
Estate into resources.

The names below are loaded when first used (PEP 562), so importing one light module
(`estate.team_code`, which the program imports first to start the team-code process while the
rest loads) does not load the models and the resolver with it.
"""
from __future__ import annotations

import importlib

from .layout import PROJECT, PROJECT_LAYOUT, PROJECT_ROOT, Layout

_FROM = {"ConfigError": ".model", "TeamView": ".team_view", **dict.fromkeys(
    ("Dashboard", "Estate", "Rule", "Team", "estate_from_file", "load_estate"), ".resolve")}

__all__ = ["PROJECT", "PROJECT_LAYOUT", "PROJECT_ROOT", "ConfigError", "Dashboard", "Estate", "Layout", "Rule",
           "Team", "TeamView", "estate_from_file", "load_estate"]


def __getattr__(name: str):
    if name in _FROM:
        value = getattr(importlib.import_module(_FROM[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
