"""Command-line tools: offline render (and the Pulumi mocks it runs the program under)."""
import os
import signal
import sys
from pathlib import Path
from typing import Callable


def _interrupted_while_starting(signum, frame) -> None:
    os.write(2, b"error: interrupted\n")
    os._exit(130)


# Run as a command (`python -m tools.render`), this package is imported before the tool's own modules:
# a Ctrl-C while they import (pydantic, the SDK: a quarter of a second) ends it in one line, not in a
# traceback from an import. command() gives Python's own handler back before the tool's main runs.
_AS_COMMAND = any(a == "-m" and b.startswith("tools.") for a, b in zip(sys.orig_argv, sys.orig_argv[1:]))
if _AS_COMMAND and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_while_starting)


def first_line(doc: str | None) -> str | None:
    """A tool's description for argparse: the first line of its module's docstring, which Python
    leaves out under -OO (PYTHONOPTIMIZE=2): then none, rather than an AttributeError."""
    return doc.splitlines()[0] if doc else None


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse `type`: a whole number from `low` to `high`. Anything else is argparse's one-line
    refusal (exit 2, before the tool does anything): a bound where a large number would fill the disk
    or the memory before a word is shown."""
    import argparse  # here: the package is imported by every tool, not all of which parse arguments

    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not within {low} to {high}")
        return value
    return number


def once() -> type:
    """An argparse `action` for an option given at most once. argparse keeps the last of two
    `--stack`s: the first would vanish at exit 0, as the first of two keys given in YAML would. A
    second is argparse's one-line refusal (exit 2); neither value is shown (a `--url` may hold more than
    a host)."""
    import argparse

    class Once(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            if getattr(self, "given", False):
                parser.error(f"argument {'/'.join(self.option_strings)}: given twice; give it once")
            self.given = True
            setattr(namespace, self.dest, values)
    return Once


def command(main: Callable[[], int], interrupted: str = "") -> None:
    """Run a tool's `main` as its command: its status is the exit status.

    - Ctrl-C ends it with one line and status 130, as a shell reports a command that Ctrl-C ended
      (`interrupted`: what the interruption leaves, when the tool can say), not a traceback.
    - An OSError no tool handled is one line naming the file, status 1.
    - Output cut short by its reader (`| head`) ends it quietly, status 141, as SIGPIPE would.
    - What it prints is UTF-8 whatever the locale, as every file the tools write.
    The processes a tool started get the terminal's Ctrl-C too; its `finally` blocks wait for them
    or kill them, and remove its temporary folders."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.stdout is None:  # started with its output closed (`>&-`): what it prints goes nowhere, as to /dev/null
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    if sys.stdout.encoding.lower().replace("-", "") != "utf8":  # an ASCII locale (LC_ALL=C): `→` was an error
        sys.stdout.reconfigure(encoding="utf-8")  # what the tools print is UTF-8 text, as every file they write
    try:
        status = main()
    except KeyboardInterrupt:
        print(f"error: interrupted{'; ' + interrupted if interrupted else ''}", file=sys.stderr)
        status = 130
    except BrokenPipeError as e:
        if not _reader_gone(sys.stdout):  # another pipe (a process the tool feeds) is the tool's error
            print(f"error: {os_error_text(e)}", file=sys.stderr)
            status = 1
        else:  # `| head`: what reads the output went away; say nothing, as `yes | head` does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the last flush at exit fails no more
            status = 141  # as a shell reports a command that SIGPIPE ended
    except OSError as e:  # what a tool did not foresee of the file system: a name too long for it, say
        print(f"error: {os_error_text(e)}", file=sys.stderr)
        status = 1
    sys.exit(status)


def _reader_gone(stream) -> bool:
    """Whether nothing reads `stream` any more: the write end of a pipe whose reader closed it."""
    import select

    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError):  # no descriptor (a test's capture): not a pipe that broke
        return False


def os_error_text(e: OSError) -> str:
    """An OSError as a message's one line: the file it names, shortened, and the system's words."""
    return f"{shown_path(e.filename) + ': ' if e.filename else ''}{e.strerror or e}"


def shown_path(path: object, limit: int = 160) -> str:
    """A path as a message shows it: whole up to `limit` characters, else its start and end."""
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit // 2]}…{text[-(limit // 2):]}"


def write_whole(path: Path, text: str) -> None:
    """`path` holding `text`, or as it was: written beside it, then renamed over it (a full disk or
    Ctrl-C midway would leave a truncated file)."""
    staged = path.with_name(f".{path.name}.partial")
    try:
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


def not_a_project(root: Path, project_file: Path) -> str | None:
    """Why `--root` is no project folder (its `project_file`, Pulumi.yaml, is not there), or None: said
    before a tool reads a stack, which would blame a missing stack file instead."""
    try:
        if project_file.is_file():
            return None
    except OSError:  # a --root too long for the file system
        pass
    return (f"--root {shown_path(root)}: no {project_file.name} there; give the project's folder "
            "(the one holding Pulumi.yaml, stacks/ and teams/)")
