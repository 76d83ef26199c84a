"""RIFF chunks appended to a finished WAV: ``smpl`` (loop), ``acid`` (tempo, beats, root), ``cue `` + ``LIST/adtl``.

Samplers, Godot and DAWs read ``smpl`` loops; ACID-aware DAWs and Godot read ``acid``;
Wwise, Unreal and DAWs read ``cue `` points named by ``LIST/adtl/labl``.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Sequence

from .tags import Cue, Loop

__all__ = ["smpl_chunk", "acid_chunk", "cue_chunks", "append_chunks"]

_ACID_ROOT_SET, _ACID_STRETCH, _ACID_ONE_SHOT = 0x02, 0x04, 0x01
_MIDI_C3 = 48


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def smpl_chunk(sample_rate: int, loop: Loop, root_note: int | None = None) -> bytes:
    """One forward loop from ``loop.start_frame`` for ``loop.length_frames`` (end inclusive)."""
    period_ns = round(1e9 / sample_rate)
    end = loop.start_frame + loop.length_frames - 1
    unity = _MIDI_C3 + 12 + (root_note or 0)  # MIDI unity note: the key's tonic (C4 = 60 when unknown)
    body = struct.pack("<9I", 0, 0, period_ns, unity, 0, 0, 0, 1, 0)
    body += struct.pack("<6I", 0, 0, loop.start_frame, end, 0, 0)
    return _chunk(b"smpl", body)


def acid_chunk(bpm: float, beats: int, meter: tuple[int, int], root_note: int | None, looped: bool) -> bytes:
    """ACID metadata: flags, root note (MIDI, C3 = 48), beats in the file, meter and tempo."""
    flags = _ACID_STRETCH | (0 if looped else _ACID_ONE_SHOT) | (_ACID_ROOT_SET if root_note is not None else 0)
    root = _MIDI_C3 + (root_note or 0)
    body = struct.pack("<IHHfIHHf", flags, root, 0x8000, 0.0, beats, meter[1], meter[0], float(bpm))
    return _chunk(b"acid", body)


def cue_chunks(cues: Sequence[Cue]) -> bytes:
    """A ``cue `` chunk with one point per marker and a ``LIST/adtl`` with a ``labl`` for each."""
    if not cues:
        return b""
    points = b"".join(struct.pack("<II4sIII", i, c.frame, b"data", 0, 0, c.frame) for i, c in enumerate(cues, 1))
    labels = b"".join(_chunk(b"labl", struct.pack("<I", i) + c.label.encode("utf-8") + b"\0")
                      for i, c in enumerate(cues, 1))
    return _chunk(b"cue ", struct.pack("<I", len(cues)) + points) + _chunk(b"LIST", b"adtl" + labels)


def append_chunks(path: Path, chunks: bytes) -> None:
    """Append whole chunks at the end of a RIFF file and fix the RIFF size."""
    if not chunks:
        return
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() % 2:
            f.write(b"\0")
        f.write(chunks)
        size = f.tell()
        f.seek(4)
        f.write(struct.pack("<I", size - 8))
