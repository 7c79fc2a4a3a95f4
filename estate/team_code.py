"""The one runner for team code (teams/<slug>/dashboards.py): guarded, bounded, and secret-free.

Team code runs in another process (estate/team_worker.py), never in the program's: there it could
end the program with `sys.exit(0)` or `os._exit(0)` before any resource is registered (to Pulumi:
"delete everything"), hang it, or read the decrypted config the engine hands the program in
PULUMI_CONFIG. The worker starts once per program run from a fresh interpreter with an empty
environment (`python -s -P -B`, no PULUMI_* variable, no cloud token), imports the panel library, and
forks one child per team, so a team cannot affect another. Every failure — an exception,
SystemExit, KeyboardInterrupt, a time limit, a crash, output that is no list of dashboards — is one
ConfigError naming the team's file and line.

Cost, on the 2-core development machine: the worker is started first (`prepare`, ~0.07 s to its
first answer, while the program's modules load); each team's request is sent as soon as its rules are
resolved (`start_dashboards`), and the worker runs the children two at a time beside the program,
which finishes the teams before (the offline render even begins the load before it imports the
Pulumi SDK: estate.resolve.begin_load). Each child costs ~5.5 ms of CPU (fork, limits, compile, the
team's build, JSON), most of it the kernel copying the pages the child touches; with the program
busy beside them, the children are what the load waits for at 100 teams and more. A render is no
slower than with team code run in the program's own process (best of 3: 5 teams 0.66 -> 0.60 s,
100 teams 2.91 -> 2.71 s, 500 teams 14.4 -> 13.1 s). Chosen over the alternatives: in-process with
signal.alarm cannot stop C code or os._exit(0) (exit 0 with nothing registered reads to Pulumi as
"delete everything") and shares the program's memory and environment; sys.settrace costs on every
line and is as easy to escape.

The program process marks itself non-dumpable (prctl PR_SET_DUMPABLE 0) when it starts the worker,
so no process of the same user — team code included — can read its /proc/<pid>/environ or memory.
"""
from __future__ import annotations

import atexit
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

from .layout import PROJECT_ROOT
from .team_view import TeamView

# Nothing heavier at import: the program starts the worker (`prepare`) before it loads its own
# modules, so the two overlap; the reader and ConfigError are imported where they are used.

TIME_LIMIT = 10.0  # seconds a team's dashboards() may take (the five teams' code takes about 1 ms each)
_WORKER = Path(__file__).with_name("team_worker.py")
_ANSWER_GRACE = 10.0  # the worker kills a child 1.2 s past the limit; this bounds the worker itself
_ANSWER_LIMIT = 64 << 20


