"""The pdta ("hydra") chunks: fixed-size records, their cross-references, and the zone tree built from them.

Every index is checked before use: a bag, generator or modulator index past its chunk, or a
zone that points at a missing instrument or sample, is a :class:`SoundFontError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import SoundFontError
from .generators import GEN
from .riff import Chunk
from .samples import SHDR_DTYPE
from .modulators import Mod
from .zones import Instrument, Preset, Zone, zone_from_gens

__all__ = ["RECORD_DTYPES", "read_records", "build_instruments", "build_presets"]

_BAG = np.dtype([("gen", "<u2"), ("mod", "<u2")])
_MOD = np.dtype([("src", "<u2"), ("dest", "<u2"), ("amount", "<i2"), ("amt_src", "<u2"), ("transform", "<u2")])
_GEN = np.dtype([("oper", "<u2"), ("amount", "<i2")])

#: Record layout of each pdta sub-chunk, in file order (spec section 7).
RECORD_DTYPES: dict[str, np.dtype] = {
    "phdr": np.dtype([("name", "S20"), ("program", "<u2"), ("bank", "<u2"), ("bag", "<u2"),
                      ("library", "<u4"), ("genre", "<u4"), ("morphology", "<u4")]),
    "pbag": _BAG, "pmod": _MOD, "pgen": _GEN,
    "inst": np.dtype([("name", "S20"), ("bag", "<u2")]),
    "ibag": _BAG, "imod": _MOD, "igen": _GEN,
    "shdr": SHDR_DTYPE,
}
_HINT = "the file looks damaged: get a fresh copy of the bank"


def read_records(buf: memoryview, pdta: dict[str, Chunk], path: Path) -> dict[str, np.ndarray]:
    """Every pdta sub-chunk as a structured array, after checking its presence and size."""
    out: dict[str, np.ndarray] = {}
    for name, dtype in RECORD_DTYPES.items():
        chunk = pdta.get(name)
        if chunk is None:
            raise SoundFontError(path, f"the pdta '{name}' chunk is missing", hint=_HINT)
        if chunk.size % dtype.itemsize or chunk.size == 0:
            raise SoundFontError(path, f"the pdta '{name}' chunk is {chunk.size} bytes, not a positive multiple "
                                 f"of its {dtype.itemsize}-byte records", hint=_HINT)
        out[name] = np.frombuffer(buf, dtype=dtype, count=chunk.size // dtype.itemsize, offset=chunk.offset)
    return out


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _check_order(values: np.ndarray, limit: int, what: str, owner: str, path: Path) -> None:
    """``values`` must never decrease and never pass ``limit``."""
    v = values.astype(np.int64)
    bad = np.flatnonzero(np.diff(v) < 0)
    if bad.size:
        raise SoundFontError(path, f"{owner} #{int(bad[0]) + 1}: {what} index {int(v[bad[0] + 1])} goes backwards",
                             hint=_HINT)
    if v.size and int(v[-1]) > limit:
        raise SoundFontError(path, f"{owner} records end at {what} index {int(v[-1])}, "
                             f"past the {limit + 1} {what} record(s)", hint=_HINT)


def _check_bags(owners: np.ndarray, bags: np.ndarray, gens: np.ndarray, mods: np.ndarray,
                kind: str, prefix: str, path: Path) -> None:
    _check_order(owners["bag"], len(bags) - 1, f"{prefix}bag", kind, path)
    _check_order(bags["gen"], len(gens) - 1, f"{prefix}gen", f"{prefix}bag", path)
    _check_order(bags["mod"], len(mods) - 1, f"{prefix}mod", f"{prefix}bag", path)


def _zones(first_bag: int, last_bag: int, bags: np.ndarray, gen_pairs: list[tuple[int, int]],
           mods: list[Mod], terminal: int) -> tuple[dict[int, int], tuple[Mod, ...], list[Zone]]:
    """The global generators and modulators and the local zones of one preset or instrument (bags first..last-1)."""
    starts, mod_starts = bags["gen"].tolist(), bags["mod"].tolist()
    global_gens: dict[int, int] = {}
    global_mods: tuple[Mod, ...] = ()
    keys = vels = (0, 127)
    zones: list[Zone] = []
    for b in range(first_bag, last_bag):
        zone = zone_from_gens(gen_pairs[starts[b]:starts[b + 1]], terminal, keys, vels)
        zone_mods = tuple(mods[mod_starts[b]:mod_starts[b + 1]])
        if zone.target >= 0:
            zones.append(Zone(zone.keys, zone.vels, zone.gens, zone.target, zone_mods))
        elif b == first_bag:
            global_gens, global_mods, keys, vels = zone.gens, zone_mods, zone.keys, zone.vels
    return global_gens, global_mods, zones


def _mods(records: np.ndarray) -> list[Mod]:
    return [Mod(*row) for row in zip(records["src"].tolist(), records["dest"].tolist(), records["amount"].tolist(),
                                     records["amt_src"].tolist(), records["transform"].tolist())]


def _pairs(gens: np.ndarray) -> list[tuple[int, int]]:
    return list(zip(gens["oper"].tolist(), gens["amount"].tolist()))


def _check_targets(zones: list[Zone], count: int, owner: str, what: str, path: Path) -> None:
    for z, zone in enumerate(zones):
        if zone.target >= count:
            raise SoundFontError(path, f"{owner} zone {z} points to {what} #{zone.target}, "
                                 f"but the bank has {count} {what}(s)", hint=_HINT)


def build_instruments(rec: dict[str, np.ndarray], n_samples: int, path: Path) -> list[Instrument]:
    """The instruments of the bank, their sample references checked."""
    inst, ibag = rec["inst"], rec["ibag"]
    _check_bags(inst, ibag, rec["igen"], rec["imod"], "instrument", "i", path)
    pairs, mods = _pairs(rec["igen"]), _mods(rec["imod"])
    bag_starts = inst["bag"].tolist()
    out: list[Instrument] = []
    for i in range(len(inst) - 1):
        name = _name(inst[i]["name"])
        global_gens, global_mods, zones = _zones(bag_starts[i], bag_starts[i + 1], ibag, pairs, mods, GEN["sampleID"])
        _check_targets(zones, n_samples, f"instrument '{name}' (#{i})", "sample", path)
        out.append(Instrument(i, name, global_gens, tuple(zones), global_mods))
    return out


def build_presets(rec: dict[str, np.ndarray], n_instruments: int, path: Path) -> list[Preset]:
    """The presets of the bank, their instrument references checked."""
    phdr, pbag = rec["phdr"], rec["pbag"]
    _check_bags(phdr, pbag, rec["pgen"], rec["pmod"], "preset", "p", path)
    pairs, mods = _pairs(rec["pgen"]), _mods(rec["pmod"])
    bag_starts = phdr["bag"].tolist()
    out: list[Preset] = []
    for i in range(len(phdr) - 1):
        name, bank, program = _name(phdr[i]["name"]), int(phdr[i]["bank"]), int(phdr[i]["program"])
        global_gens, global_mods, zones = _zones(bag_starts[i], bag_starts[i + 1], pbag, pairs, mods, GEN["instrument"])
        owner = f"preset '{name}' (bank {bank}, program {program})"
        _check_targets(zones, n_instruments, owner, "instrument", path)
        out.append(Preset(i, name, bank, program, global_gens, tuple(zones), global_mods))
    return out
