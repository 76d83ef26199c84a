"""Execute planned batch jobs: skip current ones, then run the rest serially, in worker
processes (offline engine) or in threads sharing one session gate (Lyria).

Progress events are always delivered from the calling thread: workers and job threads
post to a queue that the scheduling loop drains.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_mod
import shutil
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any, Callable

from render.audio import SAMPLE_RATE
from render.pipeline.job import spool_dir

from .plan import PlannedJob, output_state, output_states
from .results import BatchEvent, BatchOptions, JobReport, report_for
from .worker import JobOutcome, JobStopped, JobTask, SessionGate, run_task, worker_init, worker_run

__all__ = ["execute"]

Progress = Callable[[BatchEvent], None] | None


class _Run:
    """Book-keeping of one execution: reports by job id, stop flags, the progress queue."""

    def __init__(self, options: BatchOptions, progress: Progress) -> None:
        self.options = options
        self.progress = progress
        self.reports: dict[str, JobReport] = {}
        self.stop_reason = ""
        self.interrupted = False
        self.stop = threading.Event()
        self.queue: Any = queue_mod.Queue()

    def emit(self, event: BatchEvent) -> None:
        if self.progress is not None:
            self.progress(event)

    def record(self, report: JobReport) -> None:
        self.reports[report.id] = report
        self.emit(BatchEvent("done", report.id, report=report))

    def finish(self, p: PlannedJob, outcome: JobOutcome) -> None:
        if outcome.status == "interrupted" and output_state(p)[0] == "current":
            _drop_spool(p)  # Ctrl-C landed after the manifest was written: the job is complete
            self.record(report_for(p, "rendered", "finished as the batch was interrupted"))
        else:
            self.record(report_for(p, outcome.status, outcome=outcome))
        if outcome.status == "interrupted":
            self.interrupted = True
            self.stop_reason = self.stop_reason or "not started: the batch was interrupted"
        elif outcome.status == "failed" and self.options.fail_fast:
            self.stop_reason = self.stop_reason or f"not started: --fail-fast after {p.job.id} failed"

    def drain(self) -> None:
        while True:
            try:
                kind, job_id, value = self.queue.get_nowait()
            except queue_mod.Empty:
                return
            self.emit(BatchEvent(kind, job_id, value))


def _drop_spool(p: PlannedJob) -> None:
    if not p.options.keep_spool:
        shutil.rmtree(spool_dir(p.job.out_dir, p.name or "", p.options), ignore_errors=True)


def execute(planned: list[PlannedJob], options: BatchOptions, backend: str,
            progress: Progress) -> tuple[list[JobReport], bool]:
    """Skip, render and report every planned job; returns ``(reports in job order, interrupted)``."""
    run = _Run(options, progress)
    to_run = _triage(planned, run)
    run.emit(BatchEvent("planned", value=(len(to_run), sum(p.duration_s for p in to_run), len(planned))))
    workers = min(options.workers, len(to_run))
    try:
        if to_run and not run.stop_reason:
            if options.cluster:
                from .cluster import run_cluster

                run_cluster(to_run, [_task(p, options) for p in to_run], run, backend)
            elif backend == "lyria":
                _pooled(to_run, run, ThreadPoolExecutor(max_workers=max(1, options.max_sessions)), gate=True)
            elif workers <= 1:
                _serial(to_run, run)
            else:
                _pooled(to_run, run, _process_pool(workers, run), gate=False)
    except KeyboardInterrupt:
        run.interrupted = True
        run.stop_reason = run.stop_reason or "not started: the batch was interrupted"
    for p in to_run:
        if p.job.id not in run.reports:
            run.record(report_for(p, "not-run", run.stop_reason or "not started"))
    return [run.reports[p.job.id] for p in planned], run.interrupted


def _triage(planned: list[PlannedJob], run: _Run) -> list[PlannedJob]:
    """Record invalid and up-to-date jobs; return the ones to render."""
    to_run = []
    valid = [p for p in planned if p.ok]
    workers = run.options.workers
    states = iter([("stale", "forced")] * len(valid) if run.options.force else output_states(valid, workers=workers))
    for p in planned:
        if not p.ok:
            run.record(report_for(p, "invalid", p.problem or ""))
        elif next(states)[0] == "current":
            run.record(report_for(p, "skipped", "up to date"))
        else:
            to_run.append(p)
    if run.options.fail_fast and any(r.status == "invalid" for r in run.reports.values()):
        run.stop_reason = "not started: --fail-fast and an invalid timeline"
    return to_run


def _task(p: PlannedJob, options: BatchOptions) -> JobTask:
    """The picklable task that renders one planned job."""
    return JobTask(id=p.job.id, timeline=p.job.timeline, out_dir=p.job.out_dir, name=p.name or "",
                   options=p.options, retries=options.retries, retry_backoff_s=options.retry_backoff_s,
                   render_fn=options.render_fn)


def _serial(to_run: list[PlannedJob], run: _Run) -> None:
    for p in to_run:
        if run.stop_reason:
            return
        run.emit(BatchEvent("start", p.job.id))

        def audio(event: Any, job_id: str = p.job.id) -> None:
            received = getattr(event, "received_frames", None)
            if received is not None:
                run.emit(BatchEvent("audio", job_id, received / SAMPLE_RATE))

        outcome = run_task(_task(p, run.options), progress=audio,
                           on_retry=lambda n, why, job_id=p.job.id: run.emit(
                               BatchEvent("retry", job_id, f"attempt {n} failed: {why}")))
        run.finish(p, outcome)


def _process_pool(workers: int, run: _Run) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        ctx = multiprocessing.get_context("fork")  # cheap start; nothing else runs in this process yet
    else:
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    run.queue = ctx.Queue()
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init, initargs=(run.queue,))


def _thread_job(task: Any, run: _Run, gate: SessionGate) -> JobOutcome:
    run.queue.put(("start", task.id, 0.0))

    def audio(event: Any) -> None:
        if run.stop.is_set():
            raise JobStopped("the batch is stopping")  # unwinds the conductor; the spool is kept
        received = getattr(event, "received_frames", None)
        if received is not None:
            run.queue.put(("audio", task.id, received / SAMPLE_RATE))

    return run_task(task, progress=audio, session_gate=gate,
                    on_retry=lambda n, why: run.queue.put(("retry", task.id, f"attempt {n} failed: {why}")))


def _pooled(to_run: list[PlannedJob], run: _Run, executor: Executor, *, gate: bool) -> None:
    session_gate = SessionGate(run.options.max_sessions, run.options.session_stagger_s, stop=run.stop) if gate else None
    try:
        futures: dict[Future[JobOutcome], PlannedJob] = {}
        for p in to_run:
            task = _task(p, run.options)
            if session_gate is not None:
                futures[executor.submit(_thread_job, task, run, session_gate)] = p
            else:
                futures[executor.submit(worker_run, task)] = p
        try:
            _collect(futures, run)
        except KeyboardInterrupt:
            run.interrupted = True
            run.stop_reason = "not started: the batch was interrupted"
            run.stop.set()
            _forward_sigint(executor)
            _collect(futures, run)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        run.drain()


def _collect(futures: dict[Future[JobOutcome], PlannedJob], run: _Run) -> None:
    pending = {f for f, p in futures.items() if p.job.id not in run.reports and not f.cancelled()}
    while pending:
        done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
        run.drain()
        for f in done:
            p = futures[f]
            if p.job.id in run.reports or f.cancelled():
                continue
            run.finish(p, _outcome_of(f, p))
        if run.stop_reason:
            for f in pending:
                f.cancel()


def _outcome_of(f: Future[JobOutcome], p: PlannedJob) -> JobOutcome:
    try:
        return f.result()
    except KeyboardInterrupt:
        return JobOutcome(id=p.job.id, status="interrupted", reason="interrupted; the spool is kept")
    except BaseException as exc:  # noqa: BLE001 - a worker died (e.g. killed): isolate it
        return JobOutcome(id=p.job.id, status="failed", reason=f"worker error: {type(exc).__name__}: {exc}")


def _forward_sigint(executor: Executor) -> None:
    """Pass Ctrl-C to worker processes (they may not share our terminal's process group)."""
    processes = getattr(executor, "_processes", None) or {}
    for proc in list(processes.values()):
        try:
            os.kill(proc.pid, signal.SIGINT)
        except (OSError, AttributeError):
            pass
