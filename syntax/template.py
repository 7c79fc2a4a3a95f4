"""The one placeholder syntax of the project: `%(name)s`, filled by `fill`.

Team queries, alert quantities and annotations (`%(selector)s`, `%(threshold)s`, a variable such as
`%(groq_usd_per_token)s`, a named expression such as `%(error_ratio)s`) and the promtool test files
(`%(threshold:HighErrorRate)s`, `%(for:APIInstanceDown+2m)s`) all use it; each caller says what its
names stand for. Any other `%` (`printf "%.2f"` in an annotation) is left as it is.
"""
from __future__ import annotations

import re
from typing import Callable, Mapping

PLACEHOLDER = re.compile(r"%\(([^()]+)\)s")


def placeholder(name: str) -> str:
    return f"%({name})s"


SELECTOR = placeholder("selector")  # where a team query's metrics take the team's selector
SOURCE_SELECTOR = "selector:{}"  # %(selector:kafka)s: the selector of the team's source `kafka`


def source_selector(source: str) -> str:
    return placeholder(SOURCE_SELECTOR.format(source))


def names(text: str) -> list[str]:
    """The placeholder names in `text`, in order, each once."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


class UnknownPlaceholder(KeyError):
    """A placeholder `fill` has no value for; `name` is the placeholder's name."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def fill(text: str, values: Mapping[str, str] | Callable[[str], str | None], *, keep_unknown: bool = False) -> str:
    """`text` with each `%(name)s` replaced by its value in `values` (a mapping, or a function of the name).

    A name without a value (missing from the mapping, or the function returns None) raises
    UnknownPlaceholder, or stays as written with `keep_unknown`. Values are not scanned again.
    """
    lookup = values.get if isinstance(values, Mapping) else values

    def one(match: re.Match) -> str:
        value = lookup(match.group(1))
        if value is None:
            if keep_unknown:
                return match.group(0)
            raise UnknownPlaceholder(match.group(1))
        return value

    return PLACEHOLDER.sub(one, text)
