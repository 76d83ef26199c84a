"""Sample headers (shdr) and sample data: 16-bit, 24-bit (sm24) and Ogg Vorbis (sf3) samples.

PCM data is read straight from the bank's memory map; a compressed sample is decoded by
libsndfile (soundfile) from its byte range on first use and kept.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import SoundFontError
from .riff import Chunk

__all__ = ["SHDR_DTYPE", "SampleHeader", "SampleData", "SampleStore", "parse_headers",
           "MONO", "RIGHT", "LEFT", "LINKED", "VORBIS", "ROM"]

SHDR_DTYPE = np.dtype([("name", "S20"), ("start", "<u4"), ("end", "<u4"), ("loop_start", "<u4"),
                       ("loop_end", "<u4"), ("rate", "<u4"), ("pitch", "u1"), ("correction", "i1"),
                       ("link", "<u2"), ("type", "<u2")])

MONO, RIGHT, LEFT, LINKED = 1, 2, 4, 8
VORBIS = 0x10
ROM = 0x8000
_HINT_DAMAGED = "the file looks damaged: get a fresh copy of the bank"


@dataclass(frozen=True)
class SampleHeader:
    """One sample as the bank describes it.

    ``start``/``end`` are frames into smpl for PCM, bytes into smpl for a compressed sample;
    ``loop_start``/``loop_end`` are frames relative to the sample's first frame.
    ``usable`` is False for ROM samples and broken headers (zones using them stay silent).
    """

    index: int
    name: str
    start: int
    end: int
    loop_start: int
    loop_end: int
    rate: int
    root: int
    correction: int
    link: int
    channel: int
    compressed: bool
    usable: bool


@dataclass(frozen=True)
class SampleData:
    """Playable data of one sample: ``data * scale`` is in [-1, 1]; ``loop`` is None if unusable."""

    data: np.ndarray
    scale: float
    loop: tuple[int, int] | None


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _header(i: int, rec: np.void, smpl: memoryview, path: Path, warnings: list[str]) -> SampleHeader:
    name = _name(rec["name"])
    stype = int(rec["type"])
    compressed = bool(stype & VORBIS)
    start, end = int(rec["start"]), int(rec["end"])
    unit, limit = ("bytes", len(smpl)) if compressed else ("frames", len(smpl) // 2)
    if not start <= end <= limit:
        raise SoundFontError(path, f"sample #{i} '{name}' spans {start}..{end} {unit}, "
                             f"outside the sample data ({limit} {unit})", hint=_HINT_DAMAGED)
    if compressed and end > start and bytes(smpl[start:start + 4]) != b"OggS":
        raise SoundFontError(path, f"compressed sample #{i} '{name}' does not start with an Ogg page", hint=_HINT_DAMAGED)
    ls, le = int(rec["loop_start"]), int(rec["loop_end"])
    if not compressed:
        ls, le = ls - start, le - start
    usable = True
    if stype & ROM:
        usable = False
        warnings.append(f"sample '{name}' lives in a ROM this player does not have: its zones are silent")
    elif end - start < 2 or int(rec["rate"]) == 0:
        usable = False
        warnings.append(f"sample '{name}' is empty or has sample rate 0: its zones are silent")
    root = int(rec["pitch"])
    return SampleHeader(i, name, start, end, ls, le, int(rec["rate"]), root if root <= 127 else 60,
                        int(rec["correction"]), int(rec["link"]), stype & 0x0F, compressed, usable)


def parse_headers(raw: memoryview, smpl: memoryview, path: Path, warnings: list[str]) -> list[SampleHeader]:
    """Sample headers of an shdr chunk (its terminal 'EOS' record dropped), bounds-checked against smpl."""
    records = np.frombuffer(raw, dtype=SHDR_DTYPE)
    headers = [_header(i, rec, smpl, path, warnings) for i, rec in enumerate(records[:-1])]
    n = len(headers)
    unlinked = [h.name for h in headers
                if h.channel in (LEFT, RIGHT) and not (h.link < n and headers[h.link].channel in (LEFT, RIGHT))]
    if unlinked:
        warnings.append(f"{len(unlinked)} stereo sample(s) (first: '{unlinked[0]}') link to no stereo partner: "
                        "each plays alone, as its zones place it")
    return headers


class SampleStore:
    """Sample data of one bank, read from its memory map (thread-safe; decoded samples are kept)."""

    def __init__(self, buf: memoryview, path: Path, smpl: Chunk, sm24: Chunk | None, headers: list[SampleHeader]) -> None:
        self._buf = buf
        self._path = path
        self._smpl = smpl
        self._sm24 = sm24
        self._headers = headers
        self._decoded: dict[int, SampleData] = {}
        self._lock = threading.Lock()

    def get(self, index: int) -> SampleData:
        """The playable data of sample ``index`` (decoded and kept on first use if compressed)."""
        item = self._decoded.get(index)
        if item is not None:
            return item
        h = self._headers[index]
        if h.compressed:
            data, scale = self._vorbis(h), 1.0
        elif self._sm24 is not None:
            data, scale = self._pcm24(h), 1.0 / 8388608.0
        else:
            data, scale = self._pcm16(h), 1.0 / 32768.0
        n = data.shape[0]
        loop = (h.loop_start, h.loop_end) if 0 <= h.loop_start < h.loop_end <= n and h.loop_end - h.loop_start >= 2 else None
        item = SampleData(data, scale, loop)
        with self._lock:
            self._decoded.setdefault(index, item)
        return self._decoded[index]

    def release(self) -> None:
        """Drop the kept samples and the view of the map (best effort: arrays still held elsewhere keep it)."""
        with self._lock:
            self._decoded.clear()
        try:
            self._buf.release()
        except BufferError:
            pass

    def _pcm16(self, h: SampleHeader) -> np.ndarray:
        return np.frombuffer(self._buf, dtype="<i2", count=h.end - h.start, offset=self._smpl.offset + 2 * h.start)

    def _pcm24(self, h: SampleHeader) -> np.ndarray:
        hi = self._pcm16(h).astype(np.int32)
        assert self._sm24 is not None
        lo = np.frombuffer(self._buf, dtype=np.uint8, count=h.end - h.start, offset=self._sm24.offset + h.start)
        return (hi << 8) | lo.astype(np.int32)

    def _vorbis(self, h: SampleHeader) -> np.ndarray:
        raw = bytes(self._buf[self._smpl.offset + h.start:self._smpl.offset + h.end])
        try:
            data, _ = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise SoundFontError(self._path, f"compressed sample #{h.index} '{h.name}' cannot be decoded: {exc}",
                                 hint=_HINT_DAMAGED) from exc
        return np.ascontiguousarray(data[:, 0])
