"""A small independent RIFF reader for tests: chunks, and the ``smpl``, ``acid``, ``cue `` and ``LIST/adtl`` fields."""

from __future__ import annotations

import struct
from pathlib import Path


def chunks(path: Path) -> dict[bytes, list[bytes]]:
    """Top-level chunk bodies by id (a LIST is keyed ``LIST/<type>``)."""
    data = Path(path).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", "not a RIFF/WAVE file"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8, "RIFF size does not match the file"
    out: dict[bytes, list[bytes]] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        key = cid + b"/" + body[:4] if cid == b"LIST" else cid
        out.setdefault(key, []).append(body)
        pos += 8 + size + (size % 2)
    return out


def smpl_loops(path: Path) -> list[tuple[int, int]]:
    """(start, end inclusive) of every ``smpl`` loop."""
    body = chunks(path)[b"smpl"][0]
    count = struct.unpack("<I", body[28:32])[0]
    return [struct.unpack("<2I", body[36 + 24 * i + 8 : 36 + 24 * i + 16]) for i in range(count)]


def acid(path: Path) -> dict[str, float]:
    flags, root, _, _, beats, denom, numer, tempo = struct.unpack("<IHHfIHHf", chunks(path)[b"acid"][0][:24])
    return {"flags": flags, "root_note": root, "beats": beats, "meter": (numer, denom), "tempo": tempo}


def cue_points(path: Path) -> list[tuple[int, str]]:
    """(sample offset, label) for each ``cue `` point, labels from ``LIST/adtl/labl``."""
    all_chunks = chunks(path)
    body = all_chunks[b"cue "][0]
    n = struct.unpack("<I", body[:4])[0]
    points = {}
    for i in range(n):
        cid, _pos, _fcc, _cs, _bs, offset = struct.unpack("<II4sIII", body[4 + 24 * i : 28 + 24 * i])
        points[cid] = offset
    labels, adtl = {}, all_chunks[b"LIST/adtl"][0]
    pos = 4
    while pos + 8 <= len(adtl):
        sub, size = adtl[pos : pos + 4], struct.unpack("<I", adtl[pos + 4 : pos + 8])[0]
        if sub == b"labl":
            labels[struct.unpack("<I", adtl[pos + 8 : pos + 12])[0]] = adtl[pos + 12 : pos + 8 + size].rstrip(b"\0").decode()
        pos += 8 + size + (size % 2)
    return [(points[k], labels.get(k, "")) for k in sorted(points)]
