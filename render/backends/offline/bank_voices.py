"""SoundFont voices for the engine: its instruments and drums played through a GM bank.

:func:`open_voices` loads and checks a bank once per process (exit-2 errors before any
rendering) and resolves every instrument (:mod:`.gm`) to a preset, the nearest GM
program, or the engine's own voice, recording each fallback. :meth:`BankVoices.note`
gives one note as mono float32 normalised like the engine's voices, or None when the
engine's own voice plays it. Notes are pure functions of their arguments (cached).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from render.audio import SAMPLE_RATE
from render.soundfont import (
    NoteCache,
    Preset,
    SoundFontBank,
    SoundFontError,
    bank_identity,
    load_bank,
    nearest_program,
    render_note,
)

from .gm import DRUMS, PROGRAMS, drum_for, program_for

__all__ = ["BankVoices", "open_voices"]

VELOCITY = 100  # the engine scales loudness itself; one velocity layer keeps the cache small
DRUM_GATE_S = 1.0
MAX_GATE_S = 8.0
GATE_QUANTUM = SAMPLE_RATE // 100  # held lengths rounded to 10 ms
_REF_KEY = 60


def _mono(note: np.ndarray) -> np.ndarray:
    return ((note[:, 0] + note[:, 1]) * np.float32(0.5)).astype(np.float32)


def _trim(x: np.ndarray, floor_db: float = -60.0, block: int = 128) -> np.ndarray:
    """Cut an inaudible tail (below ``floor_db`` of the peak), ending in a 10 ms fade."""
    if x.size == 0:
        return x
    level = np.abs(x[: x.size // block * block]).reshape(-1, block).max(axis=1) if x.size >= block else np.abs(x)
    loud = np.nonzero(level > float(np.max(np.abs(x))) * 10 ** (floor_db / 20))[0]
    end = min(x.size, (int(loud[-1]) + 2) * block) if loud.size else 0
    x = x[:end].copy()
    tail = min(end, SAMPLE_RATE // 100)
    x[end - tail:] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)
    return x


class BankVoices:
    """The bank at ``path`` mapped onto the engine's instruments and drum sounds.

    Raises:
        SoundFontError: bad file, or no preset at all that the engine can use.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bank: SoundFontBank = load_bank(path)
        self.identity = bank_identity(path)
        self.cache = NoteCache(max_bytes=128 * 1024 * 1024, gate_quantum=GATE_QUANTUM)
        self.fallbacks: list[str] = []
        self._pitched = {name: self._resolve(name, prog) for name, prog in PROGRAMS.items() if prog is not None}
        self._kits = {kit: self.bank.find_preset(kit, drums=True) for kit in sorted({v[0] for v in DRUMS.values() if v})}
        self._drums = {name: self._resolve_drum(name, v) for name, v in DRUMS.items() if v is not None}
        self._norms: dict[tuple, float] = {}
        if not any(self._pitched.values()) and not any(self._drums.values()):
            raise SoundFontError(path, "has no General MIDI preset (bank 0) or drum kit (bank 128) the engine can play",
                                 hint="use a General MIDI bank such as MuseScore General or FluidR3_GM")

    def _resolve(self, name: str, program: int) -> Preset | None:
        preset = nearest_program(self.bank, program)
        if preset is None:
            self.fallbacks.append(f"{name}: GM program {program} missing from the bank; the engine's own voice plays it")
        elif (preset.bank, preset.program) != (0, program):
            self.fallbacks.append(f"{name}: GM program {program} missing from the bank; "
                                  f"using {preset.bank}:{preset.program} {preset.name!r}")
        return preset

    def _resolve_drum(self, name: str, mapping: tuple[int, int]) -> tuple[Preset, int] | None:
        kit, key = mapping
        preset = self._kits.get(kit) or (self._kits.get(0) if kit != 25 else None)
        if preset is not None and self.bank.voices(preset, key, VELOCITY):
            return preset, key
        self.fallbacks.append(f"{name}: no GM drum key {key} in kit {kit}; the engine's own hit plays it")
        return None

    def _norm(self, preset: Preset, key: int) -> float:
        """1 / peak of a reference note, so bank notes sit where the engine's voices do."""
        nkey = (preset.index, key)
        norm = self._norms.get(nkey)
        if norm is None:
            ref = _mono(render_note(self.bank, preset, key, VELOCITY, gate_frames=SAMPLE_RATE // 2))
            peak = float(np.max(np.abs(ref))) if ref.size else 0.0
            norm = self._norms[nkey] = 1.0 / peak if peak > 1e-6 else 0.0
        return norm

    def note(self, name: str, midi: int, gate_frames: int | None, natural_s: float) -> np.ndarray | None:
        """One note (or drum hit) as mono float32, release tail included; None: the engine plays it."""
        drum = self._drums.get(name) if drum_for(name) else None
        if drum is not None:
            preset, key, norm_key = drum[0], drum[1], drum[1]
            gate = int(DRUM_GATE_S * SAMPLE_RATE)
        else:
            preset = self._pitched.get(name) if program_for(name) is not None else None
            if preset is None:
                return None
            key, norm_key = max(0, min(127, midi)), _REF_KEY
            gate = int(min(MAX_GATE_S, natural_s) * SAMPLE_RATE) if gate_frames is None else min(gate_frames, int(MAX_GATE_S * SAMPLE_RATE))
        gate = self.cache.gate_class(gate)

        def make() -> np.ndarray:
            mono = _trim(_mono(render_note(self.bank, preset, key, VELOCITY, gate_frames=gate)))
            return mono * np.float32(self._norm(preset, norm_key))

        return self.cache.get((preset.index, key, gate), make)

    def describe(self) -> dict[str, Any]:
        """The manifest's record: file name, size, SHA-256 and every fallback."""
        return {**self.identity.as_dict(), "fallbacks": list(self.fallbacks)}


@lru_cache(maxsize=4)
def _open(path: str, size: int, mtime_ns: int) -> BankVoices:
    return BankVoices(Path(path))


def open_voices(path: str | Path) -> BankVoices:
    """The bank at ``path``, loaded once per process (again if the file changes).

    Raises:
        SoundFontError: missing, unreadable or bad bank (exit 2).
    """
    p = Path(path).expanduser()
    try:
        st = p.resolve().stat()
    except OSError as exc:
        raise SoundFontError(p, f"cannot be read: {exc.strerror or exc}",
                             hint="check the path given to --soundfont, LYRIA_RENDER_SOUNDFONT or engine.soundfont") from None
    if not p.is_file():
        raise SoundFontError(p, "is not a file", hint="give the path of a .sf2 or .sf3 bank")
    return _open(str(p.resolve()), st.st_size, st.st_mtime_ns)
