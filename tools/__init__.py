"""Command-line tools: offline render (and the Pulumi mocks it runs the program under)."""
from typing import Callable


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
