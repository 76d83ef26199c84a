"""The spool's on-disk format: value types, JSON forms, file helpers, meta checks.

Kept apart from :mod:`render.spool.store` (the writer/reader) so that recovery
(:mod:`render.spool.recover`) can share it. See :mod:`render.spool.store` for the layout.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from render.audio import SAMPLE_RATE
from render.backends.base import ControlSpan
from render.controls import GenerationConfig, WeightedPrompt
from render.errors import SpoolError, UntrustedSpoolError

__all__ = [
    "FORMAT_VERSION",
    "SpoolMeta",
    "SegmentInfo",
    "ChunkRecord",
    "Recovery",
    "schedule_digest",
    "span_to_dict",
    "span_from_dict",
]

FORMAT_VERSION = 1
META_FILE = "meta.json"
INDEX_FILE = "index.jsonl"
LOCK_FILE = "lock"
SEGMENT_REASONS = ("start", "rotation", "reconnect", "resume")


@dataclass(frozen=True, kw_only=True)
class SpoolMeta:
    """What a spool was made from; :meth:`Spool.open` refuses a different timeline."""

    name: str
    timeline_sha256: str
    schedule_digest: str = ""
    created: str = ""
    format: int = FORMAT_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SegmentInfo:
    """One segment (one session leg): ``frames`` of audio from stream frame ``start``."""

    id: int
    start: int
    frames: int
    reason: str
    path: Path

    @property
    def end(self) -> int:
        return self.start + self.frames


@dataclass(frozen=True, kw_only=True)
class ChunkRecord:
    """One indexed chunk, as read back from ``index.jsonl`` (spans as stored dicts)."""

    segment: int
    offset_bytes: int
    start: int
    frames: int
    spans: tuple[dict[str, Any], ...]
    info: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Recovery:
    """What :meth:`Spool.open` found and repaired."""

    torn_index_bytes: int = 0
    trimmed_pcm_bytes: Mapping[int, int] = field(default_factory=dict)
    dropped_chunks: int = 0
    segments: int = 0
    chunks: int = 0
    received_end: int = 0

    @property
    def repaired(self) -> bool:
        return bool(self.torn_index_bytes or any(self.trimmed_pcm_bytes.values()) or self.dropped_chunks)

    def describe(self) -> str:
        """One line for logs: what was recovered and what was cut."""
        text = (f"{self.chunks} chunks in {self.segments} segments, audio up to stream frame "
                f"{self.received_end} ({self.received_end / SAMPLE_RATE:.2f} s)")
        cuts = []
        if self.torn_index_bytes:
            cuts.append(f"cut a torn index line of {self.torn_index_bytes} bytes")
        trimmed = sum(self.trimmed_pcm_bytes.values())
        if trimmed:
            cuts.append(f"truncated {trimmed} unindexed PCM bytes")
        if self.dropped_chunks:
            cuts.append(f"dropped {self.dropped_chunks} indexed chunks whose PCM was missing")
        return text + ("; " + ", ".join(cuts) if cuts else "; clean")


def span_to_dict(span: ControlSpan) -> dict[str, Any]:
    """JSON form of a :class:`ControlSpan` (prompts as ``{text, weight}``, config as fields)."""
    return {
        "start_sample": span.start_sample,
        "prompts": None if span.prompts is None else [p.to_wire() for p in span.prompts],
        "config": None if span.config is None else span.config.as_dict(),
        "epoch": span.epoch,
    }


def span_from_dict(data: Mapping[str, Any]) -> ControlSpan:
    """Inverse of :func:`span_to_dict`."""
    prompts = data.get("prompts")
    config = data.get("config")
    return ControlSpan(
        start_sample=int(data["start_sample"]),
        prompts=None if prompts is None else tuple(WeightedPrompt.from_wire(p) for p in prompts),
        config=None if config is None else GenerationConfig(**config),
        epoch=data.get("epoch"),
    )


def schedule_digest(schedule: Any) -> str:
    """SHA-256 of a schedule's canonical JSON form (any frozen dataclass tree)."""
    blob = json.dumps(dataclasses.asdict(schedule), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()




FRESH_HINT = "this spool cannot be resumed; start over with --fresh (it discards the spool)"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_META_LIMIT = 1 << 20


def refused(root: Path, message: str) -> UntrustedSpoolError:
    """The error for a spool that fails a check: names it, and names ``--fresh``."""
    return UntrustedSpoolError(f"spool {root}: {message}", hint=FRESH_HINT)


def open_member(root: Path, name: str, flags: int, *, create: bool = False) -> int:
    """Open the spool file ``name`` (a plain name) without following a symbolic link.

    Only a regular file with a single link is accepted, so a tampered spool cannot make a
    read, write or truncation reach a file outside it.

    Raises:
        SpoolError: a name with a folder part, a link, a folder, a device or an unreadable file.
    """
    if not name or name in (".", "..") or os.path.basename(name) != name or "\\" in name:
        raise refused(root, f"file name {name!r} is not a plain file name inside the spool")
    try:
        fd = os.open(root / name, flags | _NOFOLLOW | os.O_NONBLOCK | (os.O_CREAT if create else 0), 0o644)
    except OSError as exc:
        what = "a symbolic link" if os.path.islink(root / name) else exc.strerror
        raise refused(root, f"cannot open {name}: {what}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise refused(root, f"{name} is not a plain file of the spool (a folder, device or hard link)")
    return fd


def remove_entry(path: Path) -> None:
    """Delete a spool entry whatever it is (a link is removed, never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def check_root(root: Path) -> None:
    """Refuse a spool folder that is a symbolic link (its files would live elsewhere)."""
    if root.is_symlink():
        raise refused(root, "the spool folder is a symbolic link")


def take_lock(path: Path) -> int:
    """Take the spool's exclusive lock; SpoolError naming the holder when it is taken."""
    fd = open_member(path, LOCK_FILE, os.O_RDWR, create=True)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SpoolError(
            f"spool {path} is in use by another render (pid {holder})",
            hint="wait for that render to finish or stop it; a killed render's lock is freed automatically",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def clear_files(root: Path) -> None:
    for p in root.glob("seg-*.pcm"):
        remove_entry(p)
    for name in (INDEX_FILE, INDEX_FILE + ".tmp", META_FILE + ".tmp"):
        remove_entry(root / name)


_META_TYPES = {"name": str, "timeline_sha256": str, "schedule_digest": str, "created": str, "format": int,
               "extra": dict}


def read_meta(root: Path) -> SpoolMeta:
    fd = open_member(root, META_FILE, os.O_RDONLY)
    try:
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read(_META_LIMIT + 1).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise refused(root, f"{META_FILE} is unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise refused(root, f"{META_FILE} is not a JSON object")
    for key, kind in _META_TYPES.items():
        if key in data and (not isinstance(data[key], kind) or isinstance(data[key], bool)):
            raise refused(root, f"{META_FILE}: {key} {data[key]!r} is not a {kind.__name__}")
    if not isinstance(data.get("name"), str) or not isinstance(data.get("timeline_sha256"), str):
        raise refused(root, f"{META_FILE} lacks its name or timeline_sha256")
    return SpoolMeta(**{k: data[k] for k in _META_TYPES if k in data})


def check_meta(root: Path, meta: SpoolMeta, timeline_sha256: str | None, digest: str | None) -> None:
    if meta.format != FORMAT_VERSION:
        raise SpoolError(f"spool {root} has format {meta.format}; this version reads format {FORMAT_VERSION}",
                         hint=FRESH_HINT)
    if timeline_sha256 is not None and meta.timeline_sha256 != timeline_sha256:
        raise SpoolError(
            f"the timeline changed since spool {root} was made (SHA-256 {meta.timeline_sha256[:12]}... "
            f"then, {timeline_sha256[:12]}... now)",
            hint="restore the timeline to resume, or start over with --fresh",
        )
    if digest is not None and meta.schedule_digest and meta.schedule_digest != digest:
        raise SpoolError(
            f"the schedule changed since spool {root} was made (digest {meta.schedule_digest[:12]}... "
            f"then, {digest[:12]}... now), e.g. a different lyria-render version",
            hint=FRESH_HINT,
        )
