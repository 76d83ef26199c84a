"""A minimal SoundFont 2/3 writer for tests: builds small valid banks (and, on request, broken ones) in memory.

Samples are float arrays written as 16-bit PCM (each followed by the 46 zero frames the
spec asks for), or as Ogg Vorbis through soundfile for SoundFont 3 banks.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

# Generator numbers used by the tests (SF2.01 section 8.1.3).
G_START_OFS, G_FC, G_Q, G_PAN = 0, 8, 9, 17
G_DELAY, G_ATTACK, G_HOLD, G_DECAY, G_SUSTAIN, G_RELEASE = 33, 34, 35, 36, 37, 38
G_INSTRUMENT, G_KEYRANGE, G_VELRANGE, G_ATTEN = 41, 43, 44, 48
G_COARSE, G_FINE, G_SAMPLE, G_MODES, G_SCALE, G_ROOT = 51, 52, 53, 54, 56, 58

MONO, RIGHT, LEFT, VORBIS = 1, 2, 4, 0x10


@dataclass
class SampleSpec:
    """One sample: data in [-1, 1], rate, root key, pitch correction, loop (frames from its start)."""

    name: str
    data: np.ndarray
    rate: int = 44100
    root: int = 60
    correction: int = 0
    loop: tuple[int, int] | None = None
    channel: int = MONO
    link: int = 0
    vorbis: bool = False


@dataclass
class ZoneSpec:
    """A zone: generators ``(oper, amount)``, optional key/velocity ranges, its target (None: global)
    and modulators ``(src, dest, amount, amount_src, transform)``."""

    gens: list[tuple[int, int]] = field(default_factory=list)
    keys: tuple[int, int] | None = None
    vels: tuple[int, int] | None = None
    target: int | None = None
    mods: list[tuple[int, int, int, int, int]] = field(default_factory=list)


@dataclass
class InstrumentSpec:
    name: str
    zones: list[ZoneSpec]


@dataclass
class PresetSpec:
    name: str
    program: int
    bank: int
    zones: list[ZoneSpec]


def chunk(cid: bytes, data: bytes, pad: bool = True) -> bytes:
    """One RIFF chunk, padded to an even length (unless ``pad`` is False, as some bank writers do)."""
    return cid + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 and pad else b"")


def list_chunk(kind: bytes, chunks: list[bytes], pad: bool = True) -> bytes:
    return chunk(b"LIST", kind + b"".join(chunks), pad)


def _name(s: str) -> bytes:
    return s.encode("latin-1")[:19].ljust(20, b"\0")


def _amount(op: int, amount: int) -> bytes:
    return struct.pack("<HH" if amount > 32767 else "<Hh", op, amount)


def _zone_gens(zone: ZoneSpec, terminal: int) -> list[bytes]:
    out = []
    if zone.keys is not None:
        out.append(struct.pack("<HBB", G_KEYRANGE, *zone.keys))
    if zone.vels is not None:
        out.append(struct.pack("<HBB", G_VELRANGE, *zone.vels))
    out += [_amount(op, v) for op, v in zone.gens]
    if zone.target is not None:
        out.append(struct.pack("<HH", terminal, zone.target))
    return out


def _hydra(owners: list, terminal: int, header) -> tuple[bytes, bytes, bytes, bytes]:
    """(headers, bags, mods, gens) chunk payloads for presets or instruments."""
    heads, bags, gens, mods = [], [], [], []
    for owner in owners:
        heads.append(header(owner, len(bags)))
        for zone in owner.zones:
            bags.append(struct.pack("<HH", len(gens), len(mods)))
            gens += _zone_gens(zone, terminal)
            mods += [struct.pack("<HHhHH", *m) for m in zone.mods]
    heads.append(header(None, len(bags)))
    bags.append(struct.pack("<HH", len(gens), len(mods)))
    gens.append(b"\0" * 4)
    mods.append(b"\0" * 10)
    return b"".join(heads), b"".join(bags), b"".join(mods), b"".join(gens)


def _phdr(p: PresetSpec | None, bag: int) -> bytes:
    if p is None:
        return _name("EOP") + struct.pack("<HHHIII", 0, 0, bag, 0, 0, 0)
    return _name(p.name) + struct.pack("<HHHIII", p.program, p.bank, bag, 0, 0, 0)


def _inst(i: InstrumentSpec | None, bag: int) -> bytes:
    return _name("EOI" if i is None else i.name) + struct.pack("<H", bag)


def _pcm16(x: np.ndarray) -> bytes:
    return (np.clip(np.round(np.asarray(x, dtype=np.float64) * 32767), -32768, 32767).astype("<i2")).tobytes()


def ogg_vorbis(x: np.ndarray, rate: int) -> bytes:
    """``x`` encoded as an Ogg Vorbis stream by libsndfile."""
    buf = io.BytesIO()
    sf.write(buf, np.asarray(x, dtype=np.float32), rate, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def _pcm24_low(x: np.ndarray) -> bytes:
    """The low bytes (sm24) that complete :func:`_pcm16` words to 24 bits."""
    v24 = np.clip(np.round(np.asarray(x, dtype=np.float64) * 8388607), -8388608, 8388607).astype(np.int64)
    hi = np.clip(np.round(np.asarray(x, dtype=np.float64) * 32767), -32768, 32767).astype(np.int64)
    return np.clip(v24 - hi * 256, 0, 255).astype(np.uint8).tobytes()


def _samples(samples: list[SampleSpec], sm24: bytearray | None = None) -> tuple[bytes, bytes]:
    """(smpl payload, shdr payload); fills ``sm24`` with low bytes when given."""
    smpl, shdr = bytearray(), []
    for s in samples:
        if sm24 is not None and not s.vorbis:
            sm24 += _pcm24_low(s.data) + b"\0" * 46
        if s.vorbis:
            blob = ogg_vorbis(s.data, s.rate)
            start, end = len(smpl), len(smpl) + len(blob)
            smpl += blob
            ls, le = s.loop or (0, 0)
        else:
            start = len(smpl) // 2
            end = start + len(s.data)
            smpl += _pcm16(s.data) + b"\0" * 92
            ls, le = (start + s.loop[0], start + s.loop[1]) if s.loop else (start, start)
        stype = s.channel | (VORBIS if s.vorbis else 0)
        shdr.append(_name(s.name) + struct.pack("<IIIIIBbHH", start, end, ls, le, s.rate, s.root, s.correction,
                                                s.link, stype))
    shdr.append(_name("EOS") + b"\0" * 26)
    return bytes(smpl), b"".join(shdr)


def build_sf2(samples: list[SampleSpec], instruments: list[InstrumentSpec], presets: list[PresetSpec], *,
              version: tuple[int, int] = (2, 1), name: str = "Test bank",
              pdta_extra: dict[str, bytes] | None = None, pdta_drop: tuple[str, ...] = (),
              sm24: bool = False, pad: bool = True) -> bytes:
    """A whole .sf2 (or .sf3 with ``version=(3, 1)``) file; ``sm24`` adds 24-bit low bytes (give version 2.04).

    ``pdta_extra`` appends raw bytes to named pdta sub-chunks and ``pdta_drop`` leaves
    sub-chunks out, to make broken banks; ``pad=False`` leaves odd-sized INFO chunks unpadded.
    """
    low = bytearray() if sm24 else None
    smpl, shdr = _samples(samples, low)
    phdr, pbag, pmod, pgen = _hydra(presets, G_INSTRUMENT, _phdr)
    inst, ibag, imod, igen = _hydra(instruments, G_SAMPLE, _inst)
    parts = {"phdr": phdr, "pbag": pbag, "pmod": pmod, "pgen": pgen, "inst": inst,
             "ibag": ibag, "imod": imod, "igen": igen, "shdr": shdr}
    extra = pdta_extra or {}
    pdta = [chunk(k.encode(), v + extra.get(k, b"")) for k, v in parts.items() if k not in pdta_drop]
    info = list_chunk(b"INFO", [chunk(b"ifil", struct.pack("<HH", *version)), chunk(b"isng", b"EMU8000\0"),
                                chunk(b"INAM", name.encode() + b"\0", pad)], pad)
    sdta = [chunk(b"smpl", smpl)] + ([chunk(b"sm24", bytes(low))] if low is not None else [])
    body = b"sfbk" + info + list_chunk(b"sdta", sdta) + list_chunk(b"pdta", pdta)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk_data_offset(blob: bytes, cid: bytes) -> int:
    """Offset of the data of the first sub-chunk ``cid`` of any LIST in ``blob`` (for patching broken banks)."""
    pos = 12
    while pos < len(blob):
        top, size = struct.unpack_from("<4sI", blob, pos)
        if top == b"LIST":
            sub, end = pos + 12, pos + 8 + size
            while sub < end:
                sid, ssize = struct.unpack_from("<4sI", blob, sub)
                if sid == cid:
                    return sub + 8
                sub += 8 + ssize + (ssize & 1)
        pos += 8 + size + (size & 1)
    raise KeyError(cid)


def timecents(seconds: float) -> int:
    """Absolute timecents of ``seconds``, rounded."""
    return int(round(1200 * np.log2(seconds)))
