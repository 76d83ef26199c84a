"""Crash-safe on-disk store of the audio chunks a render receives; reopened to resume.

One folder per render (e.g. ``OUTDIR/.lyria-render/NAME.spool/``)::

    meta.json      format version, timeline SHA-256, schedule digest, name, created (atomic)
    lock           fcntl.flock'ed while a render uses the spool (the kernel frees it on death)
    seg-0000.pcm   raw int16 LE stereo 48 kHz, one file per segment (session leg)
    index.jsonl    one JSON line per segment start, chunk and record, appended in order

A chunk's index line is appended only after its PCM bytes were written, so a render
killed at any moment (SIGKILL included) leaves a spool that :meth:`Spool.open` repairs:
a torn last index line is cut off and every PCM file is truncated to its last indexed
byte. Nothing is kept in memory per chunk, so memory stays flat whatever the duration.

Positions are *stream* frames at 48 kHz (see :mod:`render.schedule`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from render.audio import BYTES_PER_FRAME, Segment
from render.backends.base import ControlSpan
from render.errors import SpoolError
from render.files import atomic_write_bytes, write_all

from .format import (
    FORMAT_VERSION,
    INDEX_FILE,
    LOCK_FILE,
    META_FILE,
    SEGMENT_REASONS,
    ChunkRecord,
    Recovery,
    SegmentInfo,
    SpoolMeta,
    check_meta,
    check_root,
    clear_files,
    open_member,
    read_meta,
    remove_entry,
    schedule_digest,
    span_from_dict,
    span_to_dict,
    take_lock,
)
from .recover import recover

__all__ = [
    "FORMAT_VERSION",
    "SpoolMeta",
    "SegmentInfo",
    "ChunkRecord",
    "Recovery",
    "Segment",
    "Spool",
    "schedule_digest",
    "span_to_dict",
    "span_from_dict",
]


class Spool:
    """An open spool. Build with :meth:`create` or :meth:`open`; not thread-safe (one writer).

    Args (of the constructor, used by :meth:`create`/:meth:`open` only):
        path: the spool folder.
        meta: what it was made from.
        lock_fd: the held lock file descriptor.
        fsync_interval_s: 0 fsyncs every chunk (PCM, then index); a positive value fsyncs
            at most that often; ``None`` never fsyncs (a SIGKILL loses nothing either way,
            only a power cut can).
    """

    def __init__(self, path: Path, meta: SpoolMeta, lock_fd: int, fsync_interval_s: float | None) -> None:
        self.path = path
        self.meta = meta
        self.recovery = Recovery()
        self._lock_fd: int | None = lock_fd
        self._fsync_interval_s = fsync_interval_s
        self._last_fsync = 0.0
        self._segments: list[SegmentInfo] = []
        self._seg_bytes: list[int] = []
        self._pcm_fds: dict[int, int] = {}
        self._records: list[tuple[str, dict[str, Any]]] = []
        self._chunks = 0
        self._index_fd: int | None = None
        self.fsync_count = 0

    # ----------------------------------------------------------------- construction
    @classmethod
    def create(cls, path: str | os.PathLike[str], meta: SpoolMeta, *, replace: bool = False,
               fsync_interval_s: float | None = 0.0) -> "Spool":
        """Make a new, empty spool at ``path`` (parents created) and lock it.

        Args:
            path: the spool folder.
            meta: stored in ``meta.json``; ``created`` is filled in when empty.
            replace: clear an existing spool there instead of refusing.
            fsync_interval_s: see the class docstring.

        Returns:
            The open, locked spool.
        """
        root = Path(path)
        if os.path.lexists(root) and not replace:
            check_root(root)
        elif replace and (root.is_symlink() or root.exists() and not root.is_dir()):
            remove_entry(root)  # --fresh: a link is removed, never followed
        root.mkdir(parents=True, exist_ok=True)
        lock = root / LOCK_FILE
        if lock.is_symlink() or replace and os.path.lexists(lock) and not lock.is_file():
            remove_entry(lock)  # a planted link, or (--fresh) a folder where the lock belongs
        lock_fd = take_lock(root)
        try:
            if os.path.lexists(root / META_FILE) and not replace:
                raise SpoolError(
                    f"a spool already exists at {root}",
                    hint="resume it (--resume), or start over (--fresh) to discard it",
                )
            remove_entry(root / META_FILE)  # first: a half-replaced spool is no spool
            clear_files(root)
            if not meta.created:
                meta = dataclasses.replace(meta, created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            (root / INDEX_FILE).touch()
            atomic_write_bytes(root / META_FILE, json.dumps(dataclasses.asdict(meta), indent=2).encode())
        except BaseException:
            os.close(lock_fd)
            raise
        spool = cls(root, meta, lock_fd, fsync_interval_s)
        spool._open_index()
        return spool

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, timeline_sha256: str | None = None,
             schedule_digest: str | None = None, fsync_interval_s: float | None = 0.0) -> "Spool":
        """Reopen a spool to resume: lock it, check it, repair a crash's leftovers.

        Args:
            path: the spool folder.
            timeline_sha256: when given, must equal the stored one (else the timeline changed).
            schedule_digest: when given, must equal the stored one.
            fsync_interval_s: see the class docstring.

        Returns:
            The open spool; ``spool.recovery`` says what was found and repaired.
        """
        root = Path(path)
        check_root(root)
        if not os.path.lexists(root / META_FILE):
            raise SpoolError(
                f"no spool at {root} (missing {META_FILE})",
                hint="there is nothing to resume: render without --resume",
            )
        lock_fd = take_lock(root)
        try:
            meta = read_meta(root)
            check_meta(root, meta, timeline_sha256, schedule_digest)
            spool = cls(root, meta, lock_fd, fsync_interval_s)
            spool._recover()
        except BaseException:
            os.close(lock_fd)
            raise
        spool._open_index()
        return spool

    def _open_index(self) -> None:
        self._index_fd = open_member(self.path, INDEX_FILE, os.O_WRONLY | os.O_APPEND, create=True)

    def _recover(self) -> None:
        """Rebuild the in-memory summary from the index and repair a torn tail."""
        state = recover(self.path)
        self._segments = state.segments
        self._seg_bytes = state.seg_bytes
        self._records = state.records
        self._chunks = state.recovery.chunks
        self.recovery = state.recovery

    # ----------------------------------------------------------------- writing
    def begin_segment(self, start_frame: int, reason: str) -> int:
        """Start a new segment (a session leg) at stream frame ``start_frame``.

        Args:
            start_frame: stream frame of the segment's first frame (>= 0).
            reason: ``start`` | ``rotation`` | ``reconnect`` | ``resume``.

        Returns:
            The segment id (0, 1, ...).
        """
        if reason not in SEGMENT_REASONS:
            raise SpoolError(f"segment reason {reason!r} is not one of {', '.join(SEGMENT_REASONS)}")
        if start_frame < 0:
            raise SpoolError(f"segment start {start_frame} is negative; stream frames start at 0")
        seg_id = len(self._segments)
        seg_path = self.path / f"seg-{seg_id:04d}.pcm"
        remove_entry(seg_path)  # a leftover of a torn segment line (or a planted link): never followed
        fd = open_member(self.path, seg_path.name, os.O_WRONLY | os.O_APPEND | os.O_EXCL, create=True)
        self._pcm_fds[seg_id] = fd
        self._segments.append(SegmentInfo(id=seg_id, start=start_frame, frames=0, reason=reason, path=seg_path))
        self._seg_bytes.append(0)
        self._append_line({"t": "segment", "segment": seg_id, "start": start_frame, "reason": reason,
                           "file": seg_path.name, "wall": time.time()})
        return seg_id

    def append(self, chunk_pcm: bytes, stream_start: int, spans: Sequence[ControlSpan | Mapping[str, Any]] = (),
               info: Mapping[str, Any] | None = None, *, segment: int | None = None) -> None:
        """Store one chunk: PCM bytes first (flushed, fsync'd per policy), then its index line.

        Args:
            chunk_pcm: int16 LE stereo frames.
            stream_start: stream frame of its first frame; must follow the segment's end.
            spans: what the audio was generated from, positions in stream frames.
            info: backend extras (JSON-serialisable).
            segment: the segment to append to; default the latest one.
        """
        seg = self._segment(segment)
        if len(chunk_pcm) % BYTES_PER_FRAME:
            raise SpoolError(f"chunk of {len(chunk_pcm)} bytes is not whole frames of {BYTES_PER_FRAME} bytes")
        if stream_start != seg.end:
            raise SpoolError(
                f"chunk at stream frame {stream_start} does not follow segment {seg.id}'s end {seg.end}",
                hint="a segment holds contiguous audio; begin a new segment after a gap",
            )
        frames = len(chunk_pcm) // BYTES_PER_FRAME
        offset = self._seg_bytes[seg.id]
        fd = self._pcm_fds.get(seg.id)
        if fd is None:
            fd = self._pcm_fds[seg.id] = open_member(self.path, seg.path.name, os.O_WRONLY | os.O_APPEND)
        write_all(fd, chunk_pcm)
        sync = self._sync_due()
        if sync:
            os.fsync(fd)
        line = {"t": "chunk", "segment": seg.id, "offset": offset, "start": stream_start, "frames": frames,
                "spans": [s if isinstance(s, Mapping) else span_to_dict(s) for s in spans],
                "info": dict(info or {})}
        self._append_line(line, sync=sync)
        self._seg_bytes[seg.id] = offset + len(chunk_pcm)
        self._segments[seg.id] = dataclasses.replace(seg, frames=seg.frames + frames)
        self._chunks += 1

    def record(self, kind: str, data: Mapping[str, Any]) -> None:
        """Append a record (``event``, ``filtered``, ``warning``, ``seam``, ``session``...)."""
        payload = dict(data)
        self._append_line({"t": "record", "kind": kind, "data": payload, "wall": time.time()})
        self._records.append((kind, payload))

    def _sync_due(self) -> bool:
        if self._fsync_interval_s is None:
            return False
        now = time.monotonic()
        if now - self._last_fsync >= self._fsync_interval_s:
            self._last_fsync = now
            return True
        return False

    def _append_line(self, line: Mapping[str, Any], *, sync: bool = True) -> None:
        if self._index_fd is None:
            raise SpoolError(f"spool {self.path} is closed")
        write_all(self._index_fd, (json.dumps(line, default=str, separators=(",", ":")) + "\n").encode())
        if sync and self._fsync_interval_s is not None:
            os.fsync(self._index_fd)
            self.fsync_count += 1

    def _segment(self, segment: int | None) -> SegmentInfo:
        if not self._segments:
            raise SpoolError("no segment begun; call begin_segment() before append()")
        if segment is None:
            return self._segments[-1]
        if not 0 <= segment < len(self._segments):
            raise SpoolError(f"segment {segment} does not exist (have {len(self._segments)})")
        return self._segments[segment]

    # ----------------------------------------------------------------- reading
    @property
    def received_end(self) -> int:
        """The highest stream frame covered by any segment (0 when empty)."""
        return max((s.end for s in self._segments if s.frames), default=0)

    @property
    def chunks(self) -> int:
        return self._chunks

    def all_segments(self) -> list[SegmentInfo]:
        """Every segment begun, in order, including empty or superseded ones."""
        return list(self._segments)

    def segments(self) -> list[Segment]:
        """The segments the master stitches, ordered by start.

        Empty segments and segments wholly covered by earlier ones (a failed leg during a
        handover) are left out; consecutive segments overlap where sessions handed over.
        """
        chain: list[Segment] = []
        chain_end = 0
        for seg in sorted((s for s in self._segments if s.frames), key=lambda s: (s.start, -s.end)):
            if chain and seg.end <= chain_end:
                continue
            chain.append(Segment(path=seg.path, start=seg.start, frames=seg.frames, offset_bytes=0,
                                 label=f"{seg.path.stem} ({seg.reason})"))
            chain_end = max(chain_end, seg.end)
        return chain

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The data of every record of ``kind`` (all records when ``None``), in order."""
        return [dict(d) for k, d in self._records if kind is None or k == kind]

    def iter_chunks(self) -> Iterator[ChunkRecord]:
        """Read the chunk index back from disk, in the order it was written."""
        with open(self.path / INDEX_FILE, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    return
                line = json.loads(raw)
                if line.get("t") == "chunk":
                    yield ChunkRecord(segment=line["segment"], offset_bytes=line["offset"], start=line["start"],
                                      frames=line["frames"], spans=tuple(line["spans"]), info=line["info"])

    # ----------------------------------------------------------------- closing
    def close(self) -> None:
        """Flush to disk, close the files and release the lock (idempotent)."""
        for fd in self._pcm_fds.values():
            if self._fsync_interval_s is not None:
                os.fsync(fd)
            os.close(fd)
        self._pcm_fds.clear()
        if self._index_fd is not None:
            if self._fsync_interval_s is not None:
                os.fsync(self._index_fd)
            os.close(self._index_fd)
            self._index_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def remove(self) -> None:
        """Close, then delete the spool's own files and its folder (after a finished render)."""
        self.close()
        clear_files(self.path)
        for name in (META_FILE, LOCK_FILE):
            (self.path / name).unlink(missing_ok=True)
        try:
            self.path.rmdir()
        except OSError:
            pass  # someone put other files there; leave them

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Spool({str(self.path)!r}, segments={len(self._segments)}, received_end={self.received_end})"


