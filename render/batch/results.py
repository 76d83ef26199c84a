"""The batch's shared types: options, per-job reports, the result and progress events."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from render.errors import RenderError
from render.pipeline import RenderOptions

from .plan import PlannedJob
from .worker import JobOutcome

__all__ = ["BatchOptions", "BatchResult", "JobReport", "BatchEvent", "BatchInterrupted", "report_for",
           "FAILED_STATES"]

FAILED_STATES = ("failed", "invalid", "interrupted", "not-run", "stale", "missing")


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """How a batch runs (CLI flags map 1:1).

    Args:
        render: options every job starts from (backend, formats, loudness, Lyria settings ...).
        jobs_file: optional YAML/JSON list of ``{timeline, formats, loudness, seed, name}``.
        exclude: globs of files not to pick up from folders (besides each folder's .lyriaignore).
        jobs: offline worker processes (default: the number of cores).
        force: re-render jobs that are up to date.
        check: render nothing; judge outputs (current, stale, missing) and list orphans.
        shard: ``(I, N)``: only the I-th of N disjoint parts.
        fail_fast: stop starting jobs after the first failure.
        retries: extra attempts after a transient backend error (each resumes the spool).
        retry_backoff_s: wait before the first retry, doubled each time.
        max_sessions: Lyria sessions open at once across the batch.
        session_stagger_s: seconds between two Lyria session starts.
        cluster: run the jobs on a Dask cluster instead of local processes: ``tcp://HOST:8786``
            (any Dask scheduler address) or ``local:N`` (N worker processes here); needs the
            ``cluster`` extra. OUT must be shared with every worker.
        cluster_timeout_s: longest wait for the scheduler and its first worker.
        render_fn: replaces :func:`render.pipeline.render_timeline` (tests, embedding);
            must be picklable for worker processes.
    """

    render: RenderOptions = field(default_factory=RenderOptions)
    jobs_file: Path | None = None
    exclude: tuple[str, ...] = ()
    jobs: int | None = None
    force: bool = False
    check: bool = False
    shard: tuple[int, int] | None = None
    fail_fast: bool = False
    retries: int = 2
    retry_backoff_s: float = 2.0
    max_sessions: int = 4
    session_stagger_s: float = 45.0
    cluster: str | None = None
    cluster_timeout_s: float = 10.0
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
