"""The one reader of the estate's files: the project file, stack files, team files and imported JSON.

Every file goes through `read_yaml` or `read_json`, which refuse, with one ConfigError naming the
file and every problem found:
- anything but a regular file (a FIFO, a device such as a symlink to /dev/zero), and files over
  MAX_BYTES (read with a bound, so nothing is read past it);
- YAML nested deeper than MAX_DEPTH, or more than MAX_NODES nodes once aliases are expanded
  (billion laughs), and recursive aliases: the data is built from libyaml's event stream in one
  pass without recursion, and these are refused as they are met, so no input can make the reader
  recurse or grow without bound;
- explicit tags other than `!!str` (`!!binary`, `!!set`, `!!timestamp`, `!!python/...`, `!x`)
  and merge keys (`<<`): they make a value mean something other than what it shows;
- a key given twice in a mapping, also when the two spellings are equal after Unicode
  normalization (NFKC) and case folding (`title` / `Title` / `ｔｉｔｌｅ`): no key in this estate is
  meant to differ from another by case alone, and such pairs are how one silently wins;
- keys holding control or invisible format characters (zero-width space, bidi controls), and keys
  that are not text (`200:` is a number, `~:` null, `true:` a boolean: quote them);
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

from .model import ConfigError, shown_key

MAX_BYTES = 1 << 20  # a stack or team file; the largest committed one is ~7 KiB
MAX_JSON_BYTES = 16 << 20  # an exported dashboard; real ones are up to a few MiB
MAX_DEPTH = 32  # YAML collections inside each other; committed files nest at most 7 deep
MAX_JSON_DEPTH = 64  # dashboards nest panels > fieldConfig > overrides > properties > value ~ 12 deep
MAX_NODES = 100_000  # nodes once every alias is expanded; committed files have under 2,000
MAX_DIGITS = 4300  # the longest integer Python reads from text (sys.get_int_max_str_digits' default)

# libyaml's parser and emitter where PyYAML has them (its wheels ship them): about ten times faster than
# its pure-Python ones. The one place that picks them: the tools' own YAML and the tests' use these too.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_AMBIGUOUS = "tag:grafana-platform,2026:ambiguous"
_STR = "tag:yaml.org,2002:str"
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}
INVISIBLE_KEY = "holds control or invisible characters; retype it"


def has_invisible(key: str) -> bool:
    """Whether a key holds a character one cannot see (a zero-width space, a control): two keys would
    look the same in every message and editor."""
    return not key.isprintable() and any(unicodedata.category(c) in _INVISIBLE for c in key)  # printable: none


# Plain scalars: the YAML 1.2 core schema, as {first character: [(tag, pattern)]} tried in order,
# the forms YAML 1.1 readers read otherwise first (marked ambiguous).
_PLAIN: dict[str, list[tuple[str, re.Pattern]]] = {}
for _tag, _pattern, _first in [
    (_AMBIGUOUS, r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$", list("yYnNoO")),
    (_AMBIGUOUS, r"^[-+]?(?:0[0-9]+|0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*_[0-9_]*)$",
     list("-+0123456789")),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
]:
    for _character in _first:
        _PLAIN.setdefault(_character, []).append((_tag, re.compile(_pattern)))


def plain_tag(text: str) -> str:
    """What `text` written plain (unquoted) is read as: its YAML 1.2 core tag, or _AMBIGUOUS."""
    return next((tag for tag, pattern in _PLAIN.get(text[:1], ()) if pattern.match(text)), _STR)


class _Dumper(SAFE_DUMPER):
    pass


def _represent_text(dumper: _Dumper, text: str) -> yaml.ScalarNode:
    if plain_tag(text) != _STR:  # `1e3`, `0o17`: plain text to PyYAML's YAML 1.1 dumper, a number or refused here
        return dumper.represent_scalar(_STR, text, style="'")
    return dumper.represent_str(text)


_Dumper.add_representer(str, _represent_text)
# The dumper for YAML the program reads back (what the tools write into team and stack files): text that
# this reader would take for a number, a boolean or null, or refuse as ambiguous, is quoted.
YAML_DUMPER = _Dumper


def normalized(key: Any) -> Any:
    """What two keys must not share: NFKC-normalized, case-folded text (other scalars as they are)."""
    return unicodedata.normalize("NFKC", key).casefold() if isinstance(key, str) else key


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _where(event: yaml.Event) -> str:
    return f"line {event.start_mark.line + 1}, column {event.start_mark.column + 1}"


class _Collection:
    """A mapping or list being built, and for a mapping the key waiting for its value."""

    __slots__ = ("data", "event", "inside", "key", "key_event", "refused", "discarded", "seen")

    def __init__(self, data: dict | list, event: yaml.Event, discarded: bool) -> None:
        self.data, self.event = data, event  # its start event: where it is, its anchor
        self.inside = 0  # nodes inside it so far, aliases expanded
        self.key: Any = None
        self.key_event: yaml.Event | None = None  # the waiting key's event; None: the next node is a key
        self.refused = False  # the waiting key was refused: its value is built, not kept
        self.discarded = discarded  # inside a refused key's value: nothing in it is kept or reported
        self.seen: dict[Any, tuple[yaml.Event, Any]] = {}  # normalized key -> (its event, the key as written)

    def drops_what_follows(self) -> bool:
        """Whether the next node is neither kept nor reported: it is inside a refused key's value, or it is that value."""
        return self.discarded or (self.refused and self.key_event is not None)


