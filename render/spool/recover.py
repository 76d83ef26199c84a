"""Reading a spool's index back after a crash, and repairing what a kill left behind.

Invariants the writer keeps (see :mod:`render.spool.store`): a segment's PCM file exists
before its ``segment`` line; a chunk's PCM bytes are written before its ``chunk`` line;
lines are appended whole, so only the *last* line can be torn. Repairs:

* a torn last index line (no newline, or not JSON) is cut off;
* PCM bytes past a segment's last indexed chunk are truncated;
* indexed chunks whose PCM is missing (only after a power cut between fsyncs) are dropped
  and the index is rewritten atomically without them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render.audio import BYTES_PER_FRAME
from render.errors import SpoolError

from .format import INDEX_FILE, Recovery, SegmentInfo

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
    """Scan ``root/index.jsonl``, repair the files, and return the summary.

    Args:
        root: the spool folder (already locked by the caller).

    Returns:
        Segments, byte counts, records and a :class:`render.spool.Recovery` report.
    """
    index = root / INDEX_FILE
    index.touch()
    state = RecoveredState()
    scan = _Scan()
    with open(index, "rb") as f:
        lineno = 0
        for raw in f:
            lineno += 1
            line = _parse(raw)
            if line is None:
                rest = f.read()
                if rest:
                    raise SpoolError(f"{index}:{lineno}: corrupt index line in the middle of the file",
                                     hint="the spool cannot be resumed; start over with --fresh")
                scan.torn_bytes = len(raw)
                break
            if _apply(root, line, state, scan):
                scan.kept_lines.append(raw)
            scan.good_end += len(raw)
    _repair_index(index, scan)
    trimmed = _truncate_pcm(state)
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
    return line if isinstance(line, dict) and "t" in line else None


def _apply(root: Path, line: dict[str, Any], state: RecoveredState, scan: _Scan) -> bool:
    """Fold one index line into the state; False when the line is dropped."""
    kind = line["t"]
    if kind == "segment":
        seg_id = int(line["segment"])
        if seg_id != len(state.segments):
            raise SpoolError(f"{root}: segment {seg_id} out of order (expected {len(state.segments)})",
                             hint="the spool cannot be resumed; start over with --fresh")
        path = root / str(line.get("file", f"seg-{seg_id:04d}.pcm"))
        if not path.exists():
            path.touch()
        scan.sizes[seg_id] = path.stat().st_size
        state.segments.append(SegmentInfo(id=seg_id, start=int(line["start"]), frames=0,
                                          reason=str(line["reason"]), path=path))
        state.seg_bytes.append(0)
        return True
    if kind == "record":
        state.records.append((str(line["kind"]), dict(line.get("data") or {})))
        return True
    if kind == "chunk":
        return _apply_chunk(root, line, state, scan)
    return True  # unknown line types from a newer writer are kept untouched


def _apply_chunk(root: Path, line: dict[str, Any], state: RecoveredState, scan: _Scan) -> bool:
    seg_id = int(line["segment"])
    if not 0 <= seg_id < len(state.segments):
        raise SpoolError(f"{root}: chunk of unknown segment {seg_id}",
                         hint="the spool cannot be resumed; start over with --fresh")
    seg = state.segments[seg_id]
    frames = int(line["frames"])
    offset = int(line["offset"])
    end_bytes = offset + frames * BYTES_PER_FRAME
    if seg_id in scan.lost or end_bytes > scan.sizes[seg_id]:
        scan.lost.add(seg_id)  # PCM never reached the disk: drop this and later chunks of the segment
        scan.dropped += 1
        return False
    if offset != state.seg_bytes[seg_id] or int(line["start"]) != seg.end:
        raise SpoolError(f"{root}: chunk at stream frame {line['start']} (byte {offset}) does not follow "
                         f"segment {seg_id}'s end {seg.end} (byte {state.seg_bytes[seg_id]})",
                         hint="the spool cannot be resumed; start over with --fresh")
    state.seg_bytes[seg_id] = end_bytes
    state.segments[seg_id] = type(seg)(id=seg.id, start=seg.start, frames=seg.frames + frames,
                                       reason=seg.reason, path=seg.path)
    scan.chunks += 1
    return True


def _repair_index(index: Path, scan: _Scan) -> None:
    if scan.dropped:
        tmp = index.with_name(index.name + ".tmp")
        with open(tmp, "wb") as f:
            f.writelines(scan.kept_lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, index)
    elif scan.torn_bytes:
        with open(index, "r+b") as f:
            f.truncate(scan.good_end)
            os.fsync(f.fileno())


def _truncate_pcm(state: RecoveredState) -> dict[int, int]:
    trimmed: dict[int, int] = {}
    for seg, indexed in zip(state.segments, state.seg_bytes):
        size = seg.path.stat().st_size
        if size > indexed:
            with open(seg.path, "r+b") as f:
                f.truncate(indexed)
                os.fsync(f.fileno())
        trimmed[seg.id] = max(0, size - indexed)
    return trimmed
