"""The end-to-end test's synthetic series (scenario.yaml), pushed to Prometheus by remote write.

    series = scenario_series("local")               # every team's series, with the stack's selectors
    pusher = Pusher("http://127.0.0.1:9090", series)
    pusher.backfill(minutes=15)                     # history, so that rates and windows have data now
    pusher.push_now()                               # then one sample per series every STEP seconds

Remote write 1.0 (https://prometheus.io/docs/specs/remote_write_spec/): a snappy-compressed protobuf
`prometheus.WriteRequest` POSTed to /api/v1/write, which Prometheus accepts when started with
`--web.enable-remote-write-receiver`. Both encodings are written out here (a few lines each) so
that the test needs no protobuf or snappy package: the protobuf wire format for the four messages
of prompb/types.proto and remote.proto, and a snappy block made of literals only (valid snappy,
merely not compressed; github.com/google/snappy format_description.txt).
"""
from __future__ import annotations

import struct
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import promql_parser

from tools.promtool import context
from tests.conftest import load_yaml

SCENARIO = Path(__file__).with_name("scenario.yaml")
STEP = 15  # seconds between samples, Prometheus' usual scrape interval


@dataclass(frozen=True)
class Series:
    team: str
    labels: tuple[tuple[str, str], ...]  # sorted by name, __name__ included, as remote write wants them
    value: float | None = None           # a gauge
    rate: float | None = None            # a counter: this much more per second, from 0 at the start

    def at(self, seconds_since_start: float) -> float:
        return self.value if self.rate is None else self.rate * seconds_since_start

    @property
    def name(self) -> str:
        return dict(self.labels)["__name__"]


def parse_series(team: str, text: str, selector: tuple[tuple[str, str], ...], value=None, rate=None) -> Series:
    """`metric{a="b"}` plus the team's selector labels as a Series; only equality matchers mean labels."""
    node = promql_parser.parse(text)
    labels = {"__name__": node.name}
    for m in node.matchers.matchers:
        if m.op != promql_parser.MatchOp.Equal:
            raise ValueError(f"{SCENARIO.name}: {team}: `{text}`: series take label values (=), not {m.op}")
        labels[m.name] = m.value
    labels.update(selector)
    if (value is None) == (rate is None):
        raise ValueError(f"{SCENARIO.name}: {team}: `{text}`: give exactly one of value (a gauge) or rate (a counter)")
    return Series(team, tuple(sorted(labels.items())), value, rate)


def scenario_series(stack: str, path: Path = SCENARIO) -> list[Series]:
    """Every series of scenario.yaml, each carrying its team's selector labels in `stack`."""
    doc = load_yaml(path.read_text())
    series = []
    for team, entries in sorted(doc.items()):
        ctx = context(stack, team)
        for e in entries:  # the team's selector labels (job, env...), or those of the entry's `source` (an exporter)
            selector = ctx.labels(f"selector:{e['source']}" if e.get("source") else "selector")
            series.append(parse_series(team, e["series"], selector, e.get("value"), e.get("rate")))
    return series


# ---------------------------------------------------------------------------------------------
# Wire formats
# ---------------------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 as protobuf writes it: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): strings and embedded messages."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_write_request(samples: list[tuple[Series, list[tuple[int, float]]]]) -> bytes:
    """prometheus.WriteRequest{timeseries: [TimeSeries{labels: [Label{name, value}], samples: [Sample{value, timestamp}]}]}.

    Timestamps are milliseconds since the epoch, ascending within each series.
    """
    out = bytearray()
    for series, points in samples:
        ts = bytearray()
        for name, value in series.labels:
            ts += _field(1, _field(1, name.encode()) + _field(2, value.encode()))
        for millis, value in points:
            # Sample: 1 = double value (wire type 1, little-endian), 2 = int64 timestamp (varint)
            ts += _field(2, _varint(1 << 3 | 1) + struct.pack("<d", float(value)) + _varint(2 << 3) + _varint(millis))
        out += _field(1, bytes(ts))
    return bytes(out)


def snappy_block(data: bytes) -> bytes:
    """`data` as a snappy block of literal elements: the uncompressed length, then literals of up to 64 KiB."""
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + n.to_bytes(2, "little")
        out += chunk
    return bytes(out)


def remote_write(url: str, samples: list[tuple[Series, list[tuple[int, float]]]], timeout: float = 30) -> None:
    """POST one WriteRequest to <url>/api/v1/write; urllib's HTTPError (with Prometheus' reason) when refused."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}/api/v1/write", data=snappy_block(encode_write_request(samples)), method="POST",
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                 "X-Prometheus-Remote-Write-Version": "0.1.0", "User-Agent": "grafana-platform-e2e"})
    with urllib.request.urlopen(request, timeout=timeout):
        pass


class Pusher:
    """Pushes the series as a scrape would: one sample per series every STEP seconds, never twice."""

    def __init__(self, url: str, series: list[Series], start: float | None = None):
        self.url = url
        self.series = series
        self.start = time.time() if start is None else start  # counters are 0 here
        self.last = None  # the last timestamp pushed, in seconds

    def _push(self, times: list[float]) -> None:
        if not times:
            return
        remote_write(self.url, [(s, [(int(t * 1000), s.at(t - self.start)) for t in times]) for s in self.series])
        self.last = times[-1]

    def backfill(self, minutes: int = 15) -> None:
        """History from `minutes` ago to now: start moves back, so that counters still start at 0."""
        now = time.time()
        self.start = now - minutes * 60
        self._push([self.start + i * STEP for i in range(int((now - self.start) // STEP) + 1)])

    def push_now(self) -> None:
        """Every step since the last push up to now (none when a step has not passed yet)."""
        now = time.time()
        first = self.start if self.last is None else self.last + STEP
        self._push([first + i * STEP for i in range(int((now - first) // STEP) + 1)] if now >= first else [])
