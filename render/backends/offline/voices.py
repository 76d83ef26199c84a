"""Pitched instrument synthesis: banded harmonic tables, cached per note.

Every pitched note is built from one or a few *tables*: a block of ``L`` samples that
holds exactly ``M`` periods of the note (``L = round(M * 48000 / f0)`` with ``L >= 2048``,
so the pitch is exact to within 0.5 cent). Partials (harmonic, stretched or inharmonic)
are placed in the block's spectrum and shaped by the instrument's spectrum and the
brightness; each *band* of partials gets its own envelope (fast-decaying highs for plucks
and pianos, a brightness swell for brass). Tables are tiled (or read with vibrato)
and multiplied by their envelopes: a few vectorised operations per output sample, no
per-sample Python loops. Formant weighting of the partials gives vowels (choir, the
VOCALIZATION voice). Notes are cached by (instrument, pitch, brightness bucket).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import fft as sfft

from .instruments import INSTRUMENTS, Instrument
from .drums import drum_sound
from .style import stable_hash

__all__ = ["NoteCache", "synth_note", "BRIGHT_BUCKETS", "note_freq"]

SR = 48_000
BRIGHT_BUCKETS = 6
_TABLE_MIN = 2048


def note_freq(midi: float) -> float:
    """Equal-tempered frequency (A4 = 440 Hz) of a MIDI note number, in Hz."""
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


def _table(f0_hz: float, ratios: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """One block of exactly ``M`` periods of ``f0_hz`` holding the given partials.

    Args:
        f0_hz: fundamental frequency.
        ratios: partial frequencies as multiples of ``f0_hz`` (need not be integers).
        amps: partial amplitudes (linear).
        phases: partial start phases in radians.

    Returns:
        float32 block whose tiling is phase-continuous.
    """
    m = max(1, int(np.ceil(_TABLE_MIN * f0_hz / SR)))
    length = int(round(m * SR / f0_hz))
    bins = np.rint(ratios * m).astype(np.int64)
    ok = (bins > 0) & (bins < length // 2)
    spec = np.zeros(length // 2 + 1, dtype=np.complex128)
    np.add.at(spec, bins[ok], amps[ok] * np.exp(1j * phases[ok]))
    return (sfft.irfft(spec, n=length) * (length / 2.0)).astype(np.float32)


def _read(table: np.ndarray, n: int, rate: float = 1.0, vib: np.ndarray | None = None) -> np.ndarray:
    """``n`` samples of a looping table, at a pitch ``rate`` and with optional vibrato.

    ``vib`` is an offset in table samples (same length ``n``). Integer reads at rate 1
    are plain tiling; otherwise linear interpolation.
    """
    length = table.shape[0]
    if vib is None and rate == 1.0:
        return np.resize(table, n)
    pos = np.arange(n, dtype=np.float64) * rate
    if vib is not None:
        pos += vib
    idx = np.floor(pos)
    frac = (pos - idx).astype(np.float32)
    i0 = idx.astype(np.int64) % length
    i1 = i0 + 1
    i1[i1 == length] = 0
    a = table[i0]
    return a + frac * (table[i1] - a)


def _cutoff_hz(bright: float) -> float:
    return 700.0 + 11_000.0 * bright**2


def _spectrum(inst: Instrument, f0: float, bright: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Partial ratios and amplitudes of one note (before banding)."""
    sp = inst.spec
    shape = sp.get("shape", "saw")
    if "partials" in sp:
        ratios = np.asarray(sp["partials"], dtype=np.float64)
        amps = np.asarray(sp["amps"], dtype=np.float64)
    else:
        nmax = int(min(sp.get("nh", 40), (SR * 0.45) / f0))
        h = np.arange(1, max(2, nmax + 1), dtype=np.float64)
        ratios = h * np.sqrt(1.0 + sp.get("inharm", 0.0) * h * h)
        amps = _shape_amps(shape, h, sp)
    freqs = ratios * f0
    tilt = sp.get("tilt", 1.0)
    amps = amps * np.exp(-freqs / (_cutoff_hz(bright) * tilt))
    if "formants" in sp:
        amps = amps * _formant_gain(freqs, sp["formants"])
    amps[freqs > SR * 0.45] = 0.0
    return ratios, amps


def _shape_amps(shape: str, h: np.ndarray, sp: dict) -> np.ndarray:
    if shape == "saw":
        return 1.0 / h ** sp.get("slope", 1.0)
    if shape == "square":
        return np.where(h % 2 == 1, 1.0 / h, sp.get("even", 0.0) / h)
    if shape == "triangle":
        return np.where(h % 2 == 1, 1.0 / (h * h), 0.0)
    if shape == "pluck":
        beta = sp.get("pos", 0.15)
        return np.abs(np.sin(np.pi * h * beta)) / h ** sp.get("slope", 1.1) + 1e-3 / h
    if shape == "organ":
        bars = {1: 1.0, 2: 0.8, 3: 0.6, 4: 0.5, 6: 0.3, 8: 0.25, 10: 0.1, 12: 0.08, 16: 0.05}
        return np.array([bars.get(int(x), 0.0) for x in h])
    if shape == "reed":
        odd = np.where(h % 2 == 1, 1.0, sp.get("even", 0.35))
        return odd / h ** sp.get("slope", 0.9)
    if shape == "sine":
        return np.where(h == 1, 1.0, sp.get("h2", 0.0) * (h == 2) + sp.get("h3", 0.0) * (h == 3))
    raise ValueError(f"unknown spectrum shape {shape!r}")


