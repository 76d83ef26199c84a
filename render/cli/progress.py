"""Render conductor progress events on stderr (the library never prints).

On a terminal: a tqdm bar. Off a terminal (CI logs): one plain line every
``LYRIA_RENDER_PROGRESS_EVERY`` seconds (default 10), never ``\\r`` updates.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from tqdm import tqdm

from ..audio import SAMPLE_RATE
from . import console


def advance(bar: Any, delta: float) -> None:
    """``bar.update(delta)`` clamped to the total: tqdm drops ``total`` (and a bar format
    that formats it fails) once ``n`` passes it, which float rounding can cause."""
    room = (bar.total or 0) - bar.n
    step = min(max(0.0, delta), max(0.0, room))
    if step > 0:
        bar.update(step)


class LineTicker:
    """The tqdm calls the CLI uses, printed as a line every ``every`` seconds (for logs)."""

    def __init__(self, total: float, desc: str, every: float) -> None:
        self.total, self.n, self.desc, self.postfix, self.every = total, 0.0, desc, "", every
        self.last = time.monotonic()

    def update(self, step: float) -> None:
        self.n += step
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self.write(f"{self.desc}: {self.n:.1f}/{self.total:.1f} s audio"
                       + (f", {self.postfix}" if self.postfix else ""))

    def set_description_str(self, desc: str) -> None:
        self.desc = desc

    def set_postfix_str(self, postfix: str) -> None:
        self.postfix = postfix

    def write(self, text: str, file: Any = None) -> None:
        console.error(text)

    def close(self) -> None:
        pass


def make_bar(total_s: float, desc: str) -> Any:
    """A tqdm bar on a terminal, else a :class:`LineTicker`."""
    if not sys.stderr.isatty():
        every = float(os.environ.get("LYRIA_RENDER_PROGRESS_EVERY") or 10)
        return LineTicker(round(total_s, 2), desc, every)
    tqdm.monitor_interval = 0  # no monitor thread: worker processes may still be forked
    return tqdm(total=round(total_s, 2), unit="s", desc=desc, file=sys.stderr, leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}<{remaining}{postfix}]")


class RenderProgress:
    """Callable progress sink: audio seconds received, ETA and × real time."""

    def __init__(self, total_s: float, *, label: str, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.perf_counter()
        self.done_s = 0.0
        self.bar = None if quiet else make_bar(total_s, label)

    def __call__(self, event: Any) -> None:
        if isinstance(event, tuple) and event and event[0] == "master":
            if self.bar is not None:
                self.bar.set_description_str(f"master: {event[1]}")
                self.bar.set_postfix_str("")  # the x real time figure belongs to streaming
            return
        received = getattr(event, "received_frames", None)
        if received is not None and self.bar is not None:
            seconds = received / SAMPLE_RATE
            advance(self.bar, round(seconds - self.done_s, 3))
            self.done_s = seconds
            wall = time.perf_counter() - self.started
            self.bar.set_postfix_str(f"{seconds / wall:.1f}x real time" if wall > 0 else "")
            return
        message = _describe(event)
        if message and not self.quiet:
            if self.bar is not None:
                self.bar.write(message, file=sys.stderr)
            else:
                console.error(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _describe(event: Any) -> str | None:
    """One line for notable events (reconnects, filtered prompts, warnings, rotations)."""
    kind = type(event).__name__
    if kind in ("AudioProgress", "EventEffective", "Finished", "SessionStarted"):
        return None
    fields = getattr(event, "__dataclass_fields__", {})
    detail = ", ".join(f"{k}={getattr(event, k)!r}" for k in fields)
    return f"{kind}: {detail}" if detail else kind
