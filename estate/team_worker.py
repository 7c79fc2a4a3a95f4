"""The process team code runs in: `python -I -B estate/team_worker.py <project root>`.

Started by estate/team_code.py with an empty environment, it imports the panel library once, then
for each request (one JSON line on stdin: the team file, its view, the time limit) forks a child
that runs the team's `dashboards(team)` and answers one JSON line on stdout. The child:
- holds no secret: this process was started without the program's environment (PULUMI_CONFIG,
  PULUMI_CONFIG_SECRET_KEYS, cloud tokens) and never saw the stack config;
- has no capability (also when started as root), so the program's /proc/<pid>/environ, closed by
  PR_SET_DUMPABLE, stays closed to it;
- may not write files (an audit hook refuses opening one for writing; RLIMIT_FSIZE 0), start processes or send signals (an audit hook refuses
  them), use more than MEMORY_LIMIT, or run longer than the time limit: a SIGALRM interrupts it
  where it is (its line is reported); code that swallows that is dumped by faulthandler and ended.
- reports every exception, SystemExit and KeyboardInterrupt included, with the team file's line.
The panel library imports the estate's models (never its config): this process holds no stack
config, no secret and no engine connection, so there is nothing for team code to find.
"""
from __future__ import annotations

import faulthandler
import importlib.util
import json
import os
import resource
import select
import signal
import sys
import time
import traceback
import types

MEMORY_LIMIT = 2 << 30
OUTPUT_LIMIT = 64 << 20
KILL_GRACE = 2.0  # seconds past the limit before the child is killed outright
_REAL_EXIT = os._exit  # team code gets a stand-in that raises; the child ends with this one
_TEAM_FILE: str | None = None  # the file of the request being served: its lines are the ones reported
_REFUSED_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill",
                   "os.killpg", "subprocess.Popen", "pty.spawn", "os.putenv", "os.unsetenv")


class TimeLimit(BaseException):
    """Raised inside team code when its time is up (a BaseException, like KeyboardInterrupt)."""


def main(root: str) -> None:
    sys.path.insert(0, root)
    view_spec = importlib.util.spec_from_file_location("team_view", os.path.join(root, "estate", "team_view.py"))
    view_module = importlib.util.module_from_spec(view_spec)
    sys.modules["team_view"] = view_module
    view_spec.loader.exec_module(view_module)
    import dashboards  # noqa: F401  the panel library, imported once for every child
    from dashboards.finalize import to_dict

    answers = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    for line in sys.stdin:
        request = json.loads(line)
        answers.write(json.dumps(_serve(request, view_module.TeamView, to_dict)) + "\n")
        answers.flush()


def _serve(request: dict, view_class: type, to_dict) -> dict:
    global _TEAM_FILE
    _TEAM_FILE = request["path"]
    result_read, result_write = os.pipe()
    output_read, output_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run the team's code, write the answer, and end
        try:
            os.close(result_read)
            os.close(output_read)
            os.dup2(output_write, 1)
            os.dup2(output_write, 2)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(result_write, 3)  # and nothing else: not the requests, not this process's answers
            os.closerange(4, 1 << 16)
            result_write = 3
            answer = _run(request, view_class, to_dict)
            data = json.dumps(answer, allow_nan=False).encode()
        except BaseException as e:  # noqa: BLE001  (an answer that cannot be encoded, or worse)
            data = json.dumps({"error": {"type": type(e).__name__, "message": _short(str(e)), "line": None}}).encode()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(result_write, view[: 1 << 16]):]
        finally:
            _REAL_EXIT(0)
    os.close(result_write)
    os.close(output_write)
    result, output = _collect(pid, result_read, output_read, request["limit"] + KILL_GRACE)
    if result is None:
        return {"error": output}
    try:
        return json.loads(result)
    except ValueError:
        return {"error": {"type": "Exit", "message": "the team code's process ended before it answered", "line": None}}


def _collect(pid: int, result_fd: int, output_fd: int, limit: float) -> tuple[bytes | None, dict | str]:
    """Read the child's answer and output until it ends or its time is up (then kill it)."""
    deadline = time.monotonic() + limit
    result, output = bytearray(), bytearray()
    open_fds = {result_fd, output_fd}
    killed = None
    while open_fds:
        wait = deadline - time.monotonic()
        if wait <= 0:
            killed = "time"
            break
        ready, _, _ = select.select(list(open_fds), [], [], wait)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
                os.close(fd)
            elif fd == result_fd:
                result += chunk
                if len(result) > OUTPUT_LIMIT:
                    killed = "size"
            else:
                output = (output + chunk)[-(1 << 16):]  # the last 64 KiB: a fatal dump names the line
        if killed:
            break
    if killed:
        os.kill(pid, signal.SIGKILL)
        for fd in open_fds:
            os.close(fd)
    _, status = os.waitpid(pid, 0)
    line = _last_line(output.decode(errors="replace"))
    if killed == "time":
        return None, {"type": "TimeLimit", "message": "did not return in time (it was stopped)", "line": line}
    if killed == "size":
        return None, {"type": "TooLarge", "message": f"returned more than {OUTPUT_LIMIT >> 20} MiB of dashboards",
                      "line": None}
    if not result:
        how = (f"was ended by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exited with status {os.WEXITSTATUS(status)}")
        if "Timeout (" in output.decode(errors="replace"):
            return None, {"type": "TimeLimit", "message": "did not return in time and ignored the interruption "
                                                          "(it was stopped)", "line": line}
        return None, {"type": "Exit", "message": f"its process {how} before dashboards() returned "
                                                 "(os._exit, a crash, or memory exhausted)", "line": line}
    return bytes(result), ""


