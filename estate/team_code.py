"""The one runner for team code (teams/<slug>/dashboards.py): guarded, bounded, and secret-free.

Team code runs in another process (estate/team_worker.py), never in the program's: there it could
end the program with `sys.exit(0)` or `os._exit(0)` before any resource is registered (to Pulumi:
"delete everything"), hang it, or read the decrypted config the engine hands the program in
PULUMI_CONFIG. The worker starts once per program run from a fresh interpreter with an empty
environment (`python -I -B`, no PULUMI_* variable, no cloud token), imports the panel library, and
forks one child per team, so a team cannot affect another. Every failure — an exception,
SystemExit, KeyboardInterrupt, a time limit, a crash, output that is no list of dashboards — is one
ConfigError naming the team's file and line.

Cost, measured with tools.benchmark on the 2-core development machine: the worker's start (~0.45 s,
begun before the files are read) adds ~0.2 s to a run, and each team ~9 ms on top of its own code
(the fork, and its dashboards' JSON sent back): 5 teams 0.52 -> 0.74 s, 100 teams 2.55 -> 3.42 s.
Chosen over the alternatives: in-process with signal.alarm cannot stop C code or os._exit(0) (exit
0 with nothing registered reads to Pulumi as "delete everything") and shares the program's memory
and environment; sys.settrace costs on every line and is as easy to escape.

The program process marks itself non-dumpable (prctl PR_SET_DUMPABLE 0) when it starts the worker,
so no process of the same user — team code included — can read its /proc/<pid>/environ or memory.
"""
from __future__ import annotations

import ctypes
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .files import read_text
from .layout import PROJECT_ROOT
from .model import ConfigError
from .team_view import TeamView

TIME_LIMIT = 10.0  # seconds a team's dashboards() may take (the five teams take ~50 ms each)
_WORKER = Path(__file__).with_name("team_worker.py")
_ANSWER_GRACE = 10.0  # the worker kills a child 2 s past the limit; this bounds the worker itself
_ANSWER_LIMIT = 64 << 20


class _Worker:
    """The team-code process: started once, restarted if it ever ends."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                _not_dumpable()
                self.process = subprocess.Popen(
                    [sys.executable, "-I", "-B", str(_WORKER), str(PROJECT_ROOT)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    env={"PATH": os.defpath, "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"},
                    cwd="/", close_fds=True, start_new_session=True)

    def ask(self, request: dict, limit: float) -> dict:
        self.start()
        with self.lock:
            process = self.process
            try:
                process.stdin.write((json.dumps(request) + "\n").encode())
                process.stdin.flush()
                line = _read_line(process.stdout, limit + _ANSWER_GRACE)
            except (OSError, TimeoutError, ValueError) as e:
                self._stop()
                return {"error": {"type": "Worker", "message": f"the team-code process failed ({e})", "line": None}}
        try:
            return json.loads(line)
        except ValueError:
            self._stop()
            return {"error": {"type": "Worker", "message": "the team-code process answered nonsense", "line": None}}

    def _stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _read_line(stream, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    data = bytearray()
    fd = stream.fileno()
    while not data.endswith(b"\n"):
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise TimeoutError("no answer in time")
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise OSError("it ended")
        data += chunk
        if len(data) > _ANSWER_LIMIT + 1024:
            raise ValueError("answer too large")
    return bytes(data)


def _not_dumpable() -> None:
    """Close /proc/<pid>/environ and /proc/<pid>/mem of this process to other processes of its user."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        except (OSError, AttributeError):
            pass


_worker = _Worker()


def prepare() -> None:
    """Start the team-code process now, so its start overlaps the program's own loading."""
    _worker.start()


def run_dashboards(slug: str, path: Path, view: TeamView, shown_as: str) -> list[dict]:
    """The dashboards `dashboards(view)` in `path` returns, as JSON data; one ConfigError naming
    `shown_as` and the line otherwise."""
    source = read_text(path, shown_as)  # a regular file of at most 1 MiB of UTF-8 (a link to /dev/zero is refused)
    answer = _worker.ask({
        "path": str(path.resolve()),
        "source": source,
        "module": f"teams_{slug.replace('-', '_')}_dashboards",
        "view": view.as_json(),
        "limit": TIME_LIMIT,
    }, TIME_LIMIT)
    if "ok" in answer and isinstance(answer["ok"], list) and all(isinstance(b, dict) for b in answer["ok"]):
        return answer["ok"]
    error: dict[str, Any] = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    kind, message, line = error.get("type", "Error"), error.get("message", "failed"), error.get("line")
    if kind == "TimeLimit":
        message = f"did not return within {TIME_LIMIT:g} s (an endless loop?); it was stopped"
    elif kind not in ("Missing", "Result", "Exit", "Worker", "TooLarge"):
        message = f"{kind}: {message}" if message else kind
    return _fail(shown_as, line, message)


def _fail(shown_as: str, line: int | None, message: str):
    where = f"line {line}, dashboards()" if line else "dashboards()"
    raise ConfigError(shown_as, [(where, message)])
