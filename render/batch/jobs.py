"""Batch jobs: discovery (folders, globs, a jobs file), output paths, sharding.

Outputs mirror the input folder structure: a timeline found as ``ROOT/a/b.yaml`` (where
ROOT is the folder given, or the fixed part of a glob, or the jobs file's folder) writes
``OUTDIR/a/NAME.*``. Nothing here renders or decodes audio.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Literal

from render.errors import BatchError, UsageError
from render.files import read_regular
from render.timeline.discover import is_manifest

__all__ = ["JobOverrides", "BatchJob", "discover_jobs", "load_jobs_file", "parse_shard", "shard_of",
           "select_shard", "name_problem"]

_JOB_KEYS = {"timeline", "formats", "loudness", "seed", "name"}
_JOBS_FILE_LIMIT = 16 << 20


@dataclass(frozen=True, kw_only=True)
class JobOverrides:
    """Per-job settings from a jobs file; ``None`` (or ``"timeline"`` for loudness) keeps the batch's."""

    formats: tuple[str, ...] | None = None
    loudness_lufs: float | None | Literal["timeline"] = "timeline"
    seed: int | None = None
    name: str | None = None


@dataclass(frozen=True, kw_only=True)
class BatchJob:
    """One timeline to render and where its outputs go.

    ``id`` is the timeline path as found (POSIX, plus ``#name`` when a jobs file renames
    it); reports and ``--shard`` use it. ``rel_dir`` is the output sub-folder under OUTDIR.
    """

    id: str
    timeline: Path
    rel_dir: PurePosixPath
    out_dir: Path
    overrides: JobOverrides = JobOverrides()
    origin: str = ""


def _expand(spec: str, base: Path | None, notes: list[str] | None = None,
            exclude: Iterable[str] = ()) -> tuple[Path, list[Path]]:
    """Expand one path/folder/glob (relative to ``base``) into ``(root, timelines)``; see
    :func:`render.timeline.discover.discover` for what is skipped."""
    from render.timeline.discover import discover

    return discover(spec, base=base, notes=notes, exclude=exclude)


def _rel_dir(timeline: Path, root: Path) -> PurePosixPath:
    rel = os.path.relpath(os.path.abspath(timeline.parent), os.path.abspath(root))
    return PurePosixPath(rel.replace(os.sep, "/"))


def _job(timeline: Path, root: Path, out_root: Path, overrides: JobOverrides, origin: str) -> BatchJob:
    rel = _rel_dir(timeline, root)
    job_id = timeline.as_posix() + (f"#{overrides.name}" if overrides.name else "")
    return BatchJob(id=job_id, timeline=timeline, rel_dir=rel, out_dir=out_root / rel,
                    overrides=overrides, origin=origin)


def discover_jobs(paths: Iterable[str | Path], out_dir: str | Path, *, jobs_file: str | Path | None = None,
                  exclude: Iterable[str] = (), notes: list[str] | None = None) -> list[BatchJob]:
    """Turn PATH arguments and an optional jobs file into jobs (in order, de-duplicated).

    Args:
        paths: timeline files, folders (searched recursively, hidden folders skipped) and globs.
            Files inside OUTDIR (manifests, when OUTDIR lies in an input folder) and render
            manifests anywhere (``*.manifest.json``, or JSON with ``manifest_version``) are never jobs;
            other YAML/JSON files found in folders are skipped unless they are timelines.
        out_dir: OUTDIR; each job's ``out_dir`` mirrors its timeline's folder below its root.
        exclude: globs (relative to each root, or a file name) not to pick up.
        notes: collects one line per skipped file.
        jobs_file: a YAML/JSON list of ``{timeline, formats, loudness, seed, name}``;
            its paths are relative to the jobs file and its folder is their root.

    Raises:
        UsageError: a path that does not exist, a glob matching nothing, or no input at all.
        BatchError: a malformed jobs file.
    """
    out_root = Path(out_dir)
    out_real = os.path.realpath(out_root) + os.sep
    jobs: list[BatchJob] = []
    seen: set[str] = set()
    for raw in paths:
        root, files = _expand(str(raw), None, notes, exclude)
        for f in files:
            key = os.path.realpath(f)
            if key not in seen and not key.startswith(out_real) and not is_manifest(f):  # OUTDIR in an input folder
                seen.add(key)
                jobs.append(_job(f, root, out_root, JobOverrides(), "argument"))
    if jobs_file is not None:
        jf = Path(jobs_file)
        for index, spec, overrides in load_jobs_file(jf):
            _, files = _expand(spec, jf.parent)
            jobs.extend(_job(f, jf.parent, out_root, overrides, f"{jf}: jobs[{index}]") for f in files
                        if not os.path.realpath(f).startswith(out_real) and not is_manifest(f))
    if not jobs:
        raise UsageError("no timelines found", hint="give timeline files, folders or globs, or --jobs-file")
    return jobs


