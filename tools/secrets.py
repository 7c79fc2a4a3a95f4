"""The secrets a stack needs, and setting them from the environment (CI): docs/secrets.md.

    venv/bin/python -m tools.secrets list --stack prod     # each secret's config path and variable
    venv/bin/python -m tools.secrets apply --stack prod    # set each from GRAFANA_PLATFORM_SECRET_*

A stack file holds no secret; the secrets a stack needs are the secret fields validation finds
missing in its structure (estate.config.needed_secrets), whatever `secure:` values a working copy
may hold already (so `apply` also rotates them). `apply` reads every variable first and validates
the stack with them: one missing or invalid is one line each, exit 1, and nothing is set. Then it
runs `pulumi config set --stack S --secret --path 'grafana-platform:<path>'` once per secret, the
value on stdin (never in argv, where `ps` would show it), and never prints a value.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError

from estate import PROJECT, PROJECT_LAYOUT, ConfigError, Layout
from estate.config import (_put, config_leaves, config_path, env_var, needed_secrets, project_values, stack_file,
                           stack_values_from_file)
from estate.files import not_unicode, not_unicode_at
from estate.model import MAX_LINES, located_problems
from estate.stack import StackConfig
from tools import command, first_line, not_a_project, once


PULUMI_TIMEOUT_SECONDS = 300  # one `pulumi config set`: a CLI waiting on a login or a lock answers no more


def needed(stack: str, layout: Layout = PROJECT_LAYOUT) -> list[tuple]:
    """The config paths (without namespace) of every secret `stack` needs, in validation's order."""
    path = stack_file(stack, layout)
    config, _ = stack_values_from_file(stack, layout)
    values = _without_secure(project_values(config))
    paths = needed_secrets(values)
    variables: dict[str, tuple] = {}
    clashes = []
    for p in paths:
        if env_var(p) in variables:
            clashes.append((f"{PROJECT}:{config_path(p)}", f"reads the same variable {env_var(p)} as "
                                                           f"{PROJECT}:{config_path(variables[env_var(p)])}; rename one"))
        variables.setdefault(env_var(p), p)
    if clashes:
        raise ConfigError(layout.relative(path), clashes)
    return paths


def _without_secure(values: dict) -> dict:
    """The stack's values with every secret leaf removed (placeholders of `secure:` values included)."""
    values = copy.deepcopy(values)
    for key in list(values):
        for at, value, _ in config_leaves(values[key], (key,)):
            if isinstance(value, str) and value.startswith("<secure "):
                node = values
                for step in at[:-1]:
                    node = node[step]
                del node[at[-1]]
    return values


def list_secrets(stack: str, layout: Layout = PROJECT_LAYOUT) -> str:
    paths = needed(stack, layout)
    if not paths:
        return f"stack {stack} needs no secret"
    width = max(len(f"{PROJECT}:{config_path(p)}") for p in paths)
    return "\n".join(f"{PROJECT}:{config_path(p):<{width - len(PROJECT) - 1}}  {env_var(p)}" for p in paths)


def apply(stack: str, layout: Layout = PROJECT_LAYOUT, environ: dict | None = None) -> list[str]:
    """Set every secret `stack` needs from its variable; the lines to print. ConfigError before
    anything is set when a variable is missing or a value is refused."""
    environ = os.environ if environ is None else environ
    paths = needed(stack, layout)
    where = f"{stack}'s secrets (GRAFANA_PLATFORM_SECRET_* environment variables)"
    missing = [(env_var(p), f"is not set (or empty): the secret {PROJECT}:{config_path(p)}") for p in paths
               if not environ.get(env_var(p))]
    # A byte that is no UTF-8 reaches Python as a lone surrogate: its stdin could not be written.
    missing += [(env_var(p), f"{not_unicode(())} to `pulumi config set`: the secret {PROJECT}:{config_path(p)}")
                for p in paths
                if environ.get(env_var(p)) and not_unicode_at(environ[env_var(p)]) is not None]
    if missing:
        raise ConfigError(where, missing)
    config, _ = stack_values_from_file(stack, layout)
    values = _without_secure(project_values(config))
    for p in paths:  # checked as `pulumi config set` stores it: it drops one newline that ends the value on stdin
        _put(values, p, environ[env_var(p)].removesuffix("\n"))
    try:
        StackConfig.model_validate(values)
    except ValidationError as e:  # what the stack would refuse, refused before anything is set (no value shown)
        problems = located_problems(e, StackConfig)
        named = [(f"{PROJECT}:{config_path(at)}", m) for at, m in problems if at in paths]
        raise ConfigError(where, named or [(f"{PROJECT}:{config_path(at)}", m) for at, m in problems]
                          ).hiding(environ[env_var(p)] for p in paths)
    pulumi = shutil.which("pulumi", path=environ.get("PATH"))
    if pulumi is None:
        raise ConfigError(where, [("", "the Pulumi CLI (`pulumi`) is not on PATH; install it (pulumi/actions in CI)")])
    done = []
    for p in paths:
        key = f"{PROJECT}:{config_path(p)}"
        try:
            result = subprocess.run([pulumi, "config", "set", "--stack", stack, "--secret", "--path", key],
                                    input=environ[env_var(p)].encode(), capture_output=True, env=dict(environ),
                                    cwd=layout.root, timeout=PULUMI_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:  # its message quotes the command; the value is on stdin, never there
            raise ConfigError(where, [(key, f"`pulumi config set` did not answer within {PULUMI_TIMEOUT_SECONDS} s "
                                            f"(stopped); {len(done)} of {len(paths)} secrets were set before it")]) from None
        if result.returncode != 0:
            raise ConfigError(where, [(key, f"`pulumi config set` failed (exit {result.returncode}); "
                                            f"{len(done)} of {len(paths)} secrets were set before it")])
        done.append(f"set {key} (from {env_var(p)})")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.secrets", description=first_line(__doc__))
    parser.add_argument("command", choices=["list", "apply"])
    parser.add_argument("--stack", required=True, action=once(), help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--root", action=once(), type=os.path.abspath, default=str(PROJECT_LAYOUT.root),
                        help="project folder holding Pulumi.yaml, stacks/ and teams/ (default: this checkout)")
    args = parser.parse_args(argv)
    layout = Layout.at(Path(args.root))
    if problem := not_a_project(args.root, layout.project_file):
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        if args.command == "list":
            print(list_secrets(args.stack, layout))
        else:
            lines = apply(args.stack, layout)
            print("\n".join(lines[: MAX_LINES - 1] + ([f"… and {len(lines) - MAX_LINES + 1} more"]
                                                       if len(lines) > MAX_LINES - 1 else [])))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    command(main)
