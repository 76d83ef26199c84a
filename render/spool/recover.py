"""Reading a spool's index back after a crash, and repairing what a kill left behind.

Invariants the writer keeps (see :mod:`render.spool.store`): a segment's PCM file exists
before its ``segment`` line; a chunk's PCM bytes are written before its ``chunk`` line;
lines are appended whole, so only the *last* line can be torn. Repairs:

* a torn last index line (no newline, or not JSON) is cut off;
* PCM bytes past a segment's last indexed chunk are truncated;
* indexed chunks whose PCM is missing (only after a power cut between fsyncs) are dropped
  and the index is rewritten atomically without them.

Nothing in the index is trusted: a line that names another file, or numbers that do not
match the files, make the spool refused (:class:`SpoolError`, naming ``--fresh``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render.audio import BYTES_PER_FRAME
from render.errors import SpoolError

from .format import INDEX_FILE, SEGMENT_REASONS, Recovery, SegmentInfo, open_member, refused, remove_entry

__all__ = ["RecoveredState", "recover"]


@dataclass(kw_only=True)
class RecoveredState:
    """The in-memory summary :class:`render.spool.Spool` resumes from."""

    segments: list[SegmentInfo] = field(default_factory=list)
    seg_bytes: list[int] = field(default_factory=list)
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    recovery: Recovery = field(default_factory=Recovery)


@dataclass(kw_only=True)
class _Scan:
    good_end: int = 0
    torn_bytes: int = 0
    dropped: int = 0
    chunks: int = 0
    kept_lines: list[bytes] = field(default_factory=list)
    sizes: dict[int, int] = field(default_factory=dict)
    lost: set[int] = field(default_factory=set)


def recover(root: Path) -> RecoveredState:
    """Scan ``root/index.jsonl``, check it against the files, repair them, and return the summary.

    Every path and number in the index is checked: a segment's file must be its own plain
    ``seg-NNNN.pcm`` inside the spool, chunks must be whole, positive and contiguous, and
    their bytes must exist. Files are opened without following links.

    Args:
        root: the spool folder (already locked by the caller).

    Returns:
        Segments, byte counts, records and a :class:`render.spool.Recovery` report.

    Raises:
        SpoolError: the index or its files fail a check (exit 2, naming ``--fresh``).
    """
    state = RecoveredState()
    scan = _Scan()
    fd = open_member(root, INDEX_FILE, os.O_RDWR, create=True)
    with os.fdopen(fd, "r+b") as f:
        lineno = 0
        for raw in f:
            lineno += 1
            line = _parse(raw)
            if line is None:
                if f.read(1):
                    raise refused(root, f"{INDEX_FILE}:{lineno}: corrupt index line in the middle of the file")
                scan.torn_bytes = len(raw)
                break
            try:
                keep = _apply(root, line, state, scan)
            except SpoolError as exc:
                detail = exc.message.removeprefix(f"spool {root}: ")
                raise refused(root, f"{INDEX_FILE}:{lineno}: {detail}") from None
            if keep:
                scan.kept_lines.append(raw)
            scan.good_end += len(raw)
        _repair_index(root, f, scan)
    trimmed = _truncate_pcm(root, state)
    state.recovery = Recovery(
        torn_index_bytes=scan.torn_bytes, trimmed_pcm_bytes=trimmed, dropped_chunks=scan.dropped,
        segments=len(state.segments), chunks=scan.chunks,
        received_end=max((s.end for s in state.segments if s.frames), default=0),
    )
    return state


def _parse(raw: bytes) -> dict[str, Any] | None:
    if not raw.endswith(b"\n"):
        return None
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    return line if isinstance(line, dict) and isinstance(line.get("t"), str) else None


def _int(line: dict[str, Any], key: str, minimum: int = 0) -> int:
    value = line.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpoolError(f"{line['t']} {key} {value!r} is not a whole number >= {minimum}")
    return value


def _apply(root: Path, line: dict[str, Any], state: RecoveredState, scan: _Scan) -> bool:
    """Fold one index line into the state; False when the line is dropped."""
    kind = line["t"]
    if kind == "segment":
        _apply_segment(root, line, state, scan)
    elif kind == "record":
        data = line.get("data") or {}
        if not isinstance(line.get("kind"), str) or not isinstance(data, dict):
            raise SpoolError("record without a kind or with data that is not an object")
        state.records.append((line["kind"], dict(data)))
    elif kind == "chunk":
        return _apply_chunk(line, state, scan)
    return True  # unknown line types from a newer writer are kept untouched


def _apply_segment(root: Path, line: dict[str, Any], state: RecoveredState, scan: _Scan) -> None:
    seg_id = _int(line, "segment")
    if seg_id != len(state.segments):
        raise SpoolError(f"segment {seg_id} out of order (expected {len(state.segments)})")
    name = f"seg-{seg_id:04d}.pcm"
    if line.get("file", name) != name:
        raise SpoolError(f"segment {seg_id} names file {line.get('file')!r}; a spool only holds its own {name}")
    if line.get("reason") not in SEGMENT_REASONS:
        raise SpoolError(f"segment {seg_id} has reason {line.get('reason')!r}")
    fd = open_member(root, name, os.O_RDONLY, create=True)
    scan.sizes[seg_id] = os.fstat(fd).st_size
    os.close(fd)
    state.segments.append(SegmentInfo(id=seg_id, start=_int(line, "start"), frames=0,
                                      reason=line["reason"], path=root / name))
    state.seg_bytes.append(0)


def _apply_chunk(line: dict[str, Any], state: RecoveredState, scan: _Scan) -> bool:
    seg_id, offset, start, frames = (_int(line, "segment"), _int(line, "offset"), _int(line, "start"),
                                     _int(line, "frames", 1))
    if not isinstance(line.get("spans", []), list) or not isinstance(line.get("info", {}), dict):
        raise SpoolError("chunk spans or info of the wrong type")
    if seg_id >= len(state.segments):
        raise SpoolError(f"chunk of unknown segment {seg_id}")
    seg = state.segments[seg_id]
    end_bytes = offset + frames * BYTES_PER_FRAME
    if seg_id in scan.lost or end_bytes > scan.sizes[seg_id]:
        scan.lost.add(seg_id)  # PCM never reached the disk: drop this and later chunks of the segment
        scan.dropped += 1
        return False
    if offset != state.seg_bytes[seg_id] or start != seg.end:
        raise SpoolError(f"chunk at stream frame {start} (byte {offset}) does not follow "
                         f"segment {seg_id}'s end {seg.end} (byte {state.seg_bytes[seg_id]})")
    state.seg_bytes[seg_id] = end_bytes
    state.segments[seg_id] = type(seg)(id=seg.id, start=seg.start, frames=seg.frames + frames,
                                       reason=seg.reason, path=seg.path)
    scan.chunks += 1
    return True


def _repair_index(root: Path, f: Any, scan: _Scan) -> None:
    if scan.dropped:
        index = root / INDEX_FILE
        tmp = index.with_name(index.name + ".tmp")
        remove_entry(tmp)
        fd = open_member(root, tmp.name, os.O_WRONLY | os.O_EXCL, create=True)
        with os.fdopen(fd, "wb") as out:
            out.writelines(scan.kept_lines)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, index)
    elif scan.torn_bytes:
        f.truncate(scan.good_end)
        os.fsync(f.fileno())


def _truncate_pcm(root: Path, state: RecoveredState) -> dict[int, int]:
    trimmed: dict[int, int] = {}
    for seg, indexed in zip(state.segments, state.seg_bytes):
        fd = open_member(root, seg.path.name, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            if size > indexed:
                os.ftruncate(fd, indexed)
                os.fsync(fd)
        finally:
            os.close(fd)
        trimmed[seg.id] = max(0, size - indexed)
    return trimmed
