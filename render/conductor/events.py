"""Progress events and the conductor's result.

The conductor yields the small frozen :class:`ProgressEvent` subclasses below and never
prints; :class:`ConductResult` is what a finished run leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ProgressEvent",
    "SessionStarted",
    "AudioProgress",
    "EventEffective",
    "Rotated",
    "Reconnecting",
    "Filtered",
    "ServerWarned",
    "Finished",
    "ConductResult",
]


@dataclass(frozen=True, kw_only=True)
class ProgressEvent:
    """Base of everything :meth:`render.conductor.Conductor.run` yields."""


@dataclass(frozen=True, kw_only=True)
class SessionStarted(ProgressEvent):
    """A session is playing; its audio is spool segment ``session`` from ``start_frame``."""

    session: int
    start_frame: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class AudioProgress(ProgressEvent):
    """Audio received so far (stream frames) out of ``total_frames``."""

    received_frames: int
    total_frames: int
    session: int


@dataclass(frozen=True, kw_only=True)
class EventEffective(ProgressEvent):
    """A timeline event took effect (piece samples); ``estimated`` when no span said so."""

    index: int
    requested_sample: int
    effective_sample: int | None  # None: the render ended before it applied
    estimated: bool


@dataclass(frozen=True, kw_only=True)
class Rotated(ProgressEvent):
    """Session ``to_session`` took over at ``at_frame``; the old one overlaps it by ``overlap_frames``."""

    from_session: int
    to_session: int
    at_frame: int
    overlap_frames: int


@dataclass(frozen=True, kw_only=True)
class Reconnecting(ProgressEvent):
    """Attempt ``attempt`` to replace a failed session starts after ``delay_s``."""

    attempt: int
    delay_s: float
    reason: str


@dataclass(frozen=True, kw_only=True)
class Filtered(ProgressEvent):
    """The service filtered (ignored) a prompt."""

    text: str
    reason: str
    session: int
    at_frame: int


@dataclass(frozen=True, kw_only=True)
class ServerWarned(ProgressEvent):
    """The service sent a warning."""

    message: str
    session: int
    at_frame: int


@dataclass(frozen=True, kw_only=True)
class Finished(ProgressEvent):
    """All of lead-in + piece + tail was received."""

    received_frames: int
    total_frames: int
    wall_s: float


@dataclass(frozen=True, kw_only=True)
class ConductResult:
    """What a finished run produced (positions in stream frames unless named ``*_sample``).

    ``events`` are ``{index, requested_sample, effective_sample, estimated, basis}`` in
    piece samples (``effective_sample`` None and ``applied`` False for an event the render
    ended before); ``sessions`` are ``{index, start_frame, frames, reason, ended}``;
    ``received_formats`` are ``{mime, rate, channels, converted, chunks}`` as the backend
    received the audio (Lyria), before conversion to 48 kHz stereo.
    """

    segments: tuple[Any, ...]
    events: tuple[dict[str, Any], ...]
    sessions: tuple[dict[str, Any], ...]
    seams: tuple[dict[str, Any], ...]
    filtered: tuple[dict[str, Any], ...]
    warnings: tuple[dict[str, Any], ...]
    chunks: int
    wall_s: float
    total_frames: int
    received_frames: int
    resumed: bool = False
    received_formats: tuple[dict[str, Any], ...] = ()