class _Builder:
    """The data of a YAML text, built from the parser's events in one pass and without recursion (so
    no input can exhaust the stack, and depth and size are refused before anything grows), with
    every problem collected with its line; tag problems are reported alone."""

    def __init__(self, shown_as: str) -> None:
        self.shown_as = shown_as
        self.tag_problems: list[tuple[str, str]] = []
        self.problems: list[tuple[str, str]] = []
        # anchor -> (its value, the nodes it stands for, its event: an alias is that node again, as the
        # composer makes it, also for what it says where: a key `*a` where `&a <<` is a merge key)
        self.anchors: dict[str, tuple[Any, int, yaml.Event]] = {}
        self.open: list[_Collection] = []
        self.total = 0  # nodes so far, aliases expanded
        self.documents = 0
        self.another_document: tuple[str, str] | None = None
        self.data: Any = None

    def build(self, text: str) -> Any:
        try:
            for event in yaml.parse(text, Loader=SAFE_LOADER):
                kind = type(event)
                if kind is yaml.ScalarEvent:
                    value = self.scalar(event)
                    self.count(event, 1)
                    if event.anchor:
                        self.anchors[event.anchor] = (value, 1, event)
                    self.add(event, value)
                elif kind is yaml.MappingStartEvent:
                    self.start(event, {})
                elif kind is yaml.SequenceStartEvent:
                    self.start(event, [])
                elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                    self.end(event)
                elif kind is yaml.AliasEvent:
                    self.alias(event)
                elif kind is yaml.DocumentStartEvent:
                    self.documents += 1
                    if self.documents == 2:  # as PyYAML's single-document reader says it
                        self.another_document = (_where(event), "not valid YAML: but found another document")
        except yaml.YAMLError as e:
            raise ConfigError(self.shown_as, [_yaml_problem(e)]) from None
        problems = self.tag_problems or ([self.another_document] if self.another_document else self.problems)
        if problems:
            raise ConfigError(self.shown_as, problems)
        return self.data

    def refuse(self, event: yaml.Event, message: str) -> None:
        raise ConfigError(self.shown_as, [(_where(event), message)])

    def problem(self, event: yaml.Event, message: str) -> None:
        top = self.open[-1] if self.open else None
        if top is None or not top.drops_what_follows():
            self.problems.append((_where(event), message))

    def tag_problem(self, event: yaml.Event) -> None:
        shown = event.tag.replace("tag:yaml.org,2002:", "!!")
        self.tag_problems.append((_where(event), f"the tag {_short(shown)} is not allowed; write plain values "
                                                 "(quote text that should stay text)"))

    def count(self, event: yaml.Event, nodes: int) -> None:
        self.total += nodes
        if self.open:
            self.open[-1].inside += nodes
        if self.total > MAX_NODES:
            self.refuse(event, f"more than {MAX_NODES} values once aliases are expanded; write the values out")

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        """The value as the YAML 1.2 core schema reads it, and as PyYAML's SafeConstructor builds it."""
        value = event.value
        if event.tag is not None:  # the parser leaves it None unless the file writes one (`!!binary x`, `!x`)
            if event.tag != _STR:
                self.tag_problem(event)
            return value
        if not event.implicit[0]:  # quoted, or a block scalar: text
            return value
        tag = plain_tag(value)
        if tag == _STR:
            return value
        if tag == _AMBIGUOUS:
            self.problem(event, f"`{_short(value)}` is read differently by YAML readers (YAML 1.1 reads it as a "
                                "boolean or a number); write true/false or a plain decimal number, or quote it")
            return value
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return value.lower() == "true"
        if tag == "tag:yaml.org,2002:int":
            digits = len(value.lstrip("+-"))
            if digits > MAX_DIGITS:  # Python refuses to read it (int_max_str_digits)
                self.problem(event, f"a number of {digits} digits; no value here has more than {MAX_DIGITS} "
                                    "(quote it if it is text)")
                return value
            return int(value)
        number = value.lower()
        sign = -1 if number[0] == "-" else 1
        number = number[1:] if number[0] in "+-" else number
        if number == ".inf":
            return sign * yaml.constructor.SafeConstructor.inf_value
        if number == ".nan":
            return yaml.constructor.SafeConstructor.nan_value
        return sign * float(number)

    def start(self, event: yaml.Event, data: dict | list) -> None:
        if event.tag is not None:
            self.tag_problem(event)
        self.count(event, 1)
        parent = self.open[-1] if self.open else None
        discarded = parent is not None and parent.drops_what_follows()
        self.open.append(_Collection(data, event, discarded))
        if len(self.open) > MAX_DEPTH:
            self.refuse(event, f"nested more than {MAX_DEPTH} levels deep")

    def end(self, event: yaml.Event) -> None:
        collection = self.open.pop()
        if collection.event.anchor:
            self.anchors[collection.event.anchor] = (collection.data, collection.inside + 1, collection.event)
        if self.open:
            self.open[-1].inside += collection.inside
        self.add(collection.event, collection.data)

    def alias(self, event: yaml.AliasEvent) -> None:
        if any(c.event.anchor == event.anchor for c in self.open):
            self.refuse(event, f"the alias *{_short(event.anchor)} refers to a collection that contains it "
                               "(a recursive alias)")
        if event.anchor not in self.anchors:
            self.refuse(event, f"the alias *{_short(event.anchor)} has no anchor before it")
        value, nodes, anchored = self.anchors[event.anchor]
        self.count(event, nodes)
        self.add(anchored, value)

    def add(self, event: yaml.Event, value: Any) -> None:
        """A complete node: the document, a list item, a key, or the waiting key's value."""
        if not self.open:
            self.data = value
            return
        parent = self.open[-1]
        if isinstance(parent.data, list):
            parent.data.append(value)
        elif parent.key_event is None:
            self.key(parent, event, value)
        else:
            if not parent.refused:
                parent.data[parent.key] = value
            parent.key, parent.key_event, parent.refused = None, None, False

    def key(self, mapping: _Collection, event: yaml.Event, key: Any) -> None:
        mapping.key, mapping.key_event = key, event
        if type(event) is yaml.ScalarEvent and event.value == "<<" and not event.style and event.tag in (None, _STR):
            self.problem(event, "merge keys (<<) are not allowed; write the keys out")
            mapping.refused = True
        elif not isinstance(key, str):
            self.problem(event, _key_problem(event, key))
            mapping.refused = True
        else:
            if has_invisible(key):
                self.problem(event, f"key {_short(shown_key(key))!r} {INVISIBLE_KEY}")
            same = normalized(key)
            if same in mapping.seen:
                first, written = mapping.seen[same]
                self.problem(event, f"key {_short(shown_key(key))!r} is given twice (first at line "
                                    f"{first.start_mark.line + 1}" + (f" as {_short(shown_key(written))!r}"
                                                                      if written != key else "") + "); keep one")
                mapping.refused = True
            else:
                mapping.seen[same] = (event, key)


