"""The one reader of the estate's files: the project file, stack files, team files and imported JSON.

Every file goes through `read_yaml` or `read_json`, which refuse, with one ConfigError naming the
file and every problem found:
- anything but a regular file (a FIFO, a device such as a symlink to /dev/zero), and files over
  MAX_BYTES (read with a bound, so nothing is read past it);
- YAML nested deeper than MAX_DEPTH, or more than MAX_NODES nodes once aliases are expanded
  (billion laughs), and recursive aliases: checked on the parser's event stream, before any node
  is built, so no input can make the reader recurse or grow without bound;
- explicit tags other than `!!str` (`!!binary`, `!!set`, `!!timestamp`, `!!python/...`, `!x`)
  and merge keys (`<<`): they make a value mean something other than what it shows;
- a key given twice in a mapping, also when the two spellings are equal after Unicode
  normalization (NFKC) and case folding (`title` / `Title` / `ｔｉｔｌｅ`): no key in this estate is
  meant to differ from another by case alone, and such pairs are how one silently wins;
- keys holding control or invisible format characters (zero-width space, bidi controls);
- plain scalars that YAML readers disagree on: YAML 1.1 booleans (`yes`, `no`, `on`, `off`, `y`,
  `n`), non-decimal or underscored integers (`0x1F`, `0o17`, `012`, `1_000`). Quote them.
Scalars are resolved with the YAML 1.2 core schema, as the Pulumi CLI's Go reader resolves them:
`19:00` is the string "19:00" (not 1140), `2026-11-01` a string, `1e9` a number.
"""
from __future__ import annotations

import json
import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from .model import ConfigError

MAX_BYTES = 1 << 20  # a stack or team file; the largest committed one is ~7 KiB
MAX_JSON_BYTES = 16 << 20  # an exported dashboard; real ones are up to a few MiB
MAX_DEPTH = 32  # YAML collections inside each other; committed files nest at most 7 deep
MAX_JSON_DEPTH = 64  # dashboards nest panels > fieldConfig > overrides > properties > value ~ 12 deep
MAX_NODES = 100_000  # nodes once every alias is expanded; committed files have under 2,000

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed
_AMBIGUOUS = "tag:grafana-platform,2026:ambiguous"
_STR = "tag:yaml.org,2002:str"
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}


class _Resolver(yaml.resolver.BaseResolver):
    """The YAML 1.2 core schema, plus a marker for plain scalars YAML 1.1 readers read otherwise."""


