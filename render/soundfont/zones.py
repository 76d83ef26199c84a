"""Presets, instruments and zones; lookup by key and velocity; generator merging (SF2.01 sections 8.5, 9.4).

A preset zone selects an instrument, an instrument zone selects a sample. The first zone of
either is global when it selects nothing: its generators are the defaults of the other
zones. Instrument values replace the spec defaults; preset values are added on top, and
then the modulators' offsets for the note (:mod:`.modulators`).

The bank's own initialAttenuation (instrument plus preset) counts at 0.4 of its value, as
on the EMU8000 sound cards the format was made for, and as FluidSynth and most banks'
authors assume; modulator offsets (velocity among them) count in full. This sets the
balance of layered zones: MuseScore General's piano adds a slow, quieter layer that would
otherwise sit 6 dB lower than its author heard it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .generators import DEFAULTS, GEN, PRESET_IGNORED, clamp_generators
from .modulators import Mod, merge_mods, mod_offsets

__all__ = ["Zone", "Instrument", "Preset", "Voice", "match_voices", "merge", "zone_from_gens"]

_FULL = (0, 127)
#: Scale of the bank's initialAttenuation values (the EMU8000's; FluidSynth's EMU_ATTENUATION_FACTOR).
EMU_ATTENUATION_FACTOR = 0.4


@dataclass(frozen=True, eq=False)
class Zone:
    """One zone: the key and velocity ranges it answers, its generators and what it selects.

    ``target`` is an instrument index (preset zone) or a sample index (instrument zone).
    """

    keys: tuple[int, int]
    vels: tuple[int, int]
    gens: dict[int, int]
    target: int
    mods: tuple[Mod, ...] = ()

    def matches(self, key: int, velocity: int) -> bool:
        """Whether ``key`` and ``velocity`` fall inside both ranges (bounds included)."""
        return self.keys[0] <= key <= self.keys[1] and self.vels[0] <= velocity <= self.vels[1]


@dataclass(frozen=True, eq=False)
class Instrument:
    """An instrument: its name, the generators of its global zone and its local zones."""

    index: int
    name: str
    global_gens: dict[int, int]
    zones: tuple[Zone, ...]
    global_mods: tuple[Mod, ...] = ()


@dataclass(frozen=True, eq=False)
class Preset:
    """A preset: MIDI bank and program, name, the global zone's generators and its zones."""

    index: int
    name: str
    bank: int
    program: int
    global_gens: dict[int, int] = field(repr=False)
    zones: tuple[Zone, ...] = field(repr=False)
    global_mods: tuple[Mod, ...] = field(default=(), repr=False)

    @property
    def key(self) -> tuple[int, int, str]:
        """``(bank, program, name)`` as listed by :attr:`SoundFontBank.presets`."""
        return (self.bank, self.program, self.name)


@dataclass(frozen=True)
class Voice:
    """One sample to play for a note: the sample index and every generator's final value."""

    sample: int
    gens: dict[int, float]


def _instrument_values(inst: Instrument, zone: Zone) -> dict[int, float]:
    values: dict[int, float] = dict(DEFAULTS)
    values.update(inst.global_gens)
    values.update(zone.gens)
    return values


def _preset_offsets(preset: Preset, zone: Zone) -> dict[int, int]:
    offsets = dict(preset.global_gens)
    offsets.update(zone.gens)
    return {op: v for op, v in offsets.items() if op not in PRESET_IGNORED and op in DEFAULTS}


def merge(inst: Instrument, inst_zone: Zone, preset: Preset, preset_zone: Zone,
          key: int = 60, velocity: int = 127) -> dict[int, float]:
    """Final generator values of one (preset zone, instrument zone) pair for a note of ``key`` at
    ``velocity`` (modulators included), clamped to legal ranges."""
    values = _instrument_values(inst, inst_zone)
    for op, amount in _preset_offsets(preset, preset_zone).items():
        values[op] += amount
    values[GEN["initialAttenuation"]] *= EMU_ATTENUATION_FACTOR
    key = key if values[GEN["keynum"]] < 0 else values[GEN["keynum"]]
    velocity = velocity if values[GEN["velocity"]] < 0 else values[GEN["velocity"]]
    mods = merge_mods(inst.global_mods, inst_zone.mods, preset.global_mods, preset_zone.mods)
    for op, amount in mod_offsets(mods, key, velocity).items():
        values[op] += amount
    return clamp_generators(values)


def match_voices(preset: Preset, instruments: list[Instrument], key: int, velocity: int) -> list[Voice]:
    """Every voice that ``key`` at ``velocity`` sounds on ``preset``, in bank order.

    All matching preset zones play, and in each selected instrument all matching zones
    play (layers, stereo pairs), as the spec asks.
    """
    voices: list[Voice] = []
    for pz in preset.zones:
        if not pz.matches(key, velocity):
            continue
        inst = instruments[pz.target]
        for iz in inst.zones:
            if iz.matches(key, velocity):
                voices.append(Voice(iz.target, merge(inst, iz, preset, pz, key, velocity)))
    return voices


def zone_from_gens(pairs: list[tuple[int, int]], terminal: int,
                   default_keys: tuple[int, int] = _FULL, default_vels: tuple[int, int] = _FULL) -> Zone:
    """One zone from its raw ``(oper, amount)`` list; ``target`` is -1 when it has no terminal generator.

    Amounts are signed words; the range generators carry (low, high) in their two bytes.
    Generators after the terminal one (instrument or sampleID) are ignored, as the spec says.
    Ranges not given default to ``default_keys``/``default_vels`` (the global zone's).
    """
    keys, vels = default_keys, default_vels
    gens: dict[int, int] = {}
    for op, amount in pairs:
        if op == GEN["keyRange"]:
            keys = (amount & 0xFF, (amount >> 8) & 0xFF)
        elif op == GEN["velRange"]:
            vels = (amount & 0xFF, (amount >> 8) & 0xFF)
        elif op == terminal:
            return Zone(keys, vels, gens, amount & 0xFFFF)
        elif op in DEFAULTS:
            gens[op] = amount
    return Zone(keys, vels, gens, -1)
