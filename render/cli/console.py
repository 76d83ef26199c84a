"""Where the CLI writes: results to stdout, logs and progress to stderr."""

from __future__ import annotations

import sys

from rich.console import Console

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def error(message: str) -> None:
    """Print an error to stderr without markup interpretation."""
    err.print(message, markup=False)


def info(message: str, *, quiet: bool = False) -> None:
    if not quiet:
        err.print(message, markup=False)


def result(message: str) -> None:
    """Print a result line to stdout (plain, machine-friendly)."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()
