"""Turn a dashboard (built or imported) into the exact JSON one stack sends to Grafana."""
from __future__ import annotations

import itertools
import json
import re
import string
from typing import Any, Iterator, Mapping

from syntax import template
from syntax.promql_rewrite import VARIABLE

DATASOURCE_VARIABLE = "datasource"  # the dashboard variable every panel's datasource refers to
PANEL_DATASOURCE = {"type": "prometheus", "uid": "${%s}" % DATASOURCE_VARIABLE}


_END = object()


def panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, in order, with those nested in rows: a collapsed row's, and any nested deeper (an
    export may hold a row in a row: its queries are scoped and checked as every other). A `panels`
    that is no list is passed over (the importer refuses it first: importer.from_export)."""
    todo = [iter(dashboard.get("panels") if isinstance(dashboard.get("panels"), list) else ())]
    while todo:  # no recursion: the depth is the file's, bounded by its reader
        panel = next(todo[-1], _END)
        if panel is _END:  # not None: a `null` among the panels is the importer's to refuse, not an end
            todo.pop()
            continue
        yield panel
        if isinstance(panel, dict) and isinstance(panel.get("panels"), list):
            todo.append(iter(panel["panels"]))


def annotation_queries(annotation: dict) -> list[tuple[dict, str]]:
    """Where an annotation's PromQL is: `expr` (before Grafana 10) and `target.expr` (since), each
    (the mapping holding it, its path). Grafana runs `target.expr` when there is one, else `expr`
    (public/app/plugins/datasource/prometheus annotations, prepareAnnotation): both are scoped and checked."""
    holders = [(annotation, "expr"), (annotation.get("target"), "target.expr")]
    return [(h, at) for h, at in holders if isinstance(h, dict) and isinstance(h.get("expr"), str) and h["expr"].strip()]


def annotations(dashboard: dict) -> list[dict]:
    """The dashboard's annotation queries (Grafana's built-in one too), as a list of mappings. An entry
    that is no mapping is passed over, as is an `annotations` or `list` of another shape (the importer
    refuses each)."""
    listed = dashboard["annotations"].get("list") if isinstance(dashboard.get("annotations"), dict) else None
    return [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []


def finalize(dashboard: dict, *, uid: str, team: str, datasource_uid: str, datasource_name: str,
             selector: str | None = None, selectors: Mapping[str, str] | None = None) -> dict:
    """Bind a dashboard to one stack: uid, team tag, datasource variable, panel ids, selectors.

    `selectors` fills %(selector)s and each source's %(selector:<source>)s; `selector` alone, the team's.
    """
    selectors = dict(selectors or {}, **({"selector": selector} if selector is not None else {}))
    board = {k: v for k, v in dashboard.items() if k not in ("id", "version", "__inputs", "__requires", "__elements")}
    board["uid"] = uid
    board["tags"] = sorted({*board.get("tags", []), team})
    board["templating"] = {"list": [_datasource_variable(datasource_uid, datasource_name)] + [
        v for v in (board.get("templating") or {}).get("list", [])
        if not (v.get("type") == "datasource" or v.get("name") == DATASOURCE_VARIABLE)
    ]}
    for panel_id, panel in enumerate(panels(board), start=1):
        panel["id"] = panel_id
        if panel.get("type") == "row":
            panel.pop("datasource", None)
            continue
        panel["datasource"] = dict(PANEL_DATASOURCE)
        targets = panel.get("targets") or []
        for ref_id, target in zip(ref_ids(targets), targets):
            target["datasource"] = dict(PANEL_DATASOURCE)
            target["refId"] = ref_id
            if "expr" in target:  # the team's %(selector)s and its sources', in this stack
                target["expr"] = template.fill(target["expr"], selectors, keep_unknown=True)
    return board


def ref_ids(targets: list) -> list[str]:
    """The refId each of a panel's targets has in Grafana: its own, else the first of A ... Z, AA, AB ...
    no other target of the panel has, as Grafana's query editor names a new query (grafana-data
    query/refId.ts, getNextRefId): a panel may hold more than 26 queries, and no two share a refId."""
    taken = {t.get("refId") for t in targets if isinstance(t, dict) and t.get("refId")}
    free = (name for number in itertools.count() if (name := _ref_id(number)) not in taken)
    return [t["refId"] if isinstance(t, dict) and t.get("refId") else next(free) for t in targets]


def _ref_id(number: int) -> str:
    letters = string.ascii_uppercase
    return (_ref_id(number // 26 - 1) if number >= 26 else "") + letters[number % 26]


def _datasource_variable(uid: str, name: str) -> dict:
    return {
        "current": {"selected": True, "text": name, "value": uid},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": DATASOURCE_VARIABLE,
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def canonical_json(dashboard: dict) -> str:
    """Sorted keys and fixed indentation: the same dashboard always gives the same bytes."""
    return sorted_json(dashboard) + "\n"


def sorted_json(data: Any, *, ensure_ascii: bool = False) -> str:
    """Exactly `json.dumps(data, sort_keys=True, indent=2, ensure_ascii=ensure_ascii)`, written without
    the standard encoder's generators (with `indent`, Python's json has no C encoder, and every piece
    passes up through one generator per level): several times faster. Data that is not plain JSON
    (a key that is not text, NaN, a tuple, a subclass) goes through json.dumps itself."""
    parts: list[str] = []
    try:
        _encode(data, parts, "\n", _ASCII if ensure_ascii else _TEXT)
    except _NotPlainJson:
        return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=ensure_ascii)
    return "".join(parts)


class _NotPlainJson(Exception):
    pass


_TEXT = json.encoder.encode_basestring  # what json.dumps writes text with (ensure_ascii=False)
_ASCII = json.encoder.encode_basestring_ascii  # and with ensure_ascii=True


def _encode(value: Any, parts: list[str], newline: str, string) -> None:
    """Append `value` as json.dumps(indent=2, sort_keys=True, ensure_ascii=False) writes it; `newline`
    is a line break and the current indentation, `string` the encoder of text."""
    kind = type(value)
    if kind is dict:
        if not value:
            parts.append("{}")
            return
        inner = newline + "  "
        opening = "{" + inner
        following = "," + inner
        try:
            keys = sorted(value)
        except TypeError:
            raise _NotPlainJson from None
        for key in keys:
            if type(key) is not str:
                raise _NotPlainJson
            item = value[key]
            scalar = _scalar(item, string)
            if scalar is None:
                parts.append(opening + string(key) + ": ")
                _encode(item, parts, inner, string)
            else:
                parts.append(opening + string(key) + ": " + scalar)
            opening = following
        parts.append(newline + "}")
    elif kind is list:
        if not value:
            parts.append("[]")
            return
        inner = newline + "  "
        opening = "[" + inner
        following = "," + inner
        for item in value:
            scalar = _scalar(item, string)
            if scalar is None:
                parts.append(opening)
                _encode(item, parts, inner, string)
            else:
                parts.append(opening + scalar)
            opening = following
        parts.append(newline + "]")
    else:
        scalar = _scalar(value, string)
        if scalar is None:
            raise _NotPlainJson
        parts.append(scalar)


def _scalar(value: Any, string) -> str | None:
    """A JSON scalar's text; None for a dict or list (and a ValueError-free refusal for anything else)."""
    kind = type(value)
    if kind is str:
        return string(value)
    if kind is dict or kind is list:
        return None
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and value == value and value not in (_INFINITY, -_INFINITY):
        return float.__repr__(value)
    raise _NotPlainJson  # NaN, infinities, tuples, subclasses, anything else: as json.dumps writes (or refuses) them


