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
from typing import Any, AsyncIterator

from render.backends.base import Backend
from render.schedule import Schedule
from render.spool.store import Spool

from .events import ConductResult, ProgressEvent
from .options import ConductorOptions
from .run import _Run

__all__ = ["Conductor"]

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
