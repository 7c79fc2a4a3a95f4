"""The seam between the Pulumi engine and the domain: config in, components out.

`__main__.py` calls `main()`; the offline render and the tests call it too, under mocks.
"""
from __future__ import annotations

import pulumi

from components.platform import GrafanaPlatform, summary
from estate import PROJECT, PROJECT_LAYOUT, ConfigError, Estate, Layout, load_estate


class StackConfigError(ConfigError, pulumi.RunError):
    """A ConfigError as Pulumi reports it: the message alone, no traceback."""


def engine_config() -> tuple[dict[str, str], set[str]]:
    """This project's config as the engine hands it over (key -> text), and the keys it marks secret."""
    config = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    config = {k: v for k, v in config.items() if k.startswith(f"{PROJECT}:")}
    marked = set(pulumi.runtime.get_config_secret_keys_env())
    return config, {k for k in config if k in marked or pulumi.runtime.is_config_secret(k)}


def main(layout: Layout = PROJECT_LAYOUT) -> Estate:
    """Load and validate the stack's estate, declare it, and return it (the offline render reads it)."""
    try:
        estate = load_estate(pulumi.get_stack(), *engine_config(), layout)
    except ConfigError as e:  # before any resource exists
        raise StackConfigError(e.file, e.problems) from None
    platform = GrafanaPlatform("grafana-platform", estate)
    pulumi.export("grafanaUrl", estate.config.grafana_url)
    pulumi.export("teams", summary(estate, platform))
    return estate