_INFINITY = float("inf")


# ---------------------------------------------------------------------------------------------
# Links: Grafana shows each as an anchor, so a `javascript:` URL would run in the browser of whoever
# clicks it (stored cross-site scripting), in an imported dashboard as in one team code builds.
# ---------------------------------------------------------------------------------------------

LINK_SCHEMES = ("http", "https")  # as the stack's own link fields (estate LinkUrl)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(?=:)")  # a URL's scheme, as the WHATWG URL parser reads it
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ALLOWED_LINKS = ("a link's URL may be an http(s) URL, a relative path (/d/uid, ?var-x=1) or a Grafana variable "
                 "($var, ${__url})")


def link_scheme(url: str, values: Mapping[str, list[str]] | None = None) -> str | None:
    """The scheme of a link's URL as a browser reads it once Grafana has filled its variables in, when
    it is not one a link may have (LINK_SCHEMES); None for an http(s) URL, a relative path or a variable.
    Browsers ignore tabs and line breaks anywhere and C0 controls and spaces at either end, and read the
    scheme in any case (`  JaVa\\tScript:`); here every control or invisible character is ignored
    (stricter than a browser: `java\u200bscript:` is refused too). Each variable may stand for nothing
    (`java${x}script:`) or, one at a time, for each value the dashboard gives it (`values`: a constant
    `javascript:alert(1)` behind `${u}`)."""
    text = _INVISIBLE.sub("", url)
    fillings = [{}] + [{name: value} for name in {_variable_name(m) for m in VARIABLE.finditer(text)}
                       for value in (values or {}).get(name, ())]
    for filling in fillings:
        filled = VARIABLE.sub(lambda m: _INVISIBLE.sub("", filling.get(_variable_name(m), "")), text).strip(" ")
        scheme = _SCHEME.match(filled)
        if scheme is not None and scheme.group().lower() not in LINK_SCHEMES:
            return scheme.group().lower()
    return None


