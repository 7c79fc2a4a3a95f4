"""The process team code runs in: `python -s -P -B estate/team_worker.py <project root>`.

Started by estate/team_code.py with an empty environment, it imports the panel library once (the
program never does), then for each request (one JSON line on stdin: the team file, its view, the
time limit) forks a child that runs the team's `dashboards(team)`; up to PARALLEL children run at
once, each its own process with its own limits, and the answers go back on stdout in the order
asked. The SLOs' error-budget rows it builds itself, from the program's data: no team code runs in
this process, so none can change them. The child:
- holds no secret: this process was started without the program's environment (PULUMI_CONFIG,
  PULUMI_CONFIG_SECRET_KEYS, cloud tokens) and never saw the stack config;
- has no capability (also when started as root), so the program's /proc/<pid>/environ, closed by
  PR_SET_DUMPABLE, stays closed to it;
- may not write files (an audit hook refuses opening one for writing; RLIMIT_FSIZE 0), start processes
  (the audit hook), load a C library through ctypes (the hook), read anything but the project, its own
  folder and the software it runs on (readable_roots: not ~/.pulumi's token, cloud credentials, /etc or
  other processes' /proc/<pid>/environ; the audit hook, and where the kernel has Landlock the kernel
  itself), change a file's mode, owner, times, extended attributes or attribute flags, or open a socket
  of any kind (TCP, UDP, Unix, a pair) (the hook, and a seccomp filter, _seccomp, set in this process
  for it and every child), signal any process but itself (the hook refuses os.kill and os.killpg;
  Landlock ABI 6+, Linux 6.12, every route: not the worker, not another team's child), use more than
  MEMORY_LIMIT, or run longer than the time limit: a SIGALRM interrupts it where it is (its line is
  reported); code that swallows that is asked for its stack (faulthandler dumps it on SIGUSR1: a C
  handler, no thread per child) and killed.
- The audit hook is no wall against C: the C functions this process loaded through ctypes (_LIBC) stay
  within team code's reach (`import __main__`), and calling one raises no audit event. Against C the
  kernel holds: Landlock (reads, writes, TCP from ABI 4, signals from ABI 6), seccomp, no capability.
  So on a kernel without Landlock ABI 6, signal.pidfd_send_signal (no audit event) and C can still
  signal the worker or another team's child.
- reports every exception, SystemExit and KeyboardInterrupt included, with the team file's line.
The panel library imports neither the estate's models nor its config: this process holds no stack
config, no secret and no engine connection, so there is nothing for team code to find.
"""
from __future__ import annotations

import collections
import errno
import faulthandler
import gc
import importlib.util
import json
import os
import random  # imported here once (about 1 ms), not by each child's team code; seeded in each child (_run)
import resource
import select
import signal
import struct
import sys
import time
import traceback
import types

MEMORY_LIMIT = 2 << 30
OUTPUT_LIMIT = 64 << 20
DUMP_GRACE = 1.0  # seconds past the limit before a child that swallowed its interruption is asked for its stack
KILL_GRACE = 1.2  # seconds past the limit before the child is killed outright (the stack is written by then)
_REAL_EXIT = os._exit  # team code gets a stand-in that raises; the child ends with this one
_REFUSED_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill",
                   "os.killpg", "subprocess.Popen", "pty.spawn", "os.putenv", "os.unsetenv",
                   # a file's mode, owner, times and extended attributes (an ACL is one): no Landlock right
                   # covers them, and a file opened for reading is enough for os.fchmod
                   "os.chmod", "os.chown", "os.utime", "os.setxattr", "os.removexattr", "os.chflags",
                   # changes to the tree (Landlock refuses them too, where Linux has it; here everywhere)
                   "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.link", "os.symlink", "os.truncate",
                   "socket.__new__",  # a socket of any kind: nothing to fetch, nobody to tell (see _seccomp too)
                   "fcntl.ioctl",  # a file's attribute flags (chattr) on a descriptor opened for reading
                   "ctypes.dlopen", "ctypes.dlsym")  # C calls would pass by every hook (see _seccomp, _landlock)


class TimeLimit(BaseException):
    """Raised inside team code when its time is up (a BaseException, like KeyboardInterrupt)."""


PARALLEL = max(1, min(os.cpu_count() or 1, 4))  # children at once: each team still has its own process


