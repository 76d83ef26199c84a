"""Batch planning: load every job, hash it, refuse escapes and clashes, judge its outputs.

The up-to-date check never decodes audio: it reads the manifest, compares the job hash
and the SHA-256 of each file's bytes.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from render.backends import select_backend
from render.errors import BatchError, RenderError, UsageError
from render.files import manifest_path, read_regular, sha256_file
from render.pipeline.job import RenderOptions, job_hash, prepare
from render.pipeline.outputs import escape_problem, output_paths
from render.timeline.loader import load_timeline

from .jobs import BatchJob, name_problem

__all__ = ["BackendIdentity", "PlannedJob", "backend_identity", "plan_jobs", "refuse_conflicts",
           "output_state", "output_states", "find_orphans", "AUDIO_SUFFIXES"]

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac")
MANIFEST_LIMIT = 64 << 20
_PARALLEL_MIN_JOBS = 24


@dataclass(frozen=True)
class BackendIdentity:
    """What the job hash needs from a backend (its name and model), without connecting."""

    name: str
    model: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class PlannedJob:
    """A job after planning: effective options, name, hash and output paths, or why it is unusable.

    ``problem`` is set for an invalid timeline or bad overrides (the job fails, exit 2);
    ``escape`` is set when its outputs would leave OUTDIR (the batch refuses to start).
    """

    job: BatchJob
    options: RenderOptions
    name: str | None = None
    job_hash: str | None = None
    formats: tuple[str, ...] = ()
    duration_s: float = 0.0
    problem: str | None = None
    escape: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.escape is None

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.job.out_dir, str(self.name))

    def output_paths(self) -> list[Path]:
        """The manifest and every audio file this job writes."""
        return output_paths(self.job.out_dir, str(self.name), self.formats)


def backend_identity(options: RenderOptions, *, need_key: bool = True) -> BackendIdentity:
    """Resolve ``--backend`` once for the whole batch.

    Args:
        options: the batch's render options.
        need_key: False for ``--check``: ``--backend lyria`` then needs no API key (nothing connects).

    Raises:
        UsageError: ``lyria`` asked for without an API key (render mode only).
    """
    if options.backend == "lyria" and not need_key:
        return BackendIdentity("lyria", options.lyria.model, "lyria (check only: no connection)")
    backend, reason = select_backend(options.backend, options.lyria, offline_chunk_frames=options.offline_chunk_frames)
    return BackendIdentity(backend.name, backend.model, reason)


def _job_options(base: RenderOptions, job: BatchJob) -> RenderOptions:
    o = job.overrides
    changes: dict[str, object] = {}
    if o.formats is not None:
        changes["formats"] = o.formats
    if o.loudness_lufs != "timeline":
        changes["loudness_lufs"] = o.loudness_lufs
    if o.seed is not None:
        changes["seed"] = o.seed
    if o.name is not None:
        changes["name"] = o.name
    return replace(base, **changes) if changes else base


def _escape(job: BatchJob, name: str, formats: Iterable[str], out_root: Path) -> str | None:
    where = job.origin if job.origin != "argument" else job.timeline.as_posix()
    bad = name_problem(name)
    if bad:
        return f"{where}: {bad}; it would escape {out_root}/ (use a plain file name stem)"
    if job.rel_dir.is_absolute() or ".." in job.rel_dir.parts:
        return (f"{where}: {job.timeline} lies outside the jobs file's folder, so its mirrored output folder "
                f"{job.rel_dir} would escape {out_root}/ (move the jobs file up, or the timeline in)")
    problem = escape_problem(job.out_dir, name, formats, out_root)
    return f"{where}: {problem}" if problem else None


def plan_job(job: BatchJob, base: RenderOptions, identity: BackendIdentity, out_root: Path) -> PlannedJob:
    """Load and plan one job; never raises for the job's own problems (they are recorded)."""
    options = _job_options(base, job)
    try:
        loaded = load_timeline(job.timeline)
    except RenderError as exc:
        return PlannedJob(job=job, options=options, problem=str(exc))
    name = options.name if options.name is not None else loaded.name
    formats = options.formats if options.formats is not None else tuple(loaded.timeline.output.formats)
    escape = _escape(job, name, formats, out_root)
    if escape:
        return PlannedJob(job=job, options=options, name=name, escape=escape)
    try:  # offline here only to plan; the hash uses the batch's backend identity
        prepared = prepare(loaded, job.out_dir, replace(options, backend="offline", dry_run=True))
    except RenderError as exc:
        return PlannedJob(job=job, options=options, name=name, problem=f"{job.timeline}: {exc}")
    return PlannedJob(
        job=job, options=options, name=prepared.name,
        job_hash=job_hash(prepared.loaded, identity, options),  # type: ignore[arg-type]
        formats=tuple(prepared.loaded.timeline.output.formats),
        duration_s=prepared.schedule.duration_frames / prepared.schedule.sample_rate,
    )