def _variable_name(match: re.Match) -> str:
    return match.group(1) or match.group(2) or match.group(4)


def variable_values(board: dict) -> dict[str, list[str]]:
    """The values the dashboard itself gives each of its variables: a constant's, custom's or textbox's
    query (a custom one's each `text : value` item), and every variable's current and listed options."""
    values: dict[str, list[str]] = {}
    templating = _object(board.get("templating"))
    for _, variable in _objects(templating.get("list")):
        name = variable.get("name")
        if not isinstance(name, str):
            continue
        found = values.setdefault(name, [])
        query = variable.get("query")
        if isinstance(query, str) and variable.get("type") in ("constant", "custom", "textbox"):
            found += [part.strip() for item in query.split(",") for part in item.split(" : ")]
        for option in [_object(variable.get("current")), *(o for _, o in _objects(variable.get("options")))]:
            for key in ("value", "text"):
                given = option.get(key)
                found += [v for v in (given if isinstance(given, list) else [given]) if isinstance(v, str)]
    return values


def link_problems(board: dict) -> list[tuple[str, str]]:
    """(JSON path, why) for every link whose URL has another scheme than http(s) (link_scheme, with the
    values the dashboard gives its variables), wherever Grafana shows links: the dashboard's own, and
    each panel's (in rows, an export's legacy rows and library panels): its links, its data links (field
    defaults and overrides, and Grafana 6's `options.fieldOptions`, which Grafana moves there on load),
    the Grafana 6 graph's `options.dataLinks` and table-old's `styles[].linkUrl`. Values of other shapes
    are passed over. A data link's `${__data.fields.x}` comes from the series at the time: no check here
    can see it (Grafana sanitizes what it renders)."""
    urls: list[tuple[tuple, str]] = []

    def listed(path: tuple, links: Any) -> None:
        for index, link in enumerate(links if isinstance(links, list) else ()):
            if isinstance(link, dict) and isinstance(link.get("url"), str):
                urls.append(((*path, index, "url"), link["url"]))

    def field_links(path: tuple, field_config: dict) -> None:  # defaults.links and each override's links
        listed((*path, "defaults", "links"), _object(field_config.get("defaults")).get("links"))
        for i, override in _objects(field_config.get("overrides")):
            for j, prop in _objects(override.get("properties")):
                if prop.get("id") == "links":
                    listed((*path, "overrides", i, "properties", j, "value"), prop.get("value"))

    listed(("links",), board.get("links"))
    for path, panel in _panels_at(board):
        listed((*path, "links"), panel.get("links"))
        field_links((*path, "fieldConfig"), _object(panel.get("fieldConfig")))
        options = _object(panel.get("options"))
        field_links((*path, "options", "fieldOptions"), _object(options.get("fieldOptions")))
        listed((*path, "options", "dataLinks"), options.get("dataLinks"))
        for i, style in _objects(panel.get("styles")):
            if isinstance(style.get("linkUrl"), str):
                urls.append(((*path, "styles", i, "linkUrl"), style["linkUrl"]))
    values = variable_values(board) if urls else {}
    return [(json_path(path), f"a {scheme[:20]}: URL, which Grafana would show as a clickable link; "
                              f"{ALLOWED_LINKS}: change or remove it")
            for path, url in urls if (scheme := link_scheme(url, values))]


def _panels_at(board: dict) -> Iterator[tuple[tuple, dict]]:
    """(JSON path, panel) for every panel as `panels` walks them, then an export's legacy rows'
    panels and its library panels (`__elements`), each with what is nested in it."""
    todo: list[tuple[tuple, Any]] = [(("panels", i), p) for i, p in _objects(board.get("panels"))]
    todo += [(("rows", i, "panels", j), p) for i, row in _objects(board.get("rows"))
             for j, p in _objects(row.get("panels"))]
    todo += [(("__elements", key, "model"), element["model"])
             for key, element in _object(board.get("__elements")).items()
             if isinstance(element, dict) and isinstance(element.get("model"), dict)]
    todo.reverse()
    while todo:  # no recursion: the depth is the file's, bounded by its reader
        path, panel = todo.pop()
        yield path, panel
        todo += reversed([((*path, "panels", i), p) for i, p in _objects(panel.get("panels"))])


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[tuple[int, dict]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def json_path(at: tuple) -> str:
    """A path in a JSON document as JavaScript writes it: `panels[3].links[0].url`, `__elements["a-b"].model`."""
    text = ""
    for step in at:
        if isinstance(step, int):
            text += f"[{step}]"
        elif _IDENTIFIER.fullmatch(step):
            text += f".{step}" if text else step
        else:  # a key of any text: quoted, and shortened (a message line is bounded)
            text += f"[{json.dumps(step if len(step) <= 60 else step[:59] + '…', ensure_ascii=False)}]"
    return text