class _Child:
    """One team's process, while it runs: its answer and output so far, and when it must be ended."""

    def __init__(self, pid: int, result_fd: int, output_fd: int, path: str, limit: float) -> None:
        self.pid, self.result_fd, self.output_fd, self.path = pid, result_fd, output_fd, path
        self.pidfd = _pidfd(pid)  # readable once the child has ended: no polling for its exit
        started = time.monotonic()
        self.dump_at, self.deadline = started + limit + DUMP_GRACE, started + limit + KILL_GRACE
        self.dumped = False
        self.open_fds = {result_fd, output_fd}
        self.result, self.output = bytearray(), bytearray()
        self.killed: str | None = None
        self.status: int | None = None  # its wait status, once reaped


_READABLE: tuple[str, ...] = ()  # readable_roots(), once, before any child


def main(root: str) -> None:
    global _READABLE
    _READABLE = readable_roots(root)
    # Once here, inherited by every child: the kernel compiles a filter in about 0.1 ms, and this process
    # changes no file's mode, owner or times either. Where there is no seccomp the audit hook still refuses them.
    _seccomp()
    sys.path.insert(0, root)
    view_spec = importlib.util.spec_from_file_location("team_view", os.path.join(root, "estate", "team_view.py"))
    view_module = importlib.util.module_from_spec(view_spec)
    sys.modules["team_view"] = view_module
    view_spec.loader.exec_module(view_module)
    import dashboards  # the panel library, loaded once for every child
    from dashboards.error_budget import ErrorBudget, error_budget_panels
    from dashboards.panels import to_json

    for name in dashboards.__all__:  # each name team code imports from it, resolved here once (PEP 562)
        getattr(dashboards, name)

    # What every child shares stays out of the collector's way: a collection in a child would
    # otherwise touch (and so copy) every page of it.
    gc.freeze()
    answers = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    _serve(0, answers, view_module.TeamView, to_json,
           lambda request: [error_budget_panels([ErrorBudget(**request["slos"][i]) for i in row])
                            for row in request["rows"]])


def _serve(requests: int, answers: int, view_class: type, to_json, error_budget_rows) -> None:
    """Read requests (one JSON line each) as they come, run up to PARALLEL children at once, and answer
    in the order asked: `R <n>` and the child's own n bytes of JSON, or `E <n>` and this process's
    JSON about it. A `{"cancel": true}` line ends the children still running or waiting (each
    answered with an error), so a program that stopped at one team's problem does not wait for the
    rest. An `{"error_budget": ...}` line is built here, by this process, which runs no team code
    (`error_budget_rows`: the SLOs' rows; the program itself does not load the panel library).
    Nothing the children write can hold up reading the others: every descriptor is polled."""
    os.set_blocking(answers, False)
    inbox, outbox = bytearray(), bytearray()
    waiting: collections.deque = collections.deque()  # (ticket, request) not started yet
    running: dict[int, _Child] = {}  # ticket -> child
    done: dict[int, bytes] = {}  # ticket -> its answer, until the ones asked before it are sent
    asked = sent = 0
    reading = True
    try:
        while reading or waiting or running or done or outbox:
            now = time.monotonic()
            for ticket, child in list(running.items()):
                if now >= child.dump_at and not child.dumped and not child.killed and child.status is None:
                    child.dumped = True
                    os.kill(child.pid, signal.SIGUSR1)  # faulthandler writes where it is to its output
                if now >= child.deadline and not child.killed:
                    child.killed = "time"
                    _end(child)
                if not child.open_fds and _ended(child):
                    done[ticket] = _answer(child)
                    del running[ticket]
            while sent in done:
                outbox += done.pop(sent)
                sent += 1
            while waiting and len(running) < PARALLEL:  # after the reaping: a freed place is filled before the wait
                ticket, request = waiting.popleft()
                running[ticket] = _start(request, view_class, to_json)
            readable = [fd for child in running.values() for fd in child.open_fds] + ([requests] if reading else [])
            readable += [child.pidfd for child in running.values() if child.pidfd is not None and not child.open_fds]
            if not readable and not outbox and not running:
                continue
            wait = max(0.0, min(c.deadline if c.dumped else c.dump_at for c in running.values()) - now) \
                if running else None
            if any(not c.open_fds and c.pidfd is None for c in running.values()):  # ending, and no pidfd to wait on
                wait = min(wait, 0.001)
            ready, writable, _ = select.select(readable, [answers] if outbox else [], [], wait)
            for child in running.values():
                for fd in [fd for fd in (child.result_fd, child.output_fd) if fd in ready]:
                    if fd in child.open_fds:  # not closed meanwhile (an answer grown too large)
                        _read(child, fd)
            if requests in ready:
                chunk = os.read(requests, 1 << 16)
                reading = bool(chunk)
                inbox += chunk
                while b"\n" in inbox:
                    line, _, rest = bytes(inbox).partition(b"\n")
                    inbox[:] = rest
                    request = json.loads(line)
                    if request.get("cancel"):  # end what runs, drop what waits: each answered as cancelled
                        for child in running.values():
                            child.killed = "cancel"
                            _end(child)
                        while waiting:
                            done[waiting.popleft()[0]] = _frame("E", {"error": _CANCELLED})
                    elif "error_budget" in request:
                        done[asked] = _built_here(error_budget_rows, request["error_budget"])
                        asked += 1
                    else:
                        waiting.append((asked, request))
                        asked += 1
            if writable:
                try:
                    del outbox[:os.write(answers, outbox[: 1 << 16])]
                except BlockingIOError:
                    pass
    except BrokenPipeError:  # the program has gone
        pass
    finally:  # nothing outlives this process
        for child in running.values():
            if child.status is None:
                _end(child)


