"""The estate as a domain: what stack and team files may say, loaded, validated and resolved.

No Pulumi here: `program.py` hands the engine's config in, `components/` turns the resolved
Estate into resources.
"""
from .layout import PROJECT, PROJECT_LAYOUT, PROJECT_ROOT, Layout
from .model import ConfigError
from .resolve import Dashboard, Estate, Rule, Team, estate_from_file, load_estate
from .team_view import TeamView

__all__ = ["PROJECT", "PROJECT_LAYOUT", "PROJECT_ROOT", "ConfigError", "Dashboard", "Estate", "Layout", "Rule",
           "Team", "TeamView", "estate_from_file", "load_estate"]