for _tag, _pattern, _first in [  # the ambiguous forms first: a resolver list is tried in order
    (_AMBIGUOUS, r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$", list("yYnNoO")),
    (_AMBIGUOUS, r"^[-+]?(?:0[0-9]+|0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*_[0-9_]*)$",
     list("-+0123456789")),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
]:
    _Resolver.add_implicit_resolver(_tag, re.compile(_pattern), _first)


class _Constructor(yaml.constructor.SafeConstructor):
    """Builds plain data, collecting every problem (with its line) instead of stopping at the first."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[tuple[str, str]] = []

    def problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append((f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}", message))

    def construct_ambiguous(self, node: yaml.ScalarNode) -> str:
        self.problem(node, f"`{_short(node.value)}` is read differently by YAML readers (YAML 1.1 reads it as a "
                           "boolean or a number); write true/false or a plain decimal number, or quote it")
        return node.value

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        data: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (key_node.tag == _STR and key_node.value == "<<"
                                                              and isinstance(key_node, yaml.ScalarNode)
                                                              and not key_node.style):  # plain: None, or '' from libyaml
                self.problem(key_node, "merge keys (<<) are not allowed; write the keys out")
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                self.problem(key_node, "a key must be a plain scalar (text or a number)")
                continue
            if isinstance(key, str) and not key.isprintable() and any(unicodedata.category(c) in _INVISIBLE
                                                                        for c in key):  # printable: none of them
                self.problem(key_node, f"key {_short(key)!r} holds control or invisible characters; retype it")
            same = normalized(key)
            if same in seen:
                first = seen[same]
                self.problem(key_node, f"key {_short(str(key))!r} is given twice (first at line {first.start_mark.line + 1}"
                                       + (f" as {_short(str(self.construct_object(first)))!r}" if
                                          self.construct_object(first) != key else "") + "); keep one")
                continue
            seen[same] = key_node
            data[key] = self.construct_object(value_node, deep=deep)
        return data

    def construct_yaml_map(self, node: yaml.MappingNode):
        data: dict = {}
        yield data
        data.update(self.construct_mapping(node))


_Constructor.add_constructor(_AMBIGUOUS, _Constructor.construct_ambiguous)
_Constructor.add_constructor("tag:yaml.org,2002:map", _Constructor.construct_yaml_map)
for _tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary", "tag:yaml.org,2002:set",
             "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs", "tag:yaml.org,2002:merge"):
    _Constructor.yaml_constructors.pop(_tag, None)


try:  # libyaml's parser and composer (PyYAML's wheels ship it): fast, and safe once the events were checked
    from yaml._yaml import CParser
except ImportError:
    CParser = None

if CParser is not None:
    class _Loader(CParser, _Constructor, _Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)
else:
    class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                  _Constructor, _Resolver):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)


def normalized(key: Any) -> Any:
    """What two keys must not share: NFKC-normalized, case-folded text (other scalars as they are)."""
    return unicodedata.normalize("NFKC", key).casefold() if isinstance(key, str) else key


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def read_text(path: Path, shown_as: str, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes`; ConfigError naming `shown_as` otherwise."""
    try:
        info = os.stat(path)  # follows symlinks: a link to /dev/zero is a character device
    except FileNotFoundError:
        raise ConfigError(shown_as, [("", "no such file")]) from None
    except OSError as e:
        raise ConfigError(shown_as, [("", f"cannot read it ({e.strerror})")]) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(shown_as, [("", "not a regular file (a folder, device, FIFO or socket); "
                                          "give a YAML or JSON file")])
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise ConfigError(shown_as, [("", f"cannot read it ({e.strerror})")]) from None
    if len(data) > max_bytes:
        raise ConfigError(shown_as, [("", f"larger than {max_bytes // 1024} KiB; this is not a file a person edits")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(shown_as, [(f"byte {e.start}", "not UTF-8 text; save the file as UTF-8")]) from None


def _check_events(text: str, shown_as: str) -> None:
    """Refuse what would make building the nodes deep, huge or cyclic, and tags, from the event stream
    alone: it is read without recursion, so no input can exhaust the stack or memory here."""
    problems: list[tuple[str, str]] = []
    sizes: dict[str, int] = {}  # anchor -> nodes it stands for, once every alias in it is expanded
    stack: list[list] = [[None, 0]]  # the document, then each open collection: [anchor, nodes inside it so far]
    total = 0

    def where(event: yaml.Event) -> str:
        return f"line {event.start_mark.line + 1}, column {event.start_mark.column + 1}"

    def tag_problem(event: yaml.Event) -> None:
        shown = event.tag.replace("tag:yaml.org,2002:", "!!")
        problems.append((where(event), f"the tag {_short(shown)} is not allowed; write plain values (quote text "
                                       "that should stay text)"))

    try:
        for event in yaml.parse(text, Loader=_SAFE_LOADER):
            kind = type(event)
            # The parser leaves `tag` None unless the file writes one (`!!binary x`, `!x`, `!!set`).
            if kind is yaml.ScalarEvent:
                if event.tag is not None and event.tag != _STR:
                    tag_problem(event)
                total += 1
                stack[-1][1] += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.tag is not None:
                    tag_problem(event)
                total += 1
                stack.append([event.anchor, 0])
                if len(stack) > MAX_DEPTH + 1:
                    raise ConfigError(shown_as, [(where(event), f"nested more than {MAX_DEPTH} levels deep")])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                anchor, inside = stack.pop()
                if anchor:
                    sizes[anchor] = inside + 1
                stack[-1][1] += inside + 1  # what the parent holds: this collection and all inside it
            elif kind is yaml.AliasEvent:
                if any(frame[0] == event.anchor for frame in stack):
                    raise ConfigError(shown_as, [(where(event), f"the alias *{_short(event.anchor)} refers to a "
                                                                "collection that contains it (a recursive alias)")])
                if event.anchor not in sizes:
                    raise ConfigError(shown_as, [(where(event), f"the alias *{_short(event.anchor)} has no anchor "
                                                                "before it")])
                total += sizes[event.anchor]
                stack[-1][1] += sizes[event.anchor]
            else:
                continue
            if total > MAX_NODES:
                raise ConfigError(shown_as, [(where(event), f"more than {MAX_NODES} values once aliases are "
                                                            "expanded; write the values out")])
    except yaml.YAMLError as e:
        raise ConfigError(shown_as, [_yaml_problem(e)]) from None
    if problems:
        raise ConfigError(shown_as, problems)


def _yaml_problem(e: yaml.YAMLError) -> tuple[str, str]:
    # Only the parser's reason and position: its snippet of the line could hold a secret.
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return where, f"not valid YAML: {_short(str(getattr(e, 'problem', None) or 'unreadable'), 120)}"


def load_yaml(text: str, shown_as: str) -> Any:
    """The data in YAML `text`, under every rule above; ConfigError naming `shown_as` otherwise."""
    _check_events(text, shown_as)
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        raise ConfigError(shown_as, [*loader.problems, _yaml_problem(e)]) from None
    finally:
        loader.dispose()
    if loader.problems:
        raise ConfigError(shown_as, loader.problems)
    return data


def read_yaml(path: Path, shown_as: str) -> dict:
    """The mapping in the YAML file `path`; a ConfigError naming `shown_as` (the path as a person reads it) otherwise."""
    data = load_yaml(read_text(path, shown_as), shown_as)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(shown_as, [("", "must be a YAML mapping")])
    return data


def read_json(path: Path, shown_as: str) -> Any:
    """The data in the JSON file `path`, at most MAX_JSON_BYTES and MAX_JSON_DEPTH deep."""
    text = read_text(path, shown_as, MAX_JSON_BYTES)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ConfigError(shown_as, [("", f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}")]) from None
    except RecursionError:
        raise ConfigError(shown_as, [("", f"nested more than {MAX_JSON_DEPTH} levels deep")]) from None
    except ValueError as e:  # NaN / Infinity, which JSON does not have
        raise ConfigError(shown_as, [("", str(e))]) from None
    if depth(data) > MAX_JSON_DEPTH:
        raise ConfigError(shown_as, [("", f"nested more than {MAX_JSON_DEPTH} levels deep")])
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"not valid JSON: {name} is not a JSON number")


def depth(data: Any) -> int:
    """How many collections deep `data` nests (0 for a scalar), counted without recursion."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            todo += [(item, level + 1) for item in node if isinstance(item, (dict, list))]
    return deepest
