"""Render conductor progress events as a tqdm bar on stderr (the library never prints)."""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import tqdm

from ..audio import SAMPLE_RATE
from . import console


def advance(bar: tqdm, delta: float) -> None:
    """``bar.update(delta)`` clamped to the total: tqdm drops ``total`` (and a bar format
    that formats it fails) once ``n`` passes it, which float rounding can cause."""
    room = (bar.total or 0) - bar.n
    step = min(max(0.0, delta), max(0.0, room))
    if step > 0:
        bar.update(step)


class RenderProgress:
    """Callable progress sink: audio seconds received, ETA and × real time."""

    def __init__(self, total_s: float, *, label: str, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.perf_counter()
        self.done_s = 0.0
        self.bar = None if quiet else tqdm(
            total=round(total_s, 2), unit="s", desc=label, file=sys.stderr, leave=False,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}<{remaining}{postfix}]",
        )

    def __call__(self, event: Any) -> None:
        if isinstance(event, tuple) and event and event[0] == "master":
            if self.bar is not None:
                self.bar.set_description_str(f"master: {event[1]}")
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
