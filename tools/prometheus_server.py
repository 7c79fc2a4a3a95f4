"""A real Prometheus server on loopback, for tests: free port, its own storage, stopped by its PID.

    server = PrometheusServer.start(data_dir)       # data_dir may hold backfilled blocks
    server.query('sum(rate(http_requests_total[5m]))', at=end)
    server.stop()

The configuration has no scrape targets: the server only serves what is in its storage.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SETUP_HINT = "run `bash scripts/setup` (it installs Debian's `prometheus` package: prometheus and promtool)"
CONFIG = """\
# No scrape_configs: this server only serves the synthetic history backfilled into its storage.
global:
  scrape_interval: 15s
  evaluation_interval: 15s
"""


# The tests start promtool and amtool by the hundred, several at a time, on two cores. There the Go
# runtime's parallel collector and its threads cost CPU and save no time: one OS thread running Go
# code and a collection each time the heap has grown fourfold (GOGC=400; Go's default is 100) made
# `promtool test rules` on every stack's tests take 8.4 s of CPU instead of 11.5, with the same results.
GO_ENV = {"GOMAXPROCS": "1", "GOGC": "400"}


def go_env() -> dict[str, str]:
    """The environment for a run of promtool or amtool: this process's, with GO_ENV where it sets neither,
    and TMPDIR the folder Python found writable: Go takes $TMPDIR as it is, and `promtool test rules`
    keeps its test storage there (with TMPDIR=/nonexistent it crashed, a nil pointer, 40 lines of Go stack)."""
    return {**GO_ENV, **os.environ, "TMPDIR": tempfile.gettempdir()}


class PrometheusMissing(RuntimeError):
    pass


def binary(name: str) -> str:
    """The path of `prometheus` or `promtool` on PATH, where scripts/setup looks for them.

    PrometheusMissing, saying how to install it, when there is none.
    """
    path = shutil.which(name)
    if not path:
        raise PrometheusMissing(f"{name} is not installed (not found on PATH): {SETUP_HINT}")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QueryError(RuntimeError):
    pass


@dataclass
class PrometheusServer:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, data_dir: Path, timeout: float = 30.0, attempts: int = 3, config: str = CONFIG,
              flags: tuple[str, ...] = ()) -> "PrometheusServer":
        """Start on 127.0.0.1 with a port the OS says is free, and wait for /-/ready.

        `config` replaces the configuration (e.g. with rule_files); `flags` are added to the command line.
        """
        prometheus = binary("prometheus")
        data_dir.mkdir(parents=True, exist_ok=True)
        config_file = data_dir.parent / f"{data_dir.name}-prometheus.yml"
        config_file.write_text(config, encoding="utf-8")
        last = ""
        for _ in range(attempts):  # another process may take the port between bind and listen
            port = free_port()
            log_path = data_dir.parent / f"{data_dir.name}-prometheus.log"
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    [prometheus, f"--config.file={config_file}", f"--storage.tsdb.path={data_dir}",
                     f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d",
                     "--log.level=warn", *flags],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            server = cls(process, port, log_path)
            try:
                server._wait_ready(timeout)
                return server
            except RuntimeError as e:
                server.stop()
                last = str(e)
                if "address already in use" not in last:
                    break
            except BaseException:  # e.g. Ctrl-C while waiting: never leave the server running
                server.stop()
                raise
        raise RuntimeError(last)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"prometheus not ready on {self.url} after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop this server's process, by its PID: SIGTERM, then SIGKILL if it does not exit."""
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    # ----------------------------------------------------------------------------------------
    # HTTP API
    # ----------------------------------------------------------------------------------------

    def api(self, path: str, params: dict) -> dict:
        """POST to /api/v1/<path>; the `data` of a success, QueryError with Prometheus' error else."""
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/{path}", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                reply = json.load(r)
        except urllib.error.HTTPError as e:  # 400/422/503 carry Prometheus' own error message
            try:
                reply = json.load(e)
            except ValueError:
                raise QueryError(f"HTTP {e.code} from {path}") from None
        if reply.get("status") != "success":
            raise QueryError(f"{reply.get('errorType')}: {reply.get('error')}")
        return reply["data"]

    def query(self, expr: str, at: float) -> dict:
        return self.api("query", {"query": expr, "time": at})

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict:
        return self.api("query_range", {"query": expr, "start": start, "end": end, "step": step})


def result_size(data: dict) -> int:
    """How many series (or 1 for a scalar/string) a query returned."""
    if data.get("resultType") in ("scalar", "string"):
        return 1
    return len(data.get("result") or [])


if __name__ == "__main__":  # a library: run as a command, it must not end at exit 0 having done nothing
    raise SystemExit("python -m tools.prometheus_server: not a command; "
                     "the tests and tools.synthetic start Prometheus with it")
