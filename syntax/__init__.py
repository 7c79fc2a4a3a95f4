"""The two text languages the estate is written in, with no dependency on the rest of the project:
PromQL (parsing, matchers, number literals, rewriting imported queries) and the `%(name)s`
placeholders that team files and promtool tests use. `estate` and `dashboards` both build on it."""
