"""How the conductor paces sessions and survives faults, and what a run needs of its conductor."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

from render.backends.base import Backend
from render.errors import UsageError
from render.schedule import Schedule
from render.spool import Spool

__all__ = ["ConductorOptions", "Conducted"]


@dataclass(frozen=True, kw_only=True)
class ConductorOptions:
    """How the conductor paces sessions and survives faults (seconds of audio or wall time)."""

    session_limit_s: float = 540.0     # rotate before the service's 600 s cut
    overlap_s: float = 4.0             # handover overlap at rotation/reconnect/resume seams
    stall_timeout_s: float = 20.0      # no chunk for this long -> reconnect
    max_reconnects: int = 5            # consecutive failures without new audio before giving up
    backoff_base_s: float = 1.0        # exponential backoff with full jitter, capped
    backoff_max_s: float = 30.0
    control_lead_s: float = 0.0        # for backends WITHOUT at_sample: send a message this much early
    strict: bool = False               # a filtered prompt fails the render
    filtered_backoff_s: float = 10.0   # least wait after a session whose every prompt was filtered
    gate_timeout_s: float = 60.0       # longest gate wait while holding a session (rotation); then retry

    def __post_init__(self) -> None:
        positive = ("session_limit_s", "stall_timeout_s", "gate_timeout_s")
        non_negative = ("overlap_s", "backoff_base_s", "backoff_max_s", "control_lead_s", "filtered_backoff_s",
                        "max_reconnects")
        for name in positive + non_negative:
            value = getattr(self, name)
            if not value >= 0 or (name in positive and value == 0):
                raise UsageError(f"ConductorOptions.{name}={value!r}: must be {'> 0' if name in positive else '>= 0'}")
        if self.overlap_s >= self.session_limit_s:
            raise UsageError(
                f"ConductorOptions.overlap_s={self.overlap_s:g} must be shorter than session_limit_s="
                f"{self.session_limit_s:g}", hint="sessions overlap only at their handover, e.g. 4 s of 540 s")


class Conducted(Protocol):
    """What a run needs of its :class:`render.conductor.Conductor`."""

    backend: Backend
    schedule: Schedule
    spool: Spool
    options: ConductorOptions
    session_gate: Any
    rng: random.Random
