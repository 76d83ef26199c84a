"""Render many timelines: skip what is up to date, check for CI, shard, run concurrently.

This is the library twin of ``lyria-render batch``::

    from render.batch import BatchOptions, render_batch
    result = render_batch(["timelines/"], "out/", BatchOptions(jobs=2))
    print(result.counts, result.exit_code)

Phases: discover jobs -> plan every job (load, hash; invalid timelines are recorded) ->
refuse escapes and clashes (:class:`BatchError`, nothing renders) -> pick the shard ->
judge outputs (current ones are skipped) -> render the rest (process pool for the offline
engine, threads under one :class:`~render.batch_run.SessionGate` for Lyria).

Exit codes (:attr:`BatchResult.exit_code`): 0 all rendered or skipped (``--check``: all
current); 1 some job failed (``--check``: some output stale or missing); 2 invalid input:
an invalid timeline or bad per-job override (the other jobs still run), or, raised as
:class:`BatchError` before anything renders, clashing outputs and paths escaping OUTDIR.
Ctrl-C raises :class:`BatchInterrupted` (exit 130) carrying the partial result.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .batch_jobs import BatchJob, discover_jobs, select_shard
from .batch_plan import PlannedJob, backend_identity, find_orphans, output_states, plan_jobs, refuse_conflicts
from .batch_run import JobOutcome, JobTask
from .errors import RenderError
from .pipeline import RenderOptions

__all__ = ["BatchOptions", "BatchResult", "JobReport", "BatchEvent", "BatchInterrupted", "render_batch"]

FAILED_STATES = ("failed", "invalid", "interrupted", "not-run", "stale", "missing")


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """How a batch runs (CLI flags map 1:1).

    Args:
        render: options every job starts from (backend, formats, loudness, Lyria settings ...).
        jobs_file: optional YAML/JSON list of ``{timeline, formats, loudness, seed, name}``.
        jobs: offline worker processes (default: the number of cores).
        force: re-render jobs that are up to date.
        check: render nothing; judge outputs (current, stale, missing) and list orphans.
        shard: ``(I, N)``: only the I-th of N disjoint parts.
        fail_fast: stop starting jobs after the first failure.
        retries: extra attempts after a transient backend error (each resumes the spool).
        retry_backoff_s: wait before the first retry, doubled each time.
        max_sessions: Lyria sessions open at once across the batch.
        session_stagger_s: seconds between two Lyria session starts.
        render_fn: replaces :func:`render.pipeline.render_timeline` (tests, embedding);
            must be picklable for worker processes.
    """

    render: RenderOptions = field(default_factory=RenderOptions)
    jobs_file: Path | None = None
    jobs: int | None = None
    force: bool = False
    check: bool = False
    shard: tuple[int, int] | None = None
    fail_fast: bool = False
    retries: int = 2
    retry_backoff_s: float = 2.0
    max_sessions: int = 4
    session_stagger_s: float = 45.0
    render_fn: Callable[..., Any] | None = None

    @property
    def workers(self) -> int:
        """``jobs``, else the cores this process may use (CPU affinity, e.g. in a container)."""
        if self.jobs:
            return self.jobs
        affinity = getattr(os, "sched_getaffinity", None)
        return len(affinity(0)) if affinity else (os.cpu_count() or 1)


@dataclass(frozen=True, kw_only=True)
class JobReport:
    """One job's line in the report.

    ``status``: rendered, skipped, failed, invalid, interrupted or not-run (render mode);
    current, stale, missing or invalid (``--check``).
    """

    id: str
    timeline: str
    name: str | None
    out_dir: str
    status: str
    reason: str = ""
    attempts: int = 0
    duration_s: float | None = None
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    wall_s: float = 0.0
    files: tuple[tuple[str, str, str], ...] = ()
    manifest_path: str | None = None
    job_hash: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATES


@dataclass(frozen=True, kw_only=True)
class BatchResult:
    """What a batch did: one :class:`JobReport` per job of the shard, orphans, exit code."""

    mode: str
    out_dir: Path
    jobs: tuple[JobReport, ...]
    orphans: tuple[Path, ...] = ()
    shard: tuple[int, int] | None = None
    total_jobs: int = 0
    backend: str = ""
    wall_s: float = 0.0
    interrupted: bool = False

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for job in self.jobs:
            out[job.status] = out.get(job.status, 0) + 1
        return out

    @property
    def failures(self) -> tuple[JobReport, ...]:
        return tuple(j for j in self.jobs if j.failed)

    @property
    def exit_code(self) -> int:
        """0 all good, 1 failed (or stale/missing with check), 2 invalid input, 130 interrupted."""
        if self.interrupted:
            return 130
        statuses = {j.status for j in self.jobs}
        if "invalid" in statuses:
            return 2
        return 1 if statuses & set(FAILED_STATES) else 0


@dataclass(frozen=True)
class BatchEvent:
    """Progress for a sink (the CLI's bar): ``kind`` is planned, start, audio, retry or done.

    ``planned``: value = (jobs to run, audio seconds to render, jobs total);
    ``audio``: value = seconds of the job received so far; ``retry``: value = reason;
    ``done``: ``report`` is set.
    """

    kind: str
    job_id: str = ""
    value: Any = None
    report: JobReport | None = None


class BatchInterrupted(RenderError):
    """Ctrl-C during a batch: finished jobs stay, running ones keep their spools."""

    exit_code = 130

    def __init__(self, result: BatchResult) -> None:
        super().__init__("interrupted; finished jobs are kept, running ones keep their spools",
                         hint="run the same command again to continue")
        self.result = result


def report_for(p: PlannedJob, status: str, reason: str = "", outcome: JobOutcome | None = None) -> JobReport:
    """Build a :class:`JobReport` from a planned job and (optionally) how its render ended."""
    base: dict[str, Any] = dict(id=p.job.id, timeline=p.job.timeline.as_posix(), name=p.name,
                                out_dir=p.job.out_dir.as_posix(), status=status, reason=reason,
                                duration_s=p.duration_s if p.ok else None, job_hash=p.job_hash)
    if outcome is not None:
        base.update(reason=outcome.reason, attempts=outcome.attempts, wall_s=outcome.wall_s,
                    files=outcome.files, manifest_path=outcome.manifest_path,
                    loudness_lufs=outcome.loudness_lufs, true_peak_dbtp=outcome.true_peak_dbtp)
        if outcome.duration_s is not None:
            base["duration_s"] = outcome.duration_s
    elif status in ("skipped", "current", "rendered"):
        base["manifest_path"] = p.manifest_path.as_posix()
        base.update(_manifest_facts(p))
    return JobReport(**base)


def _manifest_facts(p: PlannedJob) -> dict[str, Any]:
    """Loudness, peak and files of an up-to-date job, from its manifest (already read once)."""
    import json

    try:
        data = json.loads(p.manifest_path.read_bytes())
    except (OSError, ValueError):
        return {}
    after = (data.get("master") or {}).get("loudness_after") or {}
    files = tuple((str(f.get("format")), (p.job.out_dir / Path(str(f.get("path"))).name).as_posix(),
                   str(f.get("sha256"))) for f in data.get("files") or [])
    return {"loudness_lufs": after.get("integrated_lufs"), "true_peak_dbtp": after.get("true_peak_dbtp"),
            "files": files}


def _task(p: PlannedJob, options: BatchOptions) -> JobTask:
    return JobTask(id=p.job.id, timeline=p.job.timeline, out_dir=p.job.out_dir, name=p.name or "",
                   options=p.options, retries=options.retries, retry_backoff_s=options.retry_backoff_s,
                   render_fn=options.render_fn)


def render_batch(paths: Iterable[str | Path], out_dir: str | Path, options: BatchOptions | None = None, *,
                 progress: Callable[[BatchEvent], None] | None = None) -> BatchResult:
    """Render (or, with ``check``, judge) every timeline under ``paths`` into ``out_dir``.

    Args:
        paths: timeline files, folders (recursive) and globs; may be empty with a jobs file.
        out_dir: OUTDIR; outputs mirror the input folders below it.
        options: see :class:`BatchOptions`.
        progress: receives :class:`BatchEvent` objects (called from the calling thread,
            or from Lyria job threads).

    Returns:
        A :class:`BatchResult`; see its ``exit_code``.

    Raises:
        UsageError: bad paths or options (exit 2).
        BatchError: clashing outputs or paths escaping OUTDIR, found before anything renders (exit 2).
        BatchInterrupted: Ctrl-C (exit 130); ``.result`` holds what finished.
    """
    options = options or BatchOptions()
    started = time.perf_counter()
    out_root = Path(out_dir)
    jobs: list[BatchJob] = discover_jobs(paths, out_root, jobs_file=options.jobs_file)
    identity = backend_identity(options.render, need_key=not options.check)
    workers = options.workers
    planned = plan_jobs(jobs, options.render, identity, out_root, workers=workers)
    refuse_conflicts(planned, out_root)
    chosen = {j.id for j in select_shard(jobs, options.shard)}
    mine = [p for p in planned if p.job.id in chosen]
    common = dict(out_dir=out_root, shard=options.shard, total_jobs=len(jobs), backend=identity.name)
    if options.check:
        states = iter(output_states([p for p in mine if p.ok], workers=workers))
        reports = [report_for(p, *next(states)) if p.ok else report_for(p, "invalid", p.problem or "") for p in mine]
        for report in reports:
            _emit(progress, BatchEvent("done", report.id, report=report))
        return BatchResult(mode="check", jobs=tuple(reports), orphans=tuple(find_orphans(out_root, planned)),
                           wall_s=time.perf_counter() - started, **common)
    from .batch_exec import execute

    reports, interrupted = execute(mine, options, identity.name, progress)
    result = BatchResult(mode="render", jobs=tuple(reports), wall_s=time.perf_counter() - started,
                         interrupted=interrupted, **common)
    if interrupted:
        raise BatchInterrupted(result)
    return result


def _emit(progress: Callable[[BatchEvent], None] | None, event: BatchEvent) -> None:
    if progress is not None:
        progress(event)
