"""The conductor: drives backend sessions through a schedule into the spool.

Timing comes from the audio received (frames counted), never from the wall clock; the
wall clock only detects stalls and old sessions. One run may use several sessions:

* **rotation**: before the service's 600 s cut, a new session starts at the old one's
  received end H with the state in force there; the old one streams on until H + overlap;
* **reconnect**: after a dropped connection or a stall, a new session starts at
  ``received_end - overlap`` (exponential backoff with full jitter, bounded);
* **resume**: a new run on a reopened spool starts at ``received_end - overlap``.

Each session's audio is its own spool segment; consecutive segments overlap and the
master crossfades there. Messages reach a session before the audio they govern: with
``at_sample`` support all are queued at exact positions when it starts (generation is
lazy), otherwise each is sent when the audio received reaches its position minus
``control_lead_s``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, AsyncIterator

from .backends.base import Backend
from .conductor_events import (
    AudioProgress, ConductResult, EventEffective, Filtered, Finished, ProgressEvent, Reconnecting, Rotated,
    ServerWarned, SessionStarted,
)
from .conductor_run import _Run
from .errors import UsageError
from .schedule import Schedule
from .spool import Spool

__all__ = [
    "ConductorOptions",
    "Conductor",
    "ConductResult",
    "ProgressEvent",
    "SessionStarted",
    "AudioProgress",
    "EventEffective",
    "Rotated",
    "Reconnecting",
    "Filtered",
    "ServerWarned",
    "Finished",
]

@dataclass(frozen=True, kw_only=True)
class ConductorOptions:
    """How the conductor paces sessions and survives faults (seconds of audio or wall time)."""

    session_limit_s: float = 540.0     # rotate before the service's 600 s cut
    overlap_s: float = 4.0             # handover overlap at rotation/reconnect/resume seams
    stall_timeout_s: float = 20.0      # no chunk for this long -> reconnect
    max_reconnects: int = 5
    backoff_base_s: float = 1.0        # exponential backoff with full jitter, capped
    backoff_max_s: float = 30.0
    control_lead_s: float = 0.0        # for backends WITHOUT at_sample: send a message this much early
    strict: bool = False               # a filtered prompt fails the render
    healthy_after_s: float = 30.0      # a session that delivered this much audio resets the retry count
    gate_timeout_s: float = 60.0       # longest gate wait while holding a session (rotation); then retry

    def __post_init__(self) -> None:
        positive = ("session_limit_s", "stall_timeout_s", "gate_timeout_s")
        non_negative = ("overlap_s", "backoff_base_s", "backoff_max_s", "control_lead_s", "healthy_after_s",
                        "max_reconnects")
        for name in positive + non_negative:
            value = getattr(self, name)
            if not value >= 0 or (name in positive and value == 0):
                raise UsageError(f"ConductorOptions.{name}={value!r}: must be {'> 0' if name in positive else '>= 0'}")
        if self.overlap_s >= self.session_limit_s:
            raise UsageError(
                f"ConductorOptions.overlap_s={self.overlap_s:g} must be shorter than session_limit_s="
                f"{self.session_limit_s:g}", hint="sessions overlap only at their handover, e.g. 4 s of 540 s")


class Conductor:
    """Renders ``schedule`` through ``backend`` sessions into ``spool``.

    Args:
        backend: the generator.
        schedule: what to play, at which samples.
        spool: an open spool: new for a fresh run, reopened (:meth:`Spool.open`) to resume.
        options: pacing and fault handling.
        session_gate: optional; every session open passes through it (an object with
            ``acquire()``/``release()``, sync or async, or an async context manager) so a
            batch can cap and stagger sessions. A rotation holds two sessions for about
            ``overlap_s``; its gate wait is bounded by ``gate_timeout_s`` (then retried with
            backoff while the old session streams on), so capped jobs cannot deadlock.
        rng: randomness for backoff jitter (tests pass a seeded one).

    Example:
        >>> conductor = Conductor(backend, schedule, spool)        # doctest: +SKIP
        >>> async for event in conductor.run(): ...                # doctest: +SKIP
        >>> conductor.result.segments                              # doctest: +SKIP
    """

    def __init__(self, backend: Backend, schedule: Schedule, spool: Spool,
                 options: ConductorOptions = ConductorOptions(), *, session_gate: Any = None,
                 rng: random.Random | None = None) -> None:
        self.backend = backend
        self.schedule = schedule
        self.spool = spool
        self.options = options
        self.session_gate = session_gate
        self.rng = rng or random.Random()
        self._result: ConductResult | None = None

    @property
    def result(self) -> ConductResult:
        """The outcome of the last :meth:`run` that finished."""
        if self._result is None:
            raise RuntimeError("Conductor.result is available after run() has finished")
        return self._result

    async def run(self, *, resume: bool = False) -> AsyncIterator[ProgressEvent]:
        """Render until lead-in + piece + tail are in the spool, yielding progress.

        Args:
            resume: continue a reopened spool from its received end.

        Raises:
            AuthError: the service refused us (never retried).
            TransientBackendError: retries ran out; the spool is kept for ``--resume``.
            FilteredPromptError: a prompt was filtered and ``strict`` is on.
        """
        run = _Run(self, resume)
        events = run.events()
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()  # a consumer that stops early still gets its sessions closed now
        self._result = run.result
