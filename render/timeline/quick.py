"""Quick renders without a file: the seed's ``text:weight, text:weight`` prompt syntax."""

from __future__ import annotations

import math
from typing import Any

from render.errors import UsageError

__all__ = ["parse_prompt_spec", "quick_timeline"]


def parse_prompt_spec(text: str) -> list[dict[str, Any]]:
    """Parse ``"Indie Pop:0.6, Sitar:2, Danceable:1.4"`` into prompt dicts.

    A segment without ``:weight`` has weight 1.0. Unlike the seed's parser, malformed
    segments are errors, never silently skipped.

    Raises:
        UsageError: naming the segment and what is wrong with it.
    """
    if not text or not text.strip():
        raise UsageError("--prompt is empty", hint='e.g. --prompt "Indie Pop:0.6, Sitar:2"')
    prompts = []
    for position, raw in enumerate(text.split(","), start=1):
        segment = raw.strip()
        if not segment:
            raise UsageError(f"--prompt segment {position} is empty (two commas in a row?)")
        name, sep, weight_text = segment.rpartition(":")
        if not sep:
            name, weight = segment, 1.0
        else:
            try:
                weight = float(weight_text)
            except ValueError:
                raise UsageError(f"--prompt segment {position} {segment!r}: weight {weight_text.strip()!r} is not a number",
                                 hint="write text:weight, e.g. Sitar:2") from None
            if not math.isfinite(weight) or weight == 0:
                raise UsageError(f"--prompt segment {position} {segment!r}: weight must be a finite number other than 0")
        if not name.strip():
            raise UsageError(f"--prompt segment {position} {segment!r} has no text before the colon")
        prompts.append({"text": name.strip(), "weight": weight})
    return prompts


def quick_timeline(prompt: str, duration: str | float, *, seed: int = 0, name: str = "quick",
                   config: dict[str, Any] | None = None) -> dict[str, Any]:
    """A timeline mapping for a one-line render (validated later like any timeline)."""
    return {
        "version": 1,
        "title": prompt[:120],
        "duration": duration,
        "seed": seed,
        "prompts": parse_prompt_spec(prompt),
        "config": {k: v for k, v in (config or {}).items() if v is not None},
        "output": {"name": name},
    }