def _last_line(dump: str) -> int | None:
    """The team file's innermost line in a faulthandler dump (`File "…/dashboards.py", line 7 in f`)."""
    lines = [int(part.split(", line ")[1].split()[0]) for part in dump.splitlines()
             if _TEAM_FILE and f'"{_TEAM_FILE}", line ' in part]
    return lines[0] if lines else None  # faulthandler lists the innermost frame first


def _run(request: dict, view_class: type, to_dict) -> dict:
    path = request["path"]
    limit = float(request["limit"])
    source = request["source"]  # read and bounded by the program (estate.files.read_text), never here
    os.chdir(os.path.dirname(path))
    _confine()
    faulthandler.enable(file=sys.stderr)
    faulthandler.dump_traceback_later(limit + KILL_GRACE / 2, exit=True, file=sys.stderr)
    signal.signal(signal.SIGALRM, _time_up)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        module = types.ModuleType(request["module"])
        module.__file__ = path
        sys.modules[request["module"]] = module
        exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102  (the team's own code, confined)
        build = getattr(module, "dashboards", None)
        if not callable(build):
            return {"error": {"type": "Missing", "message": "defines no function dashboards(team)", "line": None}}
        view = view_class.from_json(request["view"])
        boards = build(view)
        if not isinstance(boards, (list, tuple)):
            return {"error": {"type": "Result", "message": f"dashboards() returned {type(boards).__name__}, "
                                                           "not a list of dashboards", "line": None}}
        built = []
        for index, board in enumerate(boards):
            if not hasattr(board, "build"):
                return {"error": {"type": "Result", "message": f"dashboards()[{index}] is a {type(board).__name__}, "
                                                               "not a dashboard (dashboards.board(...))", "line": None}}
            built.append(to_dict(board))
        return {"ok": built}
    except BaseException as e:  # noqa: BLE001  SystemExit, KeyboardInterrupt and TimeLimit included
        return {"error": {"type": type(e).__name__, "message": _short(_message(e)), "line": _line(e, path)}}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()


def _time_up(signum, frame) -> None:
    raise TimeLimit("did not return in time (interrupted)")


def _message(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        if isinstance(e.code, str) and e.code.startswith("os._exit("):
            return f"called {e.code}"
        return f"called sys.exit({e.code!r})"
    if isinstance(e, KeyboardInterrupt):
        return "raised KeyboardInterrupt"
    if isinstance(e, SyntaxError):
        return f"{e.msg}"
    return str(e)


def _line(e: BaseException, path: str) -> int | None:
    if isinstance(e, SyntaxError) and e.filename == path:
        return e.lineno
    lines = [frame.lineno for frame in traceback.extract_tb(e.__traceback__) if frame.filename == path]
    return lines[-1] if lines else None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _drop_capabilities() -> None:
    """Keep the user (so the interpreter can still import from a root-only install) but drop every
    capability: as root without CAP_SYS_PTRACE it cannot read the non-dumpable program's
    /proc/<pid>/environ or memory, and PR_SET_NO_NEW_PRIVS keeps it from getting them back."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)())  # _LINUX_CAPABILITY_VERSION_3: none
    except (OSError, AttributeError):
        pass


def _confine() -> None:
    """No file writes, no processes, no signals, bounded memory, no capability."""
    for limit, value in ((resource.RLIMIT_AS, MEMORY_LIMIT), (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):  # macOS refuses RLIMIT_AS; the other guards still hold
            pass
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write then fails with an OSError instead of killing
    _drop_capabilities()

    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def refuse(event: str, args: tuple) -> None:
        if event.startswith(_REFUSED_EVENTS):
            raise PermissionError(f"team code may not {event} (dashboards code only builds dashboards)")
        if event == "open" and isinstance(args[2], int) and args[2] & writing:
            raise PermissionError("team code may not write files (dashboards code only builds dashboards)")
    sys.addaudithook(refuse)

    def no_exit(status: int = 0) -> None:
        raise SystemExit(f"os._exit({status})")
    os._exit = no_exit  # the child's own exit, after the answer, uses _REAL_EXIT


if __name__ == "__main__":
    main(sys.argv[1])