_CANCELLED = {"type": "Cancelled", "message": "not run: the program stopped at an earlier problem", "line": None}


def _built_here(build, request) -> bytes:
    """The answer to a request this process builds itself (trusted code, the program's own data)."""
    try:
        return _frame("R", {"ok": build(request)})
    except Exception as e:  # noqa: BLE001  (a bug here: reported, the worker goes on)
        return _frame("E", _failure(e))


def _failure(e: BaseException) -> dict:
    """The answer for what failed outside team code (no line of the team's file to name)."""
    return {"error": {"type": type(e).__name__, "message": _short(str(e)), "line": None}}


def _frame(kind: str, data) -> bytes:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return f"{kind} {len(body)}\n".encode() + body


def _start(request: dict, view_class: type, to_json) -> _Child:
    """Fork the child that runs one team's code; it writes its answer to its result pipe and ends."""
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
            os.dup2(result_write, 3)  # and nothing else: not the requests, not the answers, not other children's
            os.closerange(4, 1 << 16)
            result_write = 3
            answer = _run(request, view_class, to_json)
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        except BaseException as e:  # noqa: BLE001  (an answer that cannot be encoded, or worse)
            data = json.dumps(_failure(e)).encode()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(result_write, view[: 1 << 16]):]
        finally:
            _REAL_EXIT(0)
    os.close(result_write)
    os.close(output_write)
    return _Child(pid, result_read, output_read, request["path"], request["limit"])


def _read(child: _Child, fd: int) -> None:
    chunk = os.read(fd, 1 << 16)
    if not chunk:
        child.open_fds.discard(fd)
        os.close(fd)
    elif fd == child.result_fd:
        child.result += chunk
        if len(child.result) > OUTPUT_LIMIT and not child.killed:
            child.killed = "size"
            _end(child)
    else:
        child.output = (child.output + chunk)[-(1 << 16):]  # the last 64 KiB: a fatal dump names the line


def _end(child: _Child) -> None:
    """Kill a child whose time is up (or whose answer is too large); its descriptors are closed."""
    if child.status is None:  # not reaped yet: its pid is still its own
        os.kill(child.pid, signal.SIGKILL)
    for fd in child.open_fds:
        os.close(fd)
    child.open_fds.clear()


def _ended(child: _Child) -> bool:
    """Whether the child has ended (and was reaped); one that closed its pipes may still run until its time is up."""
    if child.status is None:
        pid, status = os.waitpid(child.pid, 0 if child.killed else os.WNOHANG)
        if pid:
            child.status = status
            if child.pidfd is not None:
                os.close(child.pidfd)
                child.pidfd = None
    return child.status is not None


