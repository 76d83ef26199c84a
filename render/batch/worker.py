"""Running batch jobs: one job with retries, the session gate, and worker-process plumbing.

Offline jobs run in a process pool (each worker renders, masters and encodes its own job,
so mastering of one overlaps rendering of others). Lyria jobs run in threads that share
one :class:`SessionGate`. Every job returns a :class:`JobOutcome`; nothing raises across
a process boundary.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from render.audio import SAMPLE_RATE
from render.errors import RenderError, SpoolError, TransientBackendError, UntrustedSpoolError
from render.pipeline.job import RenderInterrupted, RenderOptions, spool_dir

__all__ = ["JobTask", "JobOutcome", "JobStopped", "SessionGate", "run_task", "worker_init", "worker_run",
           "limit_blas_threads", "QueueProgress"]

RenderFn = Callable[..., Any]


class JobStopped(Exception):
    """Raised from a job's progress callback or gate wait to stop it (batch Ctrl-C).

    An ordinary exception, not ``KeyboardInterrupt``, so that asyncio unwinds the
    conductor normally (sessions closed, spool writer stopped) in a job thread.
    """


@dataclass(frozen=True, kw_only=True)
class JobTask:
    """Everything a worker needs to render one job (picklable)."""

    id: str
    timeline: Path
    out_dir: Path
    name: str
    options: RenderOptions
    retries: int = 2
    retry_backoff_s: float = 2.0
    render_fn: RenderFn | None = None


@dataclass(frozen=True, kw_only=True)
class JobOutcome:
    """How one job ended: ``rendered``, ``failed`` or ``interrupted`` (spool kept)."""

    id: str
    status: str
    reason: str = ""
    attempts: int = 0
    duration_s: float | None = None
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    wall_s: float = 0.0
    files: tuple[tuple[str, str, str], ...] = ()  # (format, path, sha256)
    manifest_path: str | None = None
    job_hash: str | None = None


class SessionGate:
    """Caps open sessions and spaces their starts, shared by threads with their own event loops.

    Args:
        max_sessions: at most this many sessions open at once (rotations count twice while they overlap).
        stagger_s: at least this long between two session starts (the service filters
            sessions started too close together).
        stop: when set, waiting sessions give up with :class:`JobStopped` (batch Ctrl-C).
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(self, max_sessions: int, stagger_s: float, *, stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        self.stagger_s = max(0.0, stagger_s)
        self.stop = stop
        self.clock = clock
        self._lock = threading.Lock()
        self._open = 0
        self._next_start = float("-inf")
        self.starts: list[float] = []

    @property
    def open_sessions(self) -> int:
        return self._open

    def try_acquire(self) -> float:
        """Take a slot if allowed now; return 0, else the seconds worth waiting before trying again."""
        with self._lock:
            now = self.clock()
            if self._open < self.max_sessions and now >= self._next_start:
                self._open += 1
                self._next_start = now + self.stagger_s
                self.starts.append(now)
                return 0.0
            if self._open < self.max_sessions:
                return min(0.25, max(0.005, self._next_start - now))
            return 0.05

    async def acquire(self) -> None:
        """Wait (without blocking the event loop) for a slot and the stagger."""
        while True:
            wait_s = self.try_acquire()
            if wait_s == 0.0:
                return
            if self.stop is not None and self.stop.is_set():
                raise JobStopped("the batch is stopping")
            await asyncio.sleep(wait_s)

    def release(self) -> None:
        with self._lock:
            self._open = max(0, self._open - 1)


def _has_spool(task: JobTask) -> bool:
    return (spool_dir(task.out_dir, task.name, task.options) / "meta.json").exists()


def _outcome(task: JobTask, result: Any, attempts: int, wall_s: float) -> JobOutcome:
    return JobOutcome(
        id=task.id, status="rendered", reason="rendered", attempts=attempts,
        duration_s=result.duration_s, loudness_lufs=result.loudness_lufs, true_peak_dbtp=result.true_peak_dbtp,
        wall_s=wall_s, files=tuple((f.format, str(f.path), f.sha256) for f in result.files),
        manifest_path=str(result.manifest_path) if result.manifest_path else None, job_hash=result.job_hash,
    )


def run_task(task: JobTask, *, progress: Callable[[Any], None] | None = None, session_gate: Any = None,
             on_retry: Callable[[int, str], None] | None = None) -> JobOutcome:
    """Render one job, retrying transient backend errors and resuming from its spool.

    A leftover spool (an earlier run was interrupted) is resumed; one that cannot be
    resumed (e.g. the timeline changed since) is replaced. Never raises for job failures.
    """
    from render.pipeline.render import render_timeline

    render = task.render_fn or render_timeline
    started = time.perf_counter()
    attempts, fresh = 0, False
    while True:
        attempts += 1
        resume = not fresh and _has_spool(task)
        options = replace(task.options, resume=resume, fresh=fresh)
        try:
            result = render(task.timeline, task.out_dir, options, progress=progress, session_gate=session_gate)
            return _outcome(task, result, attempts, time.perf_counter() - started)
        except (RenderInterrupted, KeyboardInterrupt, JobStopped):
            return JobOutcome(id=task.id, status="interrupted", attempts=attempts,
                              reason="interrupted; the spool is kept and the next run resumes it",
                              wall_s=time.perf_counter() - started)
        except UntrustedSpoolError as exc:  # tampered with (e.g. a poisoned cache): refused, never replaced
            return JobOutcome(id=task.id, status="invalid", attempts=attempts, wall_s=time.perf_counter() - started,
                              reason=f"{exc.message} (delete that folder, or render the job with --fresh)")
        except SpoolError as exc:
            if fresh:
                return _failed(task, exc, attempts, started)
            fresh = True
            reason = f"spool unusable ({exc.message}); starting over"
        except TransientBackendError as exc:
            if attempts > task.retries:
                return _failed(task, exc, attempts, started)
            reason = f"{type(exc).__name__}: {exc.message}"
            time.sleep(task.retry_backoff_s * 2 ** (attempts - 1))
        except RenderError as exc:
            return _failed(task, exc, attempts, started)
        except Exception as exc:  # noqa: BLE001 - isolate a bug in one job from the rest
            return _failed(task, exc, attempts, started, internal=True)
        if on_retry is not None:
            on_retry(attempts, reason)


def _failed(task: JobTask, exc: BaseException, attempts: int, started: float, internal: bool = False) -> JobOutcome:
    text = str(exc).strip() or type(exc).__name__
    reason = f"internal error: {type(exc).__name__}: {text}" if internal else f"{type(exc).__name__}: {text}"
    if attempts > 1:
        reason += f" (after {attempts} attempts)"
    return JobOutcome(id=task.id, status="failed", reason=reason, attempts=attempts,
                      wall_s=time.perf_counter() - started)


# ---------------------------------------------------------------- worker processes
_QUEUE: Any = None
_RUNNING = False


def _on_sigint(signum: int, frame: Any) -> None:
    """Interrupt the running job once; ignore Ctrl-C while idle or already stopping."""
    global _RUNNING
    if _RUNNING:
        _RUNNING = False
        raise KeyboardInterrupt


def worker_init(queue: Any) -> None:
    """Process-pool initializer: keep the progress queue, make Ctrl-C stop only a running job,
    and give each worker one BLAS thread (the pool already uses every core)."""
    global _QUEUE
    _QUEUE = queue
    signal.signal(signal.SIGINT, _on_sigint)
    limit_blas_threads(1)


_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                 "openblas_set_num_threads64_", "openblas_set_num_threads")