def _key_problem(event: yaml.Event, key: Any) -> str:
    """Why a key that is not text is refused: every key of these files is a name. Unquoted, `200:` is a
    number, which the program's models refuse in pydantic's words, while the Pulumi CLI would pass the
    stack's values on as JSON, whose keys are text."""
    if type(event) is not yaml.ScalarEvent:
        return "a key must be text, not a list or a mapping"
    if not event.value:
        return "a key is missing before the ':'"
    kind = "null" if key is None else "a boolean" if isinstance(key, bool) else "a number"
    return f"the key {_short(event.value)} is read as {kind}, not as text; quote it ({json.dumps(_short(event.value))})"


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
                                          "give the file itself, or a link to one")])
    try:
        with open(path, "rb") as f:
            # The size stat saw and one byte more (a read of max_bytes + 1 allocates that much, for
            # every small file); only a file that grew since is read on, still within the bound.
            asked = min(info.st_size, max_bytes) + 1
            data = f.read(asked)
            if len(data) == asked <= max_bytes:
                data += f.read(max_bytes + 1 - asked)
    except OSError as e:
        raise ConfigError(shown_as, [("", f"cannot read it ({e.strerror})")]) from None
    if len(data) > max_bytes:
        raise ConfigError(shown_as, [("", f"larger than {max_bytes // 1024} KiB; this is not a file a person edits")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(shown_as, [(f"byte {e.start}", "not UTF-8 text; save the file as UTF-8")]) from None


def _yaml_problem(e: yaml.YAMLError) -> tuple[str, str]:
    # Only the parser's reason and position: its snippet of the line could hold a secret.
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return where, f"not valid YAML: {_short(str(getattr(e, 'problem', None) or 'unreadable'), 120)}"


def load_yaml(text: str, shown_as: str) -> Any:
    """The data in YAML `text`, under every rule above; ConfigError naming `shown_as` otherwise."""
    return _Builder(shown_as).build(text)


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
    return load_json(read_text(path, shown_as, MAX_JSON_BYTES), shown_as)


def strict_json(text: str) -> Any:
    """json.loads refusing what JSON readers let one value hide or replace: a key given twice in an
    object, NaN or infinity, a number Python will not read. json.JSONDecodeError for text that is no
    JSON, ValueError with its reason for those; RecursionError past the decoder's depth."""
    try:
        data = json.loads(text, parse_constant=_no_constant, object_pairs_hook=unique_keys)
    except json.JSONDecodeError:
        raise
    except ValueError as e:
        if "integer string conversion" in str(e):
            raise ValueError(f"not valid JSON here: a number of more than {MAX_DIGITS} digits") from None
        raise
    if (at := not_unicode_at(data, text)) is not None:
        raise ValueError(not_unicode(at))
    return data


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # how JSON writes one: \ud800


def not_unicode_at(data: Any, text: str | None = None) -> tuple | None:
    """The path to a text (a key or a value, at any depth) that is no Unicode: a lone
    surrogate (`\\ud800` in JSON, or an environment variable's byte that is no UTF-8), which no UTF-8
    encoder takes. Pulumi's would raise mid-registration, with thousands of lines of traceback. None
    when there is none; `text`, the JSON the data was read from, lets most data go unwalked."""
    if text is not None and _encodes(text) and not _SURROGATE_ESCAPE.search(text):
        return None
    todo = [((), data)]
    while todo:
        at, node = todo.pop()
        if isinstance(node, str) and not _encodes(node):
            return at
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and not _encodes(key):
                    return (*at, key)
                todo.append(((*at, key), value))
        elif isinstance(node, list):
            todo += [((*at, i), v) for i, v in enumerate(node)]
    return None


def not_unicode(at: tuple) -> str:
    """What not_unicode_at found, as a message says it: the path, none of the text."""
    return (f"{'the text at ' + unicode_path(at) if at else 'the text'} holds a lone surrogate (a \\ud800-\\udfff "
            "escape, or a byte that is no UTF-8), which is no Unicode character and cannot be sent on")


def unicode_path(at: tuple) -> str:
    """A path a message may show, with the lone surrogates of its keys escaped (`\\ud800`)."""
    return ".".join(shown_key(p).encode("utf-8", "backslashreplace").decode() for p in map(str, at))


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def load_json(text: str, shown_as: str) -> Any:
    """The data in JSON `text` (a file's, or an HTTP answer's), at most MAX_JSON_DEPTH deep: no key
    given twice in an object, no NaN or infinity; ConfigError naming `shown_as` otherwise."""
    try:
        data = strict_json(text)
    except json.JSONDecodeError as e:
        raise ConfigError(shown_as, [("", f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}")]) from None
    except RecursionError:
        raise ConfigError(shown_as, [("", f"nested more than {MAX_JSON_DEPTH} levels deep")]) from None
    except ValueError as e:  # NaN / Infinity, which JSON does not have, a key twice, or a number Python will not read
        raise ConfigError(shown_as, [("", str(e))]) from None
    if depth(data) > MAX_JSON_DEPTH:
        raise ConfigError(shown_as, [("", f"nested more than {MAX_JSON_DEPTH} levels deep")])
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"not valid JSON: {name} is not a JSON number")


class KeyGivenTwice(ValueError):
    pass


def unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object (json.loads' object_pairs_hook), refused when it gives a key twice: JSON readers
    keep the last one (Grafana's too), so the first would vanish without a word."""
    data = dict(pairs)
    if len(data) < len(pairs):
        twice = next(k for i, (k, _) in enumerate(pairs) if any(k == other for other, _ in pairs[:i]))
        raise KeyGivenTwice(f"not valid JSON here: the key {_short(twice)!r} is given twice in one object; keep one")
    return data


def unique_names(pairs: list[tuple[str, Any]]) -> dict:
    """unique_keys for objects whose keys are names, as a stack file's are: also refused when two keys
    are one name in two spellings (`nights` and `Nights`, NFKC and case folded: `normalized`), which
    the stack file's reader refuses too; which of them a reader kept would be its own choice."""
    data = unique_keys(pairs)
    seen: dict[Any, str] = {}
    for key, _ in pairs:
        if (same := normalized(key)) in seen:
            raise KeyGivenTwice(f"not valid JSON here: the key {_short(key)!r} is given twice in one object (also as "
                                f"{_short(seen[same])!r}); keep one")
        seen[same] = key
    return data


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
