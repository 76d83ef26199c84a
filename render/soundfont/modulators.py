"""SF2.01 modulators (sections 8.2-8.4, 9.5), evaluated once at note-on.

A modulator adds ``amount * map(source) * map(amount source)`` to a generator. The engine
plays notes with fixed controllers, so every source is constant during a note: the note's
velocity and key, and MIDI controllers at their reset values (volume 100, pan 64,
expression 127, reverb 40, everything else 0; pitch wheel centred). Modulators therefore
become generator offsets, worked out when a note's voices are looked up.

Merging follows section 9.5: the default velocity-to-attenuation modulator (8.4.1) is
superseded by an identical instrument modulator (same source, destination and amount
source), a global zone's by an identical local zone's; preset modulators add their amount
to an identical instrument modulator, or are added to the list. As in FluidSynth, the
default velocity-to-filter modulator (8.4.2) is not applied. The other default modulators
are driven by controllers the engine leaves at rest, where they change nothing it keeps
(note levels are normalised). Linked modulators (destination bit 15) are ignored.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .generators import ADDRESS_GENS, DEFAULTS, GEN, PRESET_IGNORED

__all__ = ["Mod", "DEFAULT_MODS", "convex", "merge_mods", "mod_offsets", "source_value"]

#: MIDI controller values after a reset (General MIDI): volume, pan, expression, reverb.
CONTROLLERS = {7: 100, 10: 64, 11: 127, 91: 40}
_VELOCITY, _KEY, _PITCH_WHEEL, _WHEEL_RANGE = 2, 3, 14, 16
_LINK = 0x8000
#: Generators a modulator may move: sound parameters and sample address offsets (MuseScore
#: General starts soft notes later in the sample), not modes, overrides or the note itself.
_MODULATABLE = frozenset(op for op in DEFAULTS if op not in PRESET_IGNORED or op in ADDRESS_GENS)


class Mod(NamedTuple):
    """One modulator record: source, destination generator, amount, amount source, transform."""

    src: int
    dest: int
    amount: int
    amt_src: int
    transform: int

    @property
    def identity(self) -> tuple[int, int, int]:
        """What makes two modulators "identical" (section 9.5.1)."""
        return (self.src, self.dest, self.amt_src)


#: Section 8.4.1: velocity to initial attenuation, negative concave, 960 cB.
DEFAULT_MODS: tuple[Mod, ...] = (Mod(0x0502, GEN["initialAttenuation"], 960, 0, 0),)


def convex(x: np.ndarray | float) -> np.ndarray | float:
    """The spec's convex curve, ``1 + 5/12 * log10(x)`` kept to 0..1 (a float or an array); the
    modulators' convex sources use it, and so does the modulation envelope's attack."""
    with np.errstate(divide="ignore"):
        out = np.clip(1.0 + (5.0 / 12.0) * np.log10(np.maximum(x, 0.0)), 0.0, 1.0)
    return float(out) if np.ndim(out) == 0 else out


def _concave(x: float) -> float:
    return 1.0 - float(convex(1.0 - x))


def _convex(x: float) -> float:
    return float(convex(x))


def _curve(kind: int, x: float, bipolar: bool) -> float:
    if kind == 3:  # switch
        return (1.0 if x >= 0.5 else (-1.0 if bipolar else 0.0))
    shape = {0: lambda v: v, 1: _concave, 2: _convex}.get(kind)
    if shape is None:
        return 0.0  # an unknown curve type moves nothing
    if not bipolar:
        return shape(x)
    return shape(2.0 * x - 1.0) if x > 0.5 else -shape(1.0 - 2.0 * x)


def source_value(src: int, key: int, velocity: int) -> float | None:
    """The mapped value of source ``src`` for this note, or None for "no controller"."""
    index = src & 0x7F
    if src & 0x80:
        x = CONTROLLERS.get(index, 0) / 127.0
    elif index == 0:
        return None
    elif index == _VELOCITY:
        x = velocity / 127.0
    elif index == _KEY:
        x = key / 127.0
    elif index == _PITCH_WHEEL:
        x = 0.5
    elif index == _WHEEL_RANGE:
        x = 2 / 127.0
    else:  # poly and channel pressure rest at 0; a link source or an unknown one moves nothing
        x = 0.0
    if src & 0x100:
        x = 1.0 - x
    return _curve(src >> 10, x, bool(src & 0x200))


def _value(mod: Mod, key: int, velocity: int) -> float:
    primary = source_value(mod.src, key, velocity)
    if primary is None:
        return 0.0
    secondary = source_value(mod.amt_src, key, velocity)
    out = mod.amount * primary * (1.0 if secondary is None else secondary)
    return abs(out) if mod.transform == 2 else out


def _by_identity(*levels: tuple[Mod, ...]) -> dict[tuple[int, int, int], Mod]:
    """Each level supersedes identical modulators of the levels before it (the first of a duplicate wins within one)."""
    out: dict[tuple[int, int, int], Mod] = {}
    for level in levels:
        seen: set[tuple[int, int, int]] = set()
        for m in level:
            if m.identity not in seen:
                seen.add(m.identity)
                out[m.identity] = m
    return out


def merge_mods(inst_global: tuple[Mod, ...], inst_local: tuple[Mod, ...],
               preset_global: tuple[Mod, ...], preset_local: tuple[Mod, ...]) -> list[Mod]:
    """The modulators of one voice (section 9.5): defaults, instrument, then preset amounts added."""
    mods = _by_identity(DEFAULT_MODS, inst_global, inst_local)
    for ident, m in _by_identity(preset_global, preset_local).items():
        base = mods.get(ident)
        mods[ident] = m if base is None else base._replace(amount=base.amount + m.amount)
    return list(mods.values())


def mod_offsets(mods: list[Mod], key: int, velocity: int) -> dict[int, float]:
    """Generator offsets the modulators add for this note (zero offsets left out)."""
    out: dict[int, float] = {}
    for m in mods:
        if m.dest & _LINK or m.dest not in _MODULATABLE:
            continue
        out[m.dest] = out.get(m.dest, 0.0) + _value(m, key, velocity)
    return {op: v for op, v in out.items() if v}