def _pidfd(pid: int) -> int | None:
    """A descriptor that select() reports readable when the process ends (Linux 5.3+); None elsewhere,
    where a child that closed its pipes is polled for every millisecond until it has ended."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _answer(child: _Child) -> bytes:
    """The frame for a child that ended: its own JSON, or what this process knows of how it ended."""
    status = child.status
    line = _last_line(child.output.decode(errors="replace"), child.path)
    if child.killed == "cancel":
        return _frame("E", {"error": _CANCELLED})
    if child.killed == "time":
        return _frame("E", {"error": {"type": "TimeLimit", "message": "did not return in time (it was stopped)",
                                      "line": line}})
    if child.killed == "size":
        return _frame("E", {"error": {"type": "TooLarge", "line": None,
                                      "message": f"returned more than {OUTPUT_LIMIT >> 20} MiB of dashboards"}})
    if not child.result:
        how = (f"was ended by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exited with status {os.WEXITSTATUS(status)}")
        return _frame("E", {"error": {"type": "Exit", "line": line, "message": f"its process {how} before "
                                      "dashboards() returned (os._exit, a crash, or memory exhausted)"}})
    return _frame("R", bytes(child.result))  # parsed by the program, never here


def _last_line(dump: str, path: str) -> int | None:
    """The team file's innermost line in a faulthandler dump (`File "…/dashboards.py", line 7 in f`)."""
    lines = [int(part.split(", line ")[1].split()[0]) for part in dump.splitlines()
             if f'"{path}", line ' in part]
    return lines[0] if lines else None  # faulthandler lists the innermost frame first


def _run(request: dict, view_class: type, to_json) -> dict | bytes:
    path = request["path"]
    limit = float(request["limit"])
    source = request["source"]  # read and bounded by the program (estate.files.read_text), never here
    os.chdir(os.path.dirname(path))
    _confine(tuple(sorted({*_READABLE, os.path.realpath(os.path.dirname(path))})))  # and the team's own folder
    # Team code that draws on `random` gets the same numbers in every render (its hashes of text are fixed
    # too: PYTHONHASHSEED=0). Here, in the child: `random` reseeds itself from os.urandom after every fork.
    random.seed(0)
    faulthandler.enable(file=sys.stderr)
    faulthandler.register(signal.SIGUSR1, file=sys.stderr)
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
            built.append(to_json(board))
        return ('{"ok": [' + ", ".join(built) + "]}").encode()  # each dashboard encoded once
    except BaseException as e:  # noqa: BLE001  SystemExit, KeyboardInterrupt and TimeLimit included
        return {"error": {"type": type(e).__name__, "message": _short(_message(e)), "line": _line(e, path)}}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


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