def _read_structured(path: Path) -> Any:
    try:
        text = read_regular(path, "jobs file", limit=_JOBS_FILE_LIMIT).decode("utf-8")
    except UsageError as exc:
        raise BatchError(exc.message) from None
    except UnicodeDecodeError as exc:
        raise BatchError(f"{path}: the jobs file is not UTF-8 text (byte {exc.start})",
                         hint="save it as UTF-8") from None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:  # JSON is YAML, so one parser reads both
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise BatchError(f"{path}: not valid YAML/JSON: {exc}") from None


def load_jobs_file(path: Path) -> list[tuple[int, str, JobOverrides]]:
    """Read a jobs file: a list (or ``{jobs: [...]}``) of entries with a ``timeline`` key.

    Returns:
        ``(index, timeline spec, overrides)`` per entry.

    Raises:
        BatchError: naming the entry and field, e.g. ``jobs.yaml: jobs[2].loudness: ...``.
    """
    data = _read_structured(path)
    if isinstance(data, dict) and set(data) == {"jobs"}:
        data = data["jobs"]
    if not isinstance(data, list) or not data:
        raise BatchError(f"{path}: expected a non-empty list of jobs (or a mapping with one key, 'jobs')",
                         hint="e.g. - {timeline: music/intro.yaml, formats: [wav], loudness: -16}")
    return [(i, *_entry(path, i, item)) for i, item in enumerate(data)]


def _entry(path: Path, index: int, item: Any) -> tuple[str, JobOverrides]:
    where = f"{path}: jobs[{index}]"
    if isinstance(item, str):
        return item, JobOverrides()
    if not isinstance(item, dict) or "timeline" not in item:
        raise BatchError(f"{where}: each job needs a 'timeline' (a path relative to the jobs file)")
    unknown = sorted(set(map(str, item)) - _JOB_KEYS)
    if unknown:
        raise BatchError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_JOB_KEYS))}")
    formats = item.get("formats")
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    if formats is not None and (not isinstance(formats, list) or not all(isinstance(f, str) for f in formats)):
        raise BatchError(f"{where}.formats: {formats!r}: give a list such as [wav, mp3]")
    loudness: Any = item.get("loudness", "timeline")
    if isinstance(loudness, str) and loudness.lower() in ("off", "none"):
        loudness = None
    elif loudness != "timeline" and loudness is not None and not isinstance(loudness, (int, float)):
        raise BatchError(f"{where}.loudness: {loudness!r}: give LUFS such as -16, or off")
    seed = item.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BatchError(f"{where}.seed: {seed!r}: give a whole number")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise BatchError(f"{where}.name: {name!r}: give a file name stem")
    overrides = JobOverrides(
        formats=tuple(f.lower() for f in formats) if formats is not None else None,
        loudness_lufs=float(loudness) if isinstance(loudness, (int, float)) else loudness,
        seed=seed, name=name,
    )
    return str(item["timeline"]), overrides


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an output file stem (it would escape its folder), or None."""
    if not name or name in (".", ".."):
        return f"output name {name!r} is not a file name"
    if os.path.isabs(name) or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"output name {name!r} is an absolute path"
    if "/" in name or "\\" in name or os.sep in name:
        return f"output name {name!r} contains a path separator"
    return None


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``I/N`` (1 <= I <= N).

    Raises:
        UsageError: anything else.
    """
    try:
        left, right = text.split("/")
        index, count = int(left), int(right)
    except ValueError:
        raise UsageError(f"--shard {text!r}: use I/N, e.g. 2/4") from None
    if count < 1 or not 1 <= index <= count:
        raise UsageError(f"--shard {text!r}: I must be between 1 and N, e.g. 1/{max(count, 1)}")
    return index, count


def shard_of(job_id: str, count: int) -> int:
    """The shard (1-based) a job belongs to: SHA-256 of its id modulo ``count``.

    Hashing the id (not its position) keeps every job in its shard when others are
    added or removed, so per-shard CI caches stay warm.
    """
    digest = hashlib.sha256(job_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_shard(jobs: list[BatchJob], shard: tuple[int, int] | None) -> list[BatchJob]:
    """The jobs of shard ``(I, N)``, in their original order (all jobs when ``None``)."""
    if shard is None:
        return list(jobs)
    index, count = shard
    return [j for j in jobs if shard_of(j.id, count) == index]
