"""lyria-render: render timelines of text prompts into finished music files.

The public API mirrors the CLI: ``load_timeline`` (validate), ``plan``,
``render_timeline`` (render) and ``render_batch`` (batch). Whole audio comes back as a
:class:`Waveform` (``RenderResult.audio()``, ``read_audio``); every deliberate error is a
:class:`render.errors.RenderError`.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .audio import Waveform
from .controls import GenerationConfig, WeightedPrompt
from .errors import RenderError, TimelineError
from .pipeline import RenderOptions, RenderResult, render_timeline
from .schedule import Schedule, plan
from .timeline import LoadedTimeline, load_timeline, parse_timeline
from .version import __version__

__all__ = [
    "__version__",
    "load_timeline",
    "parse_timeline",
    "LoadedTimeline",
    "plan",
    "Schedule",
    "render_timeline",
    "RenderOptions",
    "RenderResult",
    "render_batch",
    "BatchOptions",
    "Waveform",
    "read_audio",
    "GenerationConfig",
    "WeightedPrompt",
    "RenderError",
    "TimelineError",
    "errors",
]


def __getattr__(name: str) -> Any:
    if name == "read_audio":  # lazily: export brings scipy, which --help must not load
        from .export import read_audio

        return read_audio
    if name in ("render_batch", "BatchOptions", "BatchResult"):
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'render' has no attribute {name!r}")