if sys.platform.startswith("linux"):  # loaded once here, not in every child (ctypes' import is its costly part)
    import ctypes

    class _CapabilityHeader(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class _CapabilityData(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    # ctypes makes a function's wrapper (a symbol lookup) on first use and an array type each time one is
    # written: made here once, they are not made again in every child (about 0.3 ms of each).
    _CapabilitySets = _CapabilityData * 2  # _LINUX_CAPABILITY_VERSION_3 has two
    _RulesetAttr = ctypes.c_uint64 * 3  # struct landlock_ruleset_attr: handled_access_fs, handled_access_net, scoped
    _PathBeneathAttr = ctypes.c_uint8 * 12  # struct landlock_path_beneath_attr, packed
    try:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.syscall.restype = ctypes.c_long  # the Landlock syscalls answer a file descriptor or -1
        _LIBC.prctl, _LIBC.capset  # noqa: B018  (looked up now, see above)
    except (OSError, AttributeError):
        _LIBC = None


def _drop_capabilities() -> None:
    """Keep the user (so the interpreter can still import from a root-only install) but drop every
    capability: as root without CAP_SYS_PTRACE it cannot read the non-dumpable program's
    /proc/<pid>/environ or memory, and PR_SET_NO_NEW_PRIVS keeps it from getting them back."""
    if not sys.platform.startswith("linux") or _LIBC is None:
        return
    try:
        _LIBC.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        _LIBC.capset(ctypes.byref(_CapabilityHeader(0x20080522, 0)), _CapabilitySets())  # _LINUX_CAPABILITY_VERSION_3: none
    except (OSError, AttributeError):
        pass


def readable_roots(project_root: str) -> tuple[str, ...]:
    """What team code may read, besides its own folder: the project (the panel library) and the software it
    runs on (the Python installation, the system's libraries). Not the home folder (~/.pulumi's
    access token, cloud credentials), /etc, /tmp, or /proc (other processes' environments: the Pulumi
    CLI's holds the passphrase and tokens)."""
    roots = {project_root, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             "/usr", "/lib", "/lib32", "/lib64", "/etc/ld.so.cache"}
    return tuple(sorted({os.path.realpath(r) for r in roots if os.path.exists(r)}))


# Landlock (Linux 5.13+): the kernel itself limits what the child may open, also through ctypes or a
# process it manages to start. https://docs.kernel.org/userspace-api/landlock.html
_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446  # every architecture
_LANDLOCK_READ = (1 << 2) | (1 << 3)  # LANDLOCK_ACCESS_FS_READ_FILE, _READ_DIR
_LANDLOCK_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}  # 5 and later: 1 << 16
_LANDLOCK_SCOPE_SIGNAL = 1 << 1  # ABI 6 (Linux 6.12): no signal to a process outside the child's own domain


def _landlock(roots: tuple[str, ...]) -> bool:
    """Restrict this process, for good, to reading beneath `roots`: no other file or folder opened,
    nothing written or executed anywhere, (ABI 4+) no TCP connection, and (ABI 6+) no signal to another
    process: not the worker, not another team's child (each child is its own domain), by whatever route
    (os.kill, signal.pidfd_send_signal, C, a SIGIO owner); whether the kernel did."""
    if not sys.platform.startswith("linux") or _LIBC is None:
        return False
    syscall = _LIBC.syscall
    abi = syscall(_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # ..._VERSION
    if abi < 1:
        return False
    handled_fs = _LANDLOCK_FS_BY_ABI.get(abi, (1 << 16) - 1)
    handled_net = 0b11 if abi >= 4 else 0  # LANDLOCK_ACCESS_NET_BIND_TCP, _CONNECT_TCP: no rule allows any
    scoped = _LANDLOCK_SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(handled_fs, handled_net, scoped)
    ruleset = syscall(_LANDLOCK_CREATE_RULESET, ctypes.byref(attr),  # the fields this ABI knows, no more
                      ctypes.c_size_t(24 if abi >= 6 else 16 if abi >= 4 else 8), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        for root in roots:
            fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
            try:  # struct landlock_path_beneath_attr, packed: __u64 allowed_access, __s32 parent_fd
                beneath = _PathBeneathAttr.from_buffer_copy(
                    (_LANDLOCK_READ if os.path.isdir(root) else 1 << 2).to_bytes(8, sys.byteorder)
                    + fd.to_bytes(4, sys.byteorder, signed=True))
                if syscall(_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(beneath),
                           ctypes.c_uint32(0)) != 0:
                    return False
            finally:
                os.close(fd)
        _LIBC.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, which restrict_self requires
        return syscall(_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0
    finally:
        os.close(ruleset)


# seccomp (Linux 3.5+) for what no Landlock right covers at any ABI (linux/landlock.h: "not possible to
# restrict ... chmod(2), chown(2), setxattr(2), utime(2)"): the system calls that change a file's mode,
# owner, times or extended attributes answer EPERM, so C code cannot change them either (the audit hook
# refuses os.chmod & co., but calling a function ctypes loaded before the hook raises no audit event);
# and `socket`, `socketpair`: dashboards code has nothing to fetch or send, and Landlock covers TCP
# alone (ABI 4+), not UDP or Unix sockets (a path one such as a container engine's, or an abstract one).
_REFUSED_SYSCALLS = {  # os.uname().machine: (its AUDIT_ARCH_*, ioctl's number, the numbers of those calls)
    "x86_64": (0xC000003E, 16, (90, 91, 268, 452,  # chmod fchmod fchmodat fchmodat2
                                92, 93, 94, 260,  # chown fchown lchown fchownat
                                132, 235, 261, 280,  # utime utimes futimesat utimensat
                                188, 189, 190, 197, 198, 199, 463, 466,  # (l, f)setxattr (l, f)removexattr, ...xattrat
                                469,  # file_setattr (the fsxattr flags)
                                425,  # io_uring_setup: an io_uring's IORING_OP_SETXATTR would pass by this filter
                                41, 53)),  # socket socketpair
    "aarch64": (0xC00000B7, 29, (52, 53, 452, 54, 55, 88, 5, 6, 7, 14, 15, 16, 463, 466, 469, 425,
                                 198, 199)),  # the generic table
}
# ioctl(2) itself stays allowed; these requests, which change a file's attribute flags (chattr's
# FS_IOC_SETFLAGS, its 32-bit spelling, and FS_IOC_FSSETXATTR), are refused. A read-only descriptor
# is enough for them, and Landlock's IOCTL_DEV right covers devices alone.
_REFUSED_IOCTLS = (0x40086602, 0x40046602, 0x401C5820)


def _seccomp_program(arch: int, ioctl: int, numbers: tuple[int, ...]) -> bytes:
    """The classic BPF filter: EPERM for `numbers`, for the _REFUSED_IOCTLS requests of `ioctl`, and for
    every call of another ABI (i386, x32), whose numbers differ; every other call is allowed."""
    allow, deny = 0x7FFF0000, 0x00050000 | errno.EPERM  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO
    load, equal, at_least, answer = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
    program: list[tuple[int, str | None, str | None, int]] = []  # (code, jump if true, if false, k): a label or the next

    def emit(code: int, k: int = 0, true: str | None = None, false: str | None = None) -> None:
        program.append((code, true, false, k))

    emit(load, 4)  # seccomp_data.arch
    emit(equal, arch, false="deny")
    emit(load, 0)  # seccomp_data.nr
    emit(at_least, 0x40000000, true="deny")  # x32's numbers have this bit
    for number in numbers:
        emit(equal, number, true="deny")
    emit(equal, ioctl, false="allow")
    emit(load, 24)  # args[1]'s low half on these little-endian machines: the request, 32 bits to the kernel
    for request in _REFUSED_IOCTLS:
        emit(equal, request, true="deny")
    labels = {"allow": len(program), "deny": len(program) + 1}
    emit(answer, allow)
    emit(answer, deny)

    def offset(at: int, label: str | None) -> int:
        return 0 if label is None else labels[label] - at - 1

    return b"".join(struct.pack("=HBBI", code, offset(at, true), offset(at, false), k)  # struct sock_filter
                    for at, (code, true, false, k) in enumerate(program))


_SECCOMP = None  # struct sock_fprog, made once here (not in every child) where the machine is known
if sys.platform.startswith("linux") and _LIBC is not None and os.uname().machine in _REFUSED_SYSCALLS:
    class _SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    _SECCOMP_FILTER = ctypes.create_string_buffer(_seccomp_program(*_REFUSED_SYSCALLS[os.uname().machine]))
    _SECCOMP = _SockFprog((len(_SECCOMP_FILTER) - 1) // 8, ctypes.addressof(_SECCOMP_FILTER))  # less its NUL


def _seccomp() -> bool:
    """Refuse this process and its children, for good, the calls of _REFUSED_SYSCALLS; whether the kernel did."""
    if _SECCOMP is None:
        return False
    _LIBC.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, which a filter needs; this process runs no program
    return _LIBC.prctl(22, 2, ctypes.byref(_SECCOMP), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def _confine(roots: tuple[str, ...]) -> None:
    """No file writes, no reads outside `roots`, no processes, no signals, bounded memory, no capability."""
    for limit, value in ((resource.RLIMIT_AS, MEMORY_LIMIT), (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):  # macOS refuses RLIMIT_AS; the other guards still hold
            pass
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write then fails with an OSError instead of killing
    _drop_capabilities()

    _landlock(roots)  # where the kernel has Landlock; the audit hook below holds everywhere else too
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    beneath = tuple(root.rstrip("/") + "/" for root in roots)

    def refuse(event: str, args: tuple) -> None:
        if event.startswith(_REFUSED_EVENTS):
            raise PermissionError(f"team code may not {event} (dashboards code only builds dashboards)")
        if event == "open":
            path, flags = args[0], args[2]
            if isinstance(flags, int) and flags & writing:
                raise PermissionError("team code may not write files (dashboards code only builds dashboards)")
            if isinstance(path, (str, bytes, os.PathLike)):
                where = os.path.realpath(os.fsdecode(path))
                if where not in roots and not where.startswith(beneath):
                    raise PermissionError("team code may read only the project and the Python installation, not "
                                          f"{_short(os.fsdecode(path), 80)} (dashboards code only builds dashboards)")
    sys.addaudithook(refuse)

    def no_exit(status: int = 0) -> None:
        raise SystemExit(f"os._exit({status})")
    os._exit = no_exit  # the child's own exit, after the answer, uses _REAL_EXIT


if __name__ == "__main__":
    if len(sys.argv) != 2:  # estate/team_code.py starts it with the project root; nobody else should
        raise SystemExit("usage: python -s -P -B estate/team_worker.py <project root> "
                         "(estate/team_code.py starts it for the program; it is no command)")
    main(sys.argv[1])
