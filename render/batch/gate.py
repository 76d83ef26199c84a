"""The cluster-wide Lyria session gate: the :class:`~render.batch.worker.SessionGate` interface
on Dask's ``distributed.Semaphore`` (the session cap) and ``distributed.Lock`` + ``Variable``
(the shared time of the last session start). Imports dask only when a session opens on a worker.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from render.errors import TransientBackendError

from .worker import JobStopped

__all__ = ["ClusterGate"]

#: Longest single wait on the semaphore before the stop flag is looked at again.
POLL_S = 0.5
#: Longest wait for the shared last-start time, which the client sets before any job runs.
VARIABLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ClusterGate:
    """At most ``max_sessions`` sessions open across all workers, starts ``stagger_s`` apart.

    Picklable: it carries only names; each worker process builds the Dask objects it needs.
    Every pass is logged as a Dask event on topic ``NAME-session-starts`` (``{time, worker}``):
    the cluster-wide record of session starts. The gate spaces these passes; the service sees
    each start one connection set-up later (TLS and setup, usually well under a second).
    Session-start times are wall-clock seconds (``time.time()``), so workers on different
    machines need synchronised clocks (NTP), as any cluster does.

    Args:
        name: prefix of the Dask objects (unique per batch run).
        max_sessions: cluster-wide cap on open sessions (rotations count twice while they overlap).
        stagger_s: least time between two session starts anywhere in the cluster.
        stop_event: name of the ``distributed.Event`` that stops waiting sessions (Ctrl-C).
    """

    name: str
    max_sessions: int
    stagger_s: float
    stop_event: str | None = None

    def _objects(self) -> tuple[Any, Any, Any]:
        """This process's Semaphore, Lock and Variable for the gate (made once, shared by its jobs)."""
        if self.name not in _OBJECTS:
            from distributed import Lock, Semaphore, Variable

            _OBJECTS[self.name] = (Semaphore(max_leases=self.max_sessions, name=f"{self.name}-sessions"),
                                   Lock(f"{self.name}-start-lock"), Variable(f"{self.name}-last-start"))
        return _OBJECTS[self.name]

    def open(self, client: Any) -> None:
        """Create the shared last-start time (on the client, before any job runs)."""
        from distributed import Variable

        Variable(f"{self.name}-last-start", client=client).set(0.0)

    def _stopping(self) -> bool:
        if self.stop_event is None:
            return False
        from distributed import Event

        return bool(Event(self.stop_event).is_set())

    def _take(self, lease: Any) -> None:
        """Acquire a Dask Semaphore or Lock in bounded waits, giving up when the batch stops."""
        while not lease.acquire(timeout=POLL_S):
            if self._stopping():
                raise JobStopped("the batch is stopping")

    def _start_after_stagger(self, last: Any) -> float:
        """Wait until ``stagger_s`` after the last start anywhere, then record this one (under the lock)."""
        try:
            previous = float(last.get(timeout=VARIABLE_TIMEOUT_S))
        except TimeoutError:
            raise TransientBackendError(f"the cluster's session gate gave no last start time within "
                                        f"{VARIABLE_TIMEOUT_S:g} s") from None
        while previous + self.stagger_s > time.time():
            if self._stopping():
                raise JobStopped("the batch is stopping")
            time.sleep(max(0.0, min(previous + self.stagger_s - time.time(), POLL_S)))
        now = time.time()
        last.set(now)
        return now

    def acquire_blocking(self) -> None:
        """Take a lease, then wait out the stagger under the lock and record this start."""
        semaphore, lock, last = self._objects()
        self._take(semaphore)
        try:
            self._take(lock)
            try:
                now = self._start_after_stagger(last)
            finally:
                lock.release()
            _audit(self.name, now)
        except BaseException:
            semaphore.release()
            raise

    async def acquire(self) -> None:
        """Wait for a cluster-wide slot without blocking the caller's event loop."""
        await asyncio.to_thread(self.acquire_blocking)

    async def release(self) -> None:
        await asyncio.to_thread(self._objects()[0].release)


def _audit(name: str, started: float) -> None:
    """Record a gate pass in the scheduler's event log (topic ``NAME-session-starts``)."""
    from distributed import get_worker

    try:
        worker = get_worker()
        worker.log_event(f"{name}-session-starts", {"time": started, "worker": worker.address})
    except ValueError:  # not on a worker (e.g. a client-side test)
        pass


#: Per process: gate name -> (Semaphore, Lock, Variable). A Semaphore counts this process's leases.
_OBJECTS: dict[str, tuple[Any, Any, Any]] = {}
