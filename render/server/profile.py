"""``serve --profile measured``: the service as measured (LYRIA.md), each part settable alone.

A :class:`Realism` holds the server-wide behaviours that are not faults of one
connection: start latency drawn from a long-tailed distribution, per-minute pacing
between two rates with occasional long gaps, the stagger filter (a session started too
soon after another gets ``filteredPrompt`` and no audio), binary frames, an idle
timeout and a connection cap. The 600 s close with 1011 and the one-chunk change
latency are per-connection :class:`render.server.faults.FaultPlan` defaults
(:func:`profile_plan`).

``time_scale`` multiplies every wall-clock duration (latencies, gaps, pacing, stagger,
idle timeout), so a test at ``time_scale=0.01`` keeps the measured proportions at 100x
speed. Audio-clock durations (the session limit) are not scaled.

Close codes chosen where the service's are unknown (documented in ``serve --help``):
over the connection cap, **1013** "Try again later" at setup (transient for clients);
an idle session, **1000** "Session closed after N s idle".
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields, replace
from typing import Any

from render.audio import SAMPLE_RATE

from ..errors import UsageError
from .faults import FaultPlan

__all__ = ["Realism", "MEASURED", "profile_plan", "realism_for", "Pacer", "CLOSE_TRY_AGAIN", "CLOSE_IDLE"]

CLOSE_TRY_AGAIN = 1013
CLOSE_IDLE = 1000
MEASURED_SESSION_LIMIT_S = 600.0


@dataclass(frozen=True, kw_only=True)
class Realism:
    """Server-wide realism (all off by default; see module docstring).

    Attributes:
        time_scale: multiplies every wall-clock duration below (1 = as measured).
        start_latency_median_s / start_latency_max_s: first audio after PLAY, lognormal
            around the median (sigma 0.6), clipped to the max; 0 = none.
        pace_min / pace_max: audio seconds per wall second, redrawn every minute of audio.
        gap_per_minute / gap_max_s: chance per minute of audio of one long gap between
            chunks, uniformly 5 s to ``gap_max_s``.
        stagger_s: a session whose PLAY comes within this of another's gets a
            ``filteredPrompt`` per prompt and no audio; 0 = off.
        binary_frames: send server messages as binary frames.
        idle_timeout_s: close a session that is not playing and hears nothing this long.
        max_connections: refuse connections beyond this many at once (1013).
        seed: seeds the draws (per connection: seed + connection number).
    """

    time_scale: float = 1.0
    start_latency_median_s: float = 0.0
    start_latency_max_s: float = 0.0
    pace_min: float = 1.0
    pace_max: float = 1.0
    gap_per_minute: float = 0.0
    gap_max_s: float = 0.0
    stagger_s: float = 0.0
    binary_frames: bool = False
    idle_timeout_s: float | None = None
    max_connections: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise UsageError(f"profile setting {f.name} must be >= 0, got {value!r}")
        if self.time_scale <= 0 or not 0 < self.pace_min <= self.pace_max:
            raise UsageError(f"profile: time_scale must be > 0 and 0 < pace_min <= pace_max "
                             f"(got {self.time_scale}, {self.pace_min}, {self.pace_max})")

    @property
    def paced(self) -> bool:
        return (self.pace_min, self.pace_max) != (1.0, 1.0) or self.time_scale != 1.0 or self.gap_per_minute > 0

    def start_latency_s(self, rng: random.Random) -> float:
        if self.start_latency_median_s <= 0:
            return 0.0
        draw = self.start_latency_median_s * math.exp(rng.gauss(0.0, 0.6))
        return min(draw, self.start_latency_max_s or draw) * self.time_scale


#: As measured (LYRIA.md): first audio 2.9 s median (max 10.9 s), per-minute pacing 0.77-1.03x,
#: gaps up to 17 s, the 10 s stagger filter, binary frames; idle sessions closed after 330 s
#: (pauses of 300 s were survived), at most 8 connections at once.
MEASURED = Realism(start_latency_median_s=2.9, start_latency_max_s=10.9, pace_min=0.77, pace_max=1.03,
                   gap_per_minute=0.1, gap_max_s=17.0, stagger_s=10.0, binary_frames=True,
                   idle_timeout_s=330.0, max_connections=8)


def realism_for(profile: str, **overrides: Any) -> Realism:
    """``none`` or ``measured``, with any field overridden (``None`` values are ignored)."""
    if profile not in ("none", "measured"):
        raise UsageError(f"--profile must be none or measured, got {profile!r}")
    base = MEASURED if profile == "measured" else Realism()
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def profile_plan(profile: str, chunk_s: float, time_scale: float = 1.0) -> FaultPlan | None:
    """The per-connection defaults of a profile: the 600 s 1011 close (audio clock), one chunk
    of change latency (wall clock, so times ``time_scale``)."""
    if profile != "measured":
        return None
    return FaultPlan(session_limit_s=MEASURED_SESSION_LIMIT_S, change_latency_s=chunk_s * time_scale,
                     session_limit_reason="Internal error encountered.")


class Pacer:
    """When each chunk is due under a profile: per-minute rates, gaps, all times ``time_scale``."""

    def __init__(self, realism: Realism, rng: random.Random) -> None:
        self._r, self._rng = realism, rng
        self._minute = -1
        self._rate = 1.0
        self.wall_s = 0.0  # scaled wall seconds from stream start to the frames sent so far

    def advance(self, frames: int, sent_frames: int) -> float:
        """Account for a chunk of ``frames`` after ``sent_frames``; returns an extra gap (s) to wait first."""
        gap = 0.0
        minute = sent_frames // (60 * SAMPLE_RATE)
        if minute != self._minute:
            self._minute = minute
            self._rate = self._rng.uniform(self._r.pace_min, self._r.pace_max)
            if self._r.gap_per_minute > 0 and self._rng.random() < self._r.gap_per_minute:
                gap = self._rng.uniform(min(5.0, self._r.gap_max_s), self._r.gap_max_s) * self._r.time_scale
        self.wall_s += frames / SAMPLE_RATE / self._rate * self._r.time_scale
        return gap