def plan_jobs(jobs: list[BatchJob], base: RenderOptions, identity: BackendIdentity, out_root: Path, *,
              workers: int = 1) -> list[PlannedJob]:
    """Plan every job (see :func:`plan_job`), in order.

    Parsing YAML dominates a no-op batch, so with ``workers > 1`` and many jobs the
    planning is spread over forked processes (where fork is available and safe).
    """
    plan = functools.partial(plan_job, base=base, identity=identity, out_root=out_root)
    ctx = _fork_context()
    if workers <= 1 or len(jobs) < _PARALLEL_MIN_JOBS or ctx is None:
        return [plan(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(plan, jobs, chunksize=max(1, len(jobs) // (workers * 4))))


def output_states(planned: list[PlannedJob], *, workers: int = 1) -> list[tuple[str, str]]:
    """:func:`output_state` of every job, hashing files in threads (hashlib releases the GIL)."""
    if workers <= 1 or len(planned) < 2:
        return [output_state(p) for p in planned]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(output_state, planned))


def _fork_context() -> Any:
    """A fork start context when this process has a single thread (cheap and safe), else None."""
    import multiprocessing
    import threading

    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() != 1:
        return None
    return multiprocessing.get_context("fork")


def refuse_conflicts(planned: list[PlannedJob], out_root: Path) -> None:
    """Refuse, before anything renders, outputs that escape OUTDIR or that two jobs share.

    Raises:
        BatchError: listing every escape and every clash (naming both timelines).
    """
    problems = [p.escape for p in planned if p.escape]
    owners: dict[str, PlannedJob] = {}
    for p in planned:
        if not p.ok:
            continue
        key = os.path.realpath(p.manifest_path)
        first = owners.setdefault(key, p)
        if first is not p:
            problems.append(
                f"{first.job.id} and {p.job.id} would both write {p.manifest_path} (and its audio): "
                f"give one a different output name, or put them in different folders")
    if problems:
        n = len(problems)
        raise BatchError(f"{n} output problem{'s' if n > 1 else ''}; nothing was rendered:\n  " + "\n  ".join(problems))


def output_state(p: PlannedJob) -> tuple[str, str]:
    """Judge a job's outputs without decoding audio.

    Returns:
        ``("current" | "stale" | "missing", reason)``: stale when the job hash differs or a
        file's SHA-256 differs from the manifest (corrupted); missing when the manifest or
        a listed file is absent.
    """
    if not os.path.lexists(p.manifest_path):
        return "missing", f"no manifest {p.manifest_path}"
    try:
        data = json.loads(read_regular(p.manifest_path, "manifest", limit=MANIFEST_LIMIT))
    except (UsageError, ValueError, RecursionError) as exc:
        return "stale", f"manifest {p.manifest_path} is unreadable ({exc})"
    if not isinstance(data, dict) or data.get("job_hash") != p.job_hash:
        return "stale", "inputs changed (the job hash differs from the manifest's)"
    files = data.get("files") or []
    if not isinstance(files, list) or not all(isinstance(e, dict) for e in files):
        return "stale", f"manifest {p.manifest_path} is malformed (files)"
    if not files:
        return "missing", f"manifest {p.manifest_path} lists no files"
    for entry in files:
        path = p.job.out_dir / Path(str(entry.get("path", ""))).name
        if not path.is_file():
            return "missing", f"{path} is missing"
        if sha256_file(path) != entry.get("sha256"):
            return "stale", f"{path} is corrupted (its SHA-256 differs from the manifest's)"
    return "current", "up to date"



def _is_manifest(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b'"manifest_version"' in head and b'"job_hash"' in head


def find_orphans(out_root: Path, planned: list[PlannedJob]) -> list[Path]:
    """Audio files and manifests under OUTDIR that no job owns (hidden folders skipped)."""
    if not out_root.is_dir():
        return []
    owned = {os.path.realpath(path) for p in planned if p.ok for path in p.output_paths()}
    orphans: list[Path] = []
    for folder, dirs, files in os.walk(out_root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for leaf in sorted(files):
            path = Path(folder) / leaf
            suffix = path.suffix.lower()
            if leaf.startswith(".") or suffix not in AUDIO_SUFFIXES + (".json",):
                continue
            if os.path.realpath(path) in owned:
                continue
            if suffix == ".json" and not _is_manifest(path):
                continue
            orphans.append(path)
    return orphans
