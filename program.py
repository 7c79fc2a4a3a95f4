"""The seam between the Pulumi engine and the domain: config in, components out.

`__main__.py` calls `main()`; the offline render and the tests call it too, under mocks.
"""
from __future__ import annotations

import gc
import json
import os
from typing import Any

import pulumi

from components.platform import GrafanaPlatform, summary
from estate import PROJECT, PROJECT_LAYOUT, ConfigError, Estate, Layout, load_estate
from estate.config import engine_key_problems
from estate.files import strict_json
from estate.model import PLACEHOLDER
from estate.model import secret_paths

ENVIRONMENT = "the PULUMI_CONFIG environment variable"


class StackConfigError(ConfigError, pulumi.RunError):
    """A ConfigError as Pulumi reports it: the message alone, no traceback."""


def engine_config() -> tuple[dict[str, str], set[str]]:
    """This project's config as the engine hands it over (key -> text), and the keys it marks secret.

    One source, never a merge: config set in this process (the offline render, tests, Automation
    API inline programs) or, when there is none, what the language host passes in PULUMI_CONFIG and
    PULUMI_CONFIG_SECRET_KEYS (https://github.com/pulumi/pulumi/pull/6896). An unreadable
    variable is a ConfigError; its content is never shown (it holds the decrypted secrets).
    """
    in_process = dict(pulumi.runtime.config.CONFIG.get())
    if in_process:
        config = in_process
        marked = {k for k in config if pulumi.runtime.is_config_secret(k)}
    else:
        config = _environment_json("PULUMI_CONFIG", dict)
        marked = set(_environment_json("PULUMI_CONFIG_SECRET_KEYS", list))
    bad = sorted(k for k, v in config.items() if not isinstance(k, str) or not isinstance(v, str))
    if bad:
        raise ConfigError(ENVIRONMENT, [("", "every value must be text, as the Pulumi CLI writes it; run the "
                                             "program through `pulumi preview` or `pulumi up`")])
    if problems := engine_key_problems(config):
        raise ConfigError(ENVIRONMENT, problems)
    config = {k: v for k, v in config.items() if k.startswith(f"{PROJECT}:")}
    return config, {k for k in config if k in marked}


def _environment_json(name: str, kind: type) -> Any:
    raw = os.environ.get(name)
    if raw is None:
        return kind()
    try:
        value = strict_json(raw)
    except (json.JSONDecodeError, RecursionError):  # not JSON, or nested deeper than the decoder goes
        value = None
    except ValueError as e:  # a key given twice (one of its values would vanish), NaN, a number past Python's
        raise ConfigError(f"the {name} environment variable", [("", str(e))]) from None
    if not isinstance(value, kind) or (kind is list and not all(isinstance(k, str) for k in value)):
        raise ConfigError(f"the {name} environment variable",
                          [("", f"not a JSON {'object' if kind is dict else 'list of keys'}; the Pulumi CLI sets it: "
                                "run the program through `pulumi preview` or `pulumi up`")])
    return value


def _placeholders_in_a_real_run(estate: Estate) -> None:
    """The offline render's placeholders are no secrets: a real run must never deploy one."""
    if _under_mocks():
        return
    found = [p for p, value in secret_paths(estate.config) if isinstance(value, str) and PLACEHOLDER.match(value)]
    if found:
        raise ConfigError(f"stacks/Pulumi.{estate.stack}.yaml", [
            (f"{PROJECT}:{'.'.join(map(str, p))}", "holds the offline render's placeholder, not a secret; set the "
                                                   "real value (docs/secrets.md)") for p in found])


def _under_mocks() -> bool:
    from pulumi.runtime.mocks import MockMonitor

    return isinstance(pulumi.runtime.settings.SETTINGS.monitor, MockMonitor)


def mask_secure_values(secrets: frozenset[str]):
    """A stack transformation: any input holding a value that came from a secret becomes a secret
    Output, whatever field it lands in (a `secure:` channel name, a secret-derived URL)."""
    values = sorted({form for s in secrets if len(s) >= 3 for form in _encoded_forms(s)})

    def holds(text: str) -> bool:
        return any(v in text for v in values)

    def mask(value: Any) -> Any:
        if isinstance(value, str):
            return pulumi.Output.secret(value) if holds(value) else value
        if isinstance(value, list):
            return [mask(v) for v in value]
        if isinstance(value, dict):
            return {k: mask(v) for k, v in value.items()}
        if pulumi._types.is_input_type(type(value)):
            return type(value)(**{k: mask(v) for k, v in vars(value).items()})
        return value

    def transformation(args: pulumi.ResourceTransformationArgs):
        return pulumi.ResourceTransformationResult({k: mask(v) for k, v in args.props.items()}, args.opts)
    return transformation


def _encoded_forms(value: str) -> set[str]:
    """`value` as an input may hold it: as it is, and inside JSON an input encodes (a dashboard's
    config_json, a rule's query model, jsonDataEncoded: `"` as `\\"`, `é` as `\\u00e9`), once or within
    JSON that is itself in JSON."""
    forms = {value}
    for _ in range(2):
        forms |= {json.dumps(f, ensure_ascii=ascii)[1:-1] for f in forms for ascii in (True, False)}
    return forms


def main(layout: Layout = PROJECT_LAYOUT) -> Estate:
    """Load and validate the stack's estate, declare it, and return it (the offline render reads it)."""
    try:
        estate = load_estate(pulumi.get_stack(), *engine_config(), layout)
        _placeholders_in_a_real_run(estate)
    except ConfigError as e:  # before any resource exists
        raise StackConfigError(e.file, e.problems) from None
    # The estate lives as long as the run. Frozen, it is left out of the collections that follow: the
    # full ones over the SDK's objects would otherwise walk all of it again each time (at 500 teams,
    # 0.6 s of 13). run_under_mocks unfreezes it when the run ends, so repeated runs in one process free theirs.
    gc.freeze()
    if estate.secure_values:
        pulumi.runtime.register_stack_transformation(mask_secure_values(estate.secure_values))
    platform = GrafanaPlatform("grafana-platform", estate)
    url = estate.config.grafana_url
    pulumi.export("grafanaUrl", pulumi.Output.secret(url) if any(v in url for v in estate.secure_values) else url)
    pulumi.export("teams", summary(estate, platform))
    return estate