def limit_blas_threads(count: int) -> int:
    """Set the thread count of every OpenBLAS loaded in this process (numpy's and scipy's).

    OpenBLAS threads busy-wait on the engine's small matrices: with one worker per core
    they only steal cores from the other workers (measured: 16 jobs on 2 cores took 1.5 s
    with default threads, 0.9 s with one). Best effort, Linux only; returns how many
    libraries were limited.
    """
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            libs = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return 0
    done = 0
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, name) for name in _BLAS_SETTERS if hasattr(lib, name)), None)
        if setter is not None:
            setter(count)
            done += 1
    return done


class QueueProgress:
    """Forwards a job's audio progress to the parent, at most every ``every_s`` seconds.

    ``put`` receives ``("audio", job_id, seconds)``; default: the worker process's queue.
    """

    def __init__(self, job_id: str, every_s: float = 0.2, put: Callable[[Any], None] | None = None) -> None:
        self.job_id, self.every_s, self.last, self.put = job_id, every_s, 0.0, put

    def __call__(self, event: Any) -> None:
        received = getattr(event, "received_frames", None)
        now = time.monotonic()
        put = self.put or (_QUEUE.put if _QUEUE is not None else None)
        if received is None or put is None or now - self.last < self.every_s:
            return
        self.last = now
        put(("audio", self.job_id, received / SAMPLE_RATE))


def worker_run(task: JobTask) -> JobOutcome:
    """Run one job in a worker process (see :func:`run_task`)."""
    global _RUNNING
    if _QUEUE is not None:
        _QUEUE.put(("start", task.id, 0.0))

    def retry(attempt: int, reason: str) -> None:
        if _QUEUE is not None:
            _QUEUE.put(("retry", task.id, f"attempt {attempt} failed: {reason}"))

    _RUNNING = True
    try:
        return run_task(task, progress=QueueProgress(task.id), on_retry=retry)
    finally:
        _RUNNING = False
