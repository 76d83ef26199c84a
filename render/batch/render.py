"""Render many timelines: skip what is up to date, check for CI, shard, run concurrently.

This is the library twin of ``lyria-render batch``::

    from render.batch import BatchOptions, render_batch
    result = render_batch(["timelines/"], "out/", BatchOptions(jobs=2))
    print(result.counts, result.exit_code)

Phases: discover jobs -> plan every job (load, hash; invalid timelines are recorded) ->
refuse escapes and clashes (:class:`BatchError`, nothing renders) -> pick the shard ->
judge outputs (current ones are skipped) -> render the rest (process pool for the offline
engine, threads under one :class:`~render.batch.worker.SessionGate` for Lyria, or with
``cluster`` Dask tasks under one cluster-wide gate: :mod:`render.batch.cluster`).

Exit codes (:attr:`BatchResult.exit_code`): 0 all rendered or skipped (``--check``: all
current); 1 some job failed (``--check``: some output stale or missing); 2 invalid input:
an invalid timeline or bad per-job override (the other jobs still run), or, raised as
:class:`BatchError` before anything renders, clashing outputs and paths escaping OUTDIR.
Ctrl-C raises :class:`BatchInterrupted` (exit 130) carrying the partial result.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

from .jobs import BatchJob, discover_jobs, select_shard
from .plan import backend_identity, find_orphans, output_states, plan_jobs, refuse_conflicts
from .results import BatchEvent, BatchInterrupted, BatchOptions, BatchResult, report_for

__all__ = ["render_batch"]

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
    jobs: list[BatchJob] = discover_jobs(paths, out_root, jobs_file=options.jobs_file, exclude=options.exclude)
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
    from .execute import execute

    reports, interrupted = execute(mine, options, identity.name, progress)
    result = BatchResult(mode="render", jobs=tuple(reports), wall_s=time.perf_counter() - started,
                         interrupted=interrupted, **common)
    if interrupted:
        raise BatchInterrupted(result)
    return result


def _emit(progress: Callable[[BatchEvent], None] | None, event: BatchEvent) -> None:
    if progress is not None:
        progress(event)
