"""Strict RIFF reading of a SoundFont file: the ``sfbk`` form and its three LIST chunks.

Every chunk header must lie inside its parent and every declared size must fit, so a
truncated or corrupted file fails here with the chunk and offsets named.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import SoundFontError

__all__ = ["Chunk", "SfbkLayout", "read_layout"]

_HEADER = struct.Struct("<4sI")
_HINT_NOT_SF = "give a SoundFont 2 (.sf2) or SoundFont 3 (.sf3) bank"
_HINT_DAMAGED = "the file looks damaged or incompletely downloaded: get a fresh copy of the bank"


@dataclass(frozen=True)
class Chunk:
    """One RIFF chunk: its four-letter id, where its data starts and how many bytes it has."""

    cid: str
    offset: int
    size: int


@dataclass(frozen=True)
class SfbkLayout:
    """The sub-chunks of the INFO, sdta and pdta lists, by id (first occurrence kept)."""

    info: dict[str, Chunk]
    sdta: dict[str, Chunk]
    pdta: dict[str, Chunk]


def _cid(raw: bytes) -> str:
    return raw.decode("latin-1")


def _plausible(buf: memoryview, pos: int, end: int) -> bool:
    """Whether a chunk header at ``pos`` has a printable id and a size that fits before ``end``."""
    if end - pos < 8:
        return False
    raw_id, size = _HEADER.unpack_from(buf, pos)
    return all(0x20 <= c <= 0x7E for c in raw_id) and pos + 8 + size <= end


def _after(buf: memoryview, data: int, size: int, end: int) -> int:
    """Where the chunk after one of ``size`` bytes at ``data`` starts.

    RIFF pads odd sizes to even, but some bank writers (sf3 tools among them) do not: the
    unpadded position is taken when only it holds a plausible chunk header.
    """
    nxt = data + size
    if not size & 1:
        return nxt
    if not _plausible(buf, nxt + 1, end) and _plausible(buf, nxt, end):
        return nxt
    return nxt + 1


def read_chunks(buf: memoryview, start: int, end: int, path: Path, where: str) -> list[Chunk]:
    """Every chunk between ``start`` and ``end``; raises on a header or size that does not fit."""
    chunks: list[Chunk] = []
    pos = start
    while pos < end:
        if end - pos < 8:
            raise SoundFontError(path, f"{where}: {end - pos} stray byte(s) at offset {pos}, too few for a chunk header",
                                 hint=_HINT_DAMAGED)
        raw_id, size = _HEADER.unpack_from(buf, pos)
        data = pos + 8
        if data + size > end:
            raise SoundFontError(
                path, f"{where}: chunk '{_cid(raw_id)}' at offset {pos} declares {size} bytes, "
                f"but only {end - data} remain", hint=_HINT_DAMAGED)
        chunks.append(Chunk(_cid(raw_id), data, size))
        pos = _after(buf, data, size, end)
    return chunks


def _list(buf: memoryview, chunk: Chunk, path: Path) -> tuple[str, list[Chunk]]:
    if chunk.size < 4:
        raise SoundFontError(path, f"LIST chunk at offset {chunk.offset - 8} is {chunk.size} bytes, too short for its type",
                             hint=_HINT_DAMAGED)
    kind = _cid(bytes(buf[chunk.offset:chunk.offset + 4]))
    return kind, read_chunks(buf, chunk.offset + 4, chunk.offset + chunk.size, path, f"LIST '{kind}'")


def _riff_body(buf: memoryview, path: Path) -> tuple[int, int]:
    """The (start, end) of the sfbk form's chunks, after checking the RIFF header."""
    n = len(buf)
    if n < 12:
        raise SoundFontError(path, f"file is {n} bytes, too short to be a SoundFont", hint=_HINT_NOT_SF)
    raw_id, size = _HEADER.unpack_from(buf, 0)
    form = bytes(buf[8:12])
    if raw_id != b"RIFF":
        raise SoundFontError(path, f"not a RIFF file (starts with {bytes(raw_id)!r})", hint=_HINT_NOT_SF)
    if form != b"sfbk":
        raise SoundFontError(path, f"RIFF file of form {form!r}, not a SoundFont ('sfbk')", hint=_HINT_NOT_SF)
    if size < 4:
        raise SoundFontError(path, f"RIFF header declares {size} bytes, too few for a SoundFont", hint=_HINT_DAMAGED)
    if 8 + size > n:
        raise SoundFontError(path, f"truncated: the RIFF header declares {8 + size} bytes but the file has {n}",
                             hint=_HINT_DAMAGED)
    return 12, 8 + size


def read_layout(buf: memoryview, path: Path) -> SfbkLayout:
    """Check the RIFF/sfbk structure of ``buf`` and return where its sub-chunks are."""
    start, end = _riff_body(buf, path)
    lists: dict[str, dict[str, Chunk]] = {}
    for chunk in read_chunks(buf, start, end, path, "RIFF 'sfbk'"):
        if chunk.cid != "LIST":
            continue  # unknown top-level chunks are allowed and skipped
        kind, subs = _list(buf, chunk, path)
        if kind in lists:
            raise SoundFontError(path, f"more than one LIST '{kind}' chunk", hint=_HINT_DAMAGED)
        table: dict[str, Chunk] = {}
        for sub in subs:
            table.setdefault(sub.cid, sub)
        lists[kind] = table
    for kind in ("INFO", "sdta", "pdta"):
        if kind not in lists:
            raise SoundFontError(path, f"the LIST '{kind}' chunk is missing", hint=_HINT_DAMAGED)
    return SfbkLayout(lists["INFO"], lists["sdta"], lists["pdta"])
