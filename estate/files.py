"""The one reader of the estate's YAML files (project file, stack files, team files)."""
from __future__ import annotations

from pathlib import Path

import yaml

from .layout import PROJECT
from .model import ConfigError


class _Loader(yaml.SafeLoader):
    """YAML read as the Pulumi CLI reads it: a key given twice is an error, dates stay strings."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable: the parent reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path, shown_as: str) -> dict:
    """The mapping in `path`; a ConfigError naming `shown_as` (the path as a person reads it) otherwise."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(shown_as, [(where, f"not valid YAML: {getattr(e, 'problem', e)}")]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(shown_as, [(f"byte {e.start}", "not UTF-8 text; save the file as UTF-8")]) from None
    if not isinstance(data, dict):
        raise ConfigError(shown_as, [("", "must be a YAML mapping")])
    config = data.get("config")
    if path.name.startswith("Pulumi.") and config is not None:  # a stack file: `config:` maps keys to values
        if not isinstance(config, dict):
            raise ConfigError(shown_as, [("config", f"must be a mapping of {PROJECT}:<key>: <value>")])
        keys = [k for k in config if not isinstance(k, str)]
        if keys:
            raise ConfigError(shown_as, [(f"config.{k}", f"keys are names like {PROJECT}:orgId") for k in keys])
    return data
