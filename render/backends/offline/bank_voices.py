"""SoundFont voices for the engine: its instruments and drums played through a GM bank.

:func:`open_voices` loads and checks a bank once per process (exit-2 errors before any
rendering) and resolves every instrument (:mod:`.gm`) to a preset, the nearest GM
program, or the engine's own voice, recording each fallback. :meth:`BankVoices.note`
gives one note as stereo float32 (the bank's own stereo samples and pan), from the velocity
layer the engine's velocity asks for, normalised like the engine's voices (the engine sets
the loudness), or None when the engine's own voice plays it. Notes are pure functions of
their arguments (cached).
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

__all__ = ["BankVoices", "open_voices", "velocity_layer"]

#: The MIDI velocities notes are played at: a bank's velocity zones (soft hammers, ghost
#: notes, hard picks) are heard, while the cache holds at most four takes of a note.
VELOCITY_LAYERS = (40, 72, 100, 127)
VELOCITY = 100  # the reference layer (loudness normalisation, drum-key checks)
DRUM_GATE_S = 1.0
MAX_GATE_S = 8.0
GATE_QUANTUM = SAMPLE_RATE // 100  # held lengths rounded to 10 ms
_REF_KEY = 60


def velocity_layer(velocity: float) -> int:
    """The MIDI velocity layer (:data:`VELOCITY_LAYERS`) nearest the engine's velocity (0..1+)."""
    want = 127.0 * max(0.0, min(1.0, velocity))
    return min(VELOCITY_LAYERS, key=lambda layer: abs(layer - want))


def _trim(x: np.ndarray, floor_db: float = -60.0, block: int = 128) -> np.ndarray:
    """Cut an inaudible tail (below ``floor_db`` of the peak) of a (frames, 2) note, ending in a 10 ms fade."""
    n = x.shape[0]
    if n == 0:
        return x
    peak = np.abs(x).max(axis=1)
    level = peak[: n // block * block].reshape(-1, block).max(axis=1) if n >= block else peak
    loud = np.nonzero(level > float(peak.max()) * 10 ** (floor_db / 20))[0]
    end = min(n, (int(loud[-1]) + 2) * block) if loud.size else 0
    x = np.asfortranarray(x[:end], dtype=np.float32)  # each channel contiguous for the mixer
    tail = min(end, SAMPLE_RATE // 100)
    x[end - tail:] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)[:, None]
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

    def _norm(self, preset: Preset, key: int, velocity: int) -> float:
        """1 / peak of a reference note of the layer, so bank notes sit where the engine's voices do."""
        nkey = (preset.index, key, velocity)
        norm = self._norms.get(nkey)
        if norm is None:
            ref = render_note(self.bank, preset, key, velocity, gate_frames=SAMPLE_RATE // 2)
            peak = float(np.max(np.abs(ref))) if ref.size else 0.0
            norm = self._norms[nkey] = 1.0 / peak if peak > 1e-6 else 0.0
        return norm

    def note(self, name: str, midi: int, gate_frames: int | None, natural_s: float, velocity: float = 0.79) -> np.ndarray | None:
        """One note (or drum hit) as (frames, 2) float32, release tail included, played from the
        velocity layer nearest ``velocity`` (the engine's 0..1 scale); None: the engine plays it."""
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
        layer = velocity_layer(velocity)

        def make() -> np.ndarray:
            note = _trim(render_note(self.bank, preset, key, layer, gate_frames=gate))
            return note * np.float32(self._norm(preset, norm_key, layer))

        return self.cache.get((preset.index, key, gate, layer), make)

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