class _Worker:
    """The team-code process: started once, restarted if it ever ends.

    Requests are sent as soon as a team's view is known (`submit`); the worker runs them side by
    side and answers in the order asked (`answer`), so the program resolves the next team while
    the worker builds the dashboards of the ones before."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.sent = self.received = 0  # requests sent to this process, answers read from it
        self.buffer = bytearray()

    def start(self) -> None:
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                _not_dumpable()
                # -s -P, not -I: -I implies -E, which ignores PYTHONHASHSEED (every worker then hashed
                # text its own way, and a set of strings in team code came out in another order in each
                # render). The environment is this one and nothing else, so -E would ignore nothing more.
                self.process = subprocess.Popen(
                    [sys.executable, "-s", "-P", "-B", str(_WORKER), str(PROJECT_ROOT)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    env={"PATH": os.defpath, "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"},
                    cwd="/", close_fds=True, start_new_session=True)
                self.sent = self.received = 0
                self.buffer.clear()

    def submit(self, request: dict) -> "_Ticket":
        self.start()
        with self.lock:
            process = self.process
            try:
                process.stdin.write((json.dumps(request) + "\n").encode())
                process.stdin.flush()
            except OSError as e:
                self._stop()
                return _Ticket(None, 0, f"the team-code process failed ({e})")
            self.sent += 1
            return _Ticket(process, self.sent - 1)

    def answer(self, ticket: "_Ticket", limit: float) -> dict:
        with self.lock:
            if ticket.failure is None and ticket.process is not self.process:
                ticket.failure = "the team-code process failed (it ended before it answered)"
            if ticket.failure is None and ticket.index < self.received:
                ticket.failure = "the request was cancelled"
            if ticket.failure is not None:
                return _worker_error(ticket.failure)
            try:
                while self.received <= ticket.index:  # answers to abandoned requests are passed over
                    kind, body = self._read_frame(limit + _ANSWER_GRACE)
                    self.received += 1
            except (OSError, TimeoutError, ValueError) as e:
                self._stop()
                return _worker_error(f"the team-code process failed ({e})")
        from .files import _no_constant  # here: loaded by the time an answer comes (see the imports above)

        try:
            # NaN is no JSON: the child's to_json never writes it, but team code can write fd 3 itself
            answer = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the decoder goes
            answer = None
        if kind == b"R":  # the team's process's own bytes: whatever they are, they are its answer
            if isinstance(answer, dict):
                return answer
            return {"error": {"type": "Exit", "line": None, "message": "its process wrote an answer that is not "
                              "the JSON of its dashboards (not JSON, or nested too deep)"}}
        if isinstance(answer, dict):
            return answer
        with self.lock:
            self._stop()
        return _worker_error("the team-code process answered nonsense")

    def cancel(self) -> None:
        """End the requests still outstanding (the program stopped at an earlier team's problem)."""
        with self.lock:
            if self.process is None or self.received == self.sent:
                return
            try:
                self.process.stdin.write(b'{"cancel": true}\n')
                self.process.stdin.flush()
                while self.received < self.sent:
                    self._read_frame(_ANSWER_GRACE)
                    self.received += 1
            except (OSError, TimeoutError, ValueError):
                self._stop()

    def _read_frame(self, timeout: float) -> tuple[bytes, bytes]:
        """One answer: `R <n>` or `E <n>`, a newline, n bytes."""
        deadline = time.monotonic() + timeout
        header = self._read_until(lambda: self.buffer.find(b"\n") + 1, deadline)
        kind, _, size = bytes(self.buffer[:header - 1]).partition(b" ")
        if kind not in (b"R", b"E") or not size.isdigit() or int(size) > _ANSWER_LIMIT + 1024:
            raise ValueError("answer too large" if size.isdigit() else "it answered nonsense")
        end = header + int(size)
        self._read_until(lambda: end if len(self.buffer) >= end else 0, deadline)
        body = bytes(self.buffer[header:end])
        del self.buffer[:end]
        return kind, body

    def _read_until(self, complete, deadline: float) -> int:
        fd = self.process.stdout.fileno()
        while not (position := complete()):
            if len(self.buffer) > _ANSWER_LIMIT + 2048:
                raise ValueError("answer too large")
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError("no answer in time")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise OSError("it ended")
            self.buffer += chunk
        return position

    def _stop(self) -> None:
        """End the process and close its pipes (also when the program ends: atexit below)."""
        if self.process is not None:
            process, self.process = self.process, None
            process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                try:
                    pipe.close()
                except OSError:  # a request still buffered for a process that is gone
                    pass


class _Ticket:
    """A request sent to the worker: its place in that process's answers."""

    def __init__(self, process: subprocess.Popen | None, index: int, failure: str | None = None) -> None:
        self.process, self.index, self.failure = process, index, failure


def _worker_error(message: str) -> dict:
    return {"error": {"type": "Worker", "message": message, "line": None}}


def _not_dumpable() -> None:
    """Close /proc/<pid>/environ and /proc/<pid>/mem of this process to other processes of its user."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        except (OSError, AttributeError):
            pass


_worker = _Worker()
# When the program ends, the worker has answered everything asked (or was told to drop it): it is
# ended and reaped, its pipes closed, rather than left running for the interpreter to warn about.
atexit.register(_worker._stop)


def prepare() -> None:
    """Start the team-code process now, so its start overlaps the program's own loading (its imports,
    the files): `__main__.py` and `python -m tools.render` call this first thing."""
    _worker.start()


class PendingDashboards:
    """Team code sent to the worker; `result()` waits for its dashboards (or raises its ConfigError)."""

    def __init__(self, ticket: _Ticket, limit: float, shown_as: str) -> None:
        self.ticket, self.limit, self.shown_as = ticket, limit, shown_as

    def result(self) -> list[dict]:
        answer = _worker.answer(self.ticket, self.limit)
        if "ok" in answer and isinstance(answer["ok"], list) and all(isinstance(b, dict) for b in answer["ok"]):
            return answer["ok"]
        error: dict[str, Any] = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        kind, message, line = error.get("type", "Error"), error.get("message", "failed"), error.get("line")
        if kind == "TimeLimit":
            message = f"did not return within {self.limit:g} s (an endless loop?); it was stopped"
        elif kind not in ("Missing", "Result", "Exit", "Worker", "TooLarge"):
            message = f"{kind}: {message}" if message else kind
        return _fail(self.shown_as, line, message)


def start_dashboards(slug: str, path: Path, view: TeamView, shown_as: str) -> PendingDashboards:
    """Send `dashboards(view)` in `path` to the worker; the answer is read by `.result()`: the
    dashboards as JSON data, or one ConfigError naming `shown_as` and the line."""
    from .files import read_text

    source = read_text(path, shown_as)  # a regular file of at most 1 MiB of UTF-8 (a link to /dev/zero is refused)
    limit = TIME_LIMIT
    ticket = _worker.submit({
        "path": str(path.resolve()),
        "source": source,
        "module": f"teams_{slug.replace('-', '_')}_dashboards",
        "view": view.as_json(),
        "limit": limit,
    })
    return PendingDashboards(ticket, limit, shown_as)


class PendingRows:
    """Error-budget rows asked of the worker's own process; `result()` waits for their panels."""

    def __init__(self, ticket: _Ticket, rows: list[tuple[int, ...]], shown_as: str) -> None:
        self.ticket, self.rows, self.shown_as = ticket, rows, shown_as

    def result(self) -> dict[tuple[int, ...], list[dict]]:
        answer = _worker.answer(self.ticket, TIME_LIMIT)
        built = answer.get("ok")
        if isinstance(built, list) and len(built) == len(self.rows):
            return dict(zip(self.rows, built))
        error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        from .model import ConfigError

        raise ConfigError(self.shown_as, [("slos", f"the error-budget row could not be built: "
                                                   f"{error.get('message', 'the worker did not answer')}")])


def start_error_budget_rows(slos: list[dict], rows: list[tuple[int, ...]], shown_as: str) -> PendingRows:
    """Ask the worker's own process (no team's: no team code can change them) to build each of `rows`
    (indices into `slos`, each an ErrorBudget's fields) as an error-budget row's panels."""
    return PendingRows(_worker.submit({"error_budget": {"slos": slos, "rows": rows}}), rows, shown_as)


def run_dashboards(slug: str, path: Path, view: TeamView, shown_as: str) -> list[dict]:
    """The dashboards `dashboards(view)` in `path` returns, as JSON data; one ConfigError naming
    `shown_as` and the line otherwise."""
    return start_dashboards(slug, path, view, shown_as).result()


def cancel_outstanding() -> None:
    """Stop the team code sent and not waited for (the program stopped at an earlier problem)."""
    _worker.cancel()


def _fail(shown_as: str, line: int | None, message: str):
    from .model import ConfigError

    where = f"line {line}, dashboards()" if line else "dashboards()"
    raise ConfigError(shown_as, [(where, message)])