_VOWELS = {"aa": ((800, 1.0, 90), (1150, 0.5, 90), (2900, 0.25, 120)), "oo": ((350, 1.0, 60), (600, 0.35, 70), (2400, 0.05, 100)), "ee": ((270, 1.0, 60), (2300, 0.35, 100), (3000, 0.2, 120)), "oh": ((450, 1.0, 70), (800, 0.45, 80), (2830, 0.1, 100))}


def _formant_gain(freqs: np.ndarray, vowel: str) -> np.ndarray:
    gain = np.full_like(freqs, 0.02)
    for centre, level, bw in _VOWELS[vowel]:
        gain += level / (1.0 + ((freqs - centre) / bw) ** 2)
    return gain


def _envelope(t: np.ndarray, attack_s: float, decay_s: float, sustain: float, swell_s: float = 0.0) -> np.ndarray:
    """Attack ramp, exponential decay to a sustain level; all times in seconds."""
    env = 1.0 - np.exp(-t / max(attack_s, 1e-4))
    if decay_s > 0:
        env *= sustain + (1.0 - sustain) * np.exp(-t / decay_s)
    if swell_s > 0:
        env *= 1.0 - 0.85 * np.exp(-t / swell_s)
    return env.astype(np.float32)


def synth_note(inst: Instrument, midi: int, bright_bucket: int) -> np.ndarray:
    """Render one note of ``inst`` at its natural (maximum) length.

    Args:
        inst: the instrument.
        midi: MIDI pitch.
        bright_bucket: brightness bucket, 0 (dark) .. BRIGHT_BUCKETS-1 (bright).

    Returns:
        Mono float32 samples, peak about 1 at full velocity.
    """
    sp = inst.spec
    bright = (bright_bucket + 0.5) / BRIGHT_BUCKETS
    f0 = note_freq(midi)
    rng = np.random.default_rng(stable_hash("note", inst.name, midi, bright_bucket))
    ratios, amps = _spectrum(inst, f0, bright, rng)
    phases = rng.uniform(0, 2 * np.pi, ratios.shape[0]) if sp.get("random_phase", True) else np.zeros(ratios.shape[0])
    n = int(inst.max_s * SR)
    t = np.arange(n, dtype=np.float32) / SR
    vib = _vibrato(sp, n, t, f0)
    out = np.zeros(n, dtype=np.float32)
    for lo, hi, env_spec in sp["bands"]:
        sel = (ratios >= lo) & (ratios < hi)
        if not sel.any():
            continue
        table = _table(f0, ratios[sel], amps[sel], phases[sel])
        env = _band_env(env_spec, t, f0, bright)
        out += _read(table, n, vib=vib) * env
        if sp.get("chorus"):
            out += 0.7 * _read(table, n, rate=1.0 + sp["chorus"], vib=None if vib is None else -vib) * env
    if sp.get("noise"):
        out += _breath(sp["noise"], n, t, rng, bright)
    peak = float(np.max(np.abs(out[: min(n, SR)]))) or 1.0
    return out * (1.0 / peak)


def _band_env(env_spec: tuple, t: np.ndarray, f0: float, bright: float) -> np.ndarray:
    attack, decay, sustain, *rest = env_spec
    swell = rest[0] if rest else 0.0
    # plucked/struck tones ring shorter the higher they are, and darker ones die faster
    if sustain == 0.0:
        decay = decay * min(2.0, (220.0 / f0) ** 0.35) * (0.7 + 0.6 * bright)
    return _envelope(t, attack, decay, sustain, swell)


def _vibrato(sp: dict, n: int, t: np.ndarray, f0: float) -> np.ndarray | None:
    if not sp.get("vib"):
        return None
    rate_hz, cents, delay_s = sp["vib"]
    depth = (2.0 ** (cents / 1200.0) - 1.0) * SR / (2 * np.pi * rate_hz)
    ramp = np.clip(t / max(delay_s, 1e-3), 0.0, 1.0)
    return (depth * ramp * (1.0 - np.cos(2 * np.pi * rate_hz * t))).astype(np.float64)


def _breath(spec: tuple, n: int, t: np.ndarray, rng: np.random.Generator, bright: float) -> np.ndarray:
    level, decay_s = spec
    noise = rng.standard_normal(n).astype(np.float32)
    noise = np.cumsum(noise) * 0.02
    noise -= np.convolve(noise, np.ones(64, dtype=np.float32) / 64, mode="same")
    env = np.exp(-t / decay_s) if decay_s > 0 else np.ones_like(t)
    return (level * (0.5 + bright) * noise * env).astype(np.float32)


@dataclass
class NoteCache:
    """A bounded LRU cache of rendered notes and drum hits.

    Args:
        max_bytes: the cache never holds more than this many bytes of samples.
    """

    max_bytes: int = 96 * 1024 * 1024
    _items: "OrderedDict[tuple, np.ndarray]" = field(default_factory=OrderedDict)
    _bytes: int = 0
    hits: int = 0
    misses: int = 0

    def get(self, instrument: str, midi: int, bright_bucket: int) -> np.ndarray:
        """The cached samples of one note (rendered on a miss)."""
        key = (instrument, midi, bright_bucket)
        item = self._items.get(key)
        if item is not None:
            self.hits += 1
            self._items.move_to_end(key)
            return item
        self.misses += 1
        if instrument in INSTRUMENTS:
            item = synth_note(INSTRUMENTS[instrument], midi, bright_bucket)
        else:
            item = drum_sound(instrument, bright_bucket)
        item.setflags(write=False)
        self._items[key] = item
        self._bytes += item.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes
        return item
