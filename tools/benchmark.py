"""Measure how long the offline render of each stack takes and how much memory it needs.

    python -m tools.benchmark [--runs 5]

Each run is a fresh interpreter, as `pulumi preview` and CI start one: wall time of the whole
command (median and best over the runs) and the peak resident memory of that process.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from estate import PROJECT_ROOT as ROOT
from tools.catalog import STACKS
from tools.render import main as render_main


def _child(stack: str, out: str) -> None:
    """Render in this process, then report its own peak memory (KiB on Linux)."""
    with contextlib.redirect_stdout(io.StringIO()):
        render_main(["--stack", stack, "--out", out])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def measure(stack: str, out: str) -> tuple[float, float]:
    """(seconds, peak MiB) of one render of `stack` in a fresh interpreter."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "tools.benchmark", "--child", stack, out],
                            cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, int(result.stdout.split()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per stack (median reported)")
    parser.add_argument("--child", nargs=2, metavar=("STACK", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    print("| render | median s | best s | peak MiB |\n| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as out:
        for stack in STACKS:
            runs = [measure(stack, f"{out}/{stack}") for _ in range(args.runs)]
            seconds = [s for s, _ in runs]
            print(f"| {stack} | {statistics.median(seconds):.2f} | {min(seconds):.2f} | {max(m for _, m in runs):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
