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

import numpy as np
from scipy import fft as sfft
from scipy import signal

from render.audio import SAMPLE_RATE
from render.soundfont.cache import NoteCache as LruNotes

from . import timbre
from .drums import drum_sound
from .instruments import Instrument, instrument
from .style import stable_hash

__all__ = ["NoteCache", "SHARED_CACHE", "synth_note", "length_class", "LENGTH_CLASSES_S", "BRIGHT_BUCKETS", "note_freq"]

SR = SAMPLE_RATE
BRIGHT_BUCKETS = 6
_TABLE_MIN = 2048


def note_freq(midi: float) -> float:
    """Equal-tempered frequency (A4 = 440 Hz) of a MIDI note number, in Hz."""
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


def _table(f0_hz: float, ratios: np.ndarray, amps: np.ndarray, phases: np.ndarray, oversample: int = 1) -> np.ndarray:
    """One block of exactly ``M`` periods of ``f0_hz`` holding the given partials.

    Args:
        f0_hz: fundamental frequency.
        ratios: partial frequencies as multiples of ``f0_hz`` (need not be integers).
        amps: partial amplitudes (linear).
        phases: partial start phases in radians.
        oversample: the block is band-limited-interpolated to this many points per
            sample (for fractional reads).

    Returns:
        float32 block whose tiling is phase-continuous.
    """
    m = max(1, int(np.ceil(_TABLE_MIN * f0_hz / SR)))
    length = int(round(m * SR / f0_hz))
    bins = np.rint(ratios * m).astype(np.int64)
    ok = (bins > 0) & (bins < length // 2)
    spec = np.zeros(length * oversample // 2 + 1, dtype=np.complex128)
    np.add.at(spec, bins[ok], amps[ok] * np.exp(1j * phases[ok]))
    return (sfft.irfft(spec, n=length * oversample) * (length * oversample / 2.0)).astype(np.float32)


_OVER = 4


def _read_index(n: int, length: int, rate: float = 1.0, vib: np.ndarray | None = None) -> np.ndarray:
    """Indices into an :data:`_OVER`-times oversampled looping table of ``length`` points.

    Reading the nearest oversampled point keeps the jitter under 1/8 sample. ``vib`` is
    a pitch-modulation offset in output samples.
    """
    pos = np.arange(n, dtype=np.float32) * np.float32(rate * _OVER)
    if vib is not None:
        pos += vib
    idx = np.rint(pos).astype(np.int32)
    idx %= np.int32(length)
    return idx


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
        if sp.get("octave"):  # a second choir of strings an octave up (a harpsichord's 4' stop)
            amps[1::2] += sp["octave"] * _shape_amps(shape, h[1::2] / 2.0, sp)
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
    """Attack ramp, exponential decay to a sustain level; all times in seconds (float32)."""
    n = t.shape[0]
    if decay_s > 0 and sustain < 1.0:
        env = np.exp(t * np.float32(-1.0 / decay_s))
        if sustain > 0:
            env *= np.float32(1.0 - sustain)
            env += np.float32(sustain)
    else:
        env = np.ones(n, dtype=np.float32)
    for tau, depth in ((max(attack_s, 1e-4), 1.0), (swell_s, 0.85)):
        if tau <= 0:
            continue
        k = min(n, int(tau * 6 * SR))
        env[:k] *= 1.0 - depth * np.exp(t[:k] * np.float32(-1.0 / tau))
    return env


LENGTH_CLASSES_S = (0.6, 1.25, 2.5, 4.5)


def length_class(inst: Instrument, needed_s: float | None) -> int:
    """The shortest cached length class that holds ``needed_s`` (decaying instruments: always the longest)."""
    if needed_s is None or not _sustained(inst):
        return len(LENGTH_CLASSES_S) - 1
    for i, length in enumerate(LENGTH_CLASSES_S):
        if needed_s <= length or length >= inst.max_s:
            return i
    return len(LENGTH_CLASSES_S) - 1


def _sustained(inst: Instrument) -> bool:
    flag = _SUSTAINED.get(inst.name)
    if flag is None:
        flag = _SUSTAINED[inst.name] = "ks" not in inst.spec and any(env[2] > 0 for _, _, env in inst.spec["bands"])
    return flag


_SUSTAINED: dict[str, bool] = {}


def synth_note(inst: Instrument, midi: int, bright_bucket: int, length_cls: int = len(LENGTH_CLASSES_S) - 1) -> np.ndarray:
    """Render one note of ``inst``.

    Args:
        inst: the instrument.
        midi: MIDI pitch.
        bright_bucket: brightness bucket, 0 (dark) .. BRIGHT_BUCKETS-1 (bright).
        length_cls: index into :data:`LENGTH_CLASSES_S` (capped at the instrument's ``max_s``).

    Returns:
        Mono float32 samples, peak about 1 at full velocity.
    """
    sp = inst.spec
    bright = (bright_bucket + 0.5) / BRIGHT_BUCKETS
    f0 = note_freq(midi)
    rng = np.random.default_rng(stable_hash("note", inst.name, midi, bright_bucket))
    ratios, amps = _spectrum(inst, f0, bright, rng)
    phases = rng.uniform(0, 2 * np.pi, ratios.shape[0]) if sp.get("random_phase", True) else np.zeros(ratios.shape[0])
    n = int(min(inst.max_s, LENGTH_CLASSES_S[length_cls]) * SR)
    t = np.arange(n, dtype=np.float32) * np.float32(1.0 / SR)
    out = _render_bands(sp, f0, bright, ratios, amps, phases, t)
    if sp.get("noise"):
        out += _breath(sp["noise"], n, t, rng, bright)
    if sp.get("scrape"):
        out += _breath(sp["scrape"], n, t, rng, bright)
    out = _post(sp, out, bright)
    peak = float(np.max(np.abs(out[: min(n, SR)]))) or 1.0
    out *= np.float32(1.0 / peak)
    tail = min(n, 2400)
    out[n - tail :] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)
    return _trim(out)


def _post(sp: dict, out: np.ndarray, bright: float) -> np.ndarray:
    """Whole-note stages of :mod:`.timbre`: body resonances, amp and cabinet, filter sweep."""
    if sp.get("body"):
        out = timbre.body(out, sp["body"])
    if sp.get("amp"):
        out = timbre.amp(out, *sp["amp"], bright)
    if sp.get("sweep"):
        out = timbre.sweep(out, *sp["sweep"], bright)
    return out


def _render_bands(sp: dict, f0: float, bright: float, ratios: np.ndarray, amps: np.ndarray, phases: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Sum the note's partial bands, each a looping table times its own envelope.

    Without vibrato or chorus a band is a plain tiling of its table; otherwise all bands
    share one (or two, for chorus) index arrays into 4x-oversampled tables. Freely
    decaying bands stop once they fall below -60 dB.
    """
    n = t.shape[0]
    out = np.zeros(n, dtype=np.float32)
    plain = not sp.get("vib") and not sp.get("chorus") and not sp.get("ens")
    readers: list[tuple[np.ndarray, np.float32]] = []
    bands = _ks_bands(f0, bright, *sp["ks"]) if "ks" in sp else sp["bands"]
    for lo, hi, env_spec in bands:
        sel = (ratios >= lo) & (ratios < hi)
        if not sel.any():
            continue
        k = _audible_frames(env_spec, n, f0, bright)
        if plain:
            out[:k] += np.resize(_table(f0, ratios[sel], amps[sel], phases[sel]), k) * _band_env(env_spec, t[:k], f0, bright)
            continue
        table = _table(f0, ratios[sel], amps[sel], phases[sel], oversample=_OVER)
        readers = readers or _readers(sp, n, t, f0, table.shape[0])
        voice = table[readers[0][0][:k]] * readers[0][1]
        for idx, gain in readers[1:]:
            voice += gain * table[idx[:k]]
        out[:k] += voice * _band_env(env_spec, t[:k], f0, bright)
    return out


def _readers(sp: dict, n: int, t: np.ndarray, f0: float, length: int) -> list[tuple[np.ndarray, np.float32]]:
    """(table indices, gain) of each voice: one, two (``chorus``: a detuned double) or an
    ensemble (``ens``: ``(count, cents)``, voices spread over +-cents, each with its own
    vibrato rate and phase)."""
    if sp.get("ens"):
        count, cents = sp["ens"]
        out = []
        for k in range(count):
            spread = ((k * 0.618034) % 1.0) * 2.0 - 1.0
            rate = 2.0 ** (cents * spread / 1200.0)
            vib = _vibrato(sp, n, t, f0, 1.0 + 0.11 * spread, 2.4 * k)
            out.append((_read_index(n, length, rate, vib=vib), np.float32(1.0 / np.sqrt(count))))
        return out
    vib = _vibrato(sp, n, t, f0)
    spread = 0.5 * sp.get("chorus", 0.0)
    out = [(_read_index(n, length, 1.0 - spread, vib=vib), np.float32(1.0))]
    if spread:
        out.append((_read_index(n, length, 1.0 + spread, None if vib is None else -vib), np.float32(0.7)))
    return out


def _trim(x: np.ndarray, floor_db: float = -54.0) -> np.ndarray:
    """Drop the inaudible tail (below ``floor_db`` of the peak) to save mixing work."""
    level = np.abs(x[::256])
    loud = np.nonzero(level > 10 ** (floor_db / 20.0))[0]
    end = min(x.shape[0], (int(loud[-1]) + 2) * 256) if loud.size else 256
    if end < x.shape[0]:
        x = x[:end].copy()
        tail = min(end, 256)
        x[end - tail :] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)
    return x


def _ks_bands(f0: float, bright: float, attack_s: float, ring_s: float, loss: float) -> list[tuple]:
    """Harmonic bands with Karplus-Strong decay times (see :mod:`.instruments`)."""
    loss = loss * (1.6 - 1.2 * bright)
    out = []
    for lo, hi, centre in ((0, 1.5, 1), (1.5, 2.5, 2), (2.5, 4.5, 3.5), (4.5, 8.5, 6.3), (8.5, 16.5, 12), (16.5, 999, 24)):
        rate = 1.0 / ring_s + loss * f0 * (np.pi * centre * f0 / SR) ** 2
        out.append((lo, hi, (attack_s, 1.0 / rate, 0.0, 0.0, True)))
    return out


def _decay_s(env_spec: tuple, f0: float, bright: float) -> float:
    attack, decay, sustain, *rest = env_spec
    if len(rest) > 1 and rest[1]:  # already final (Karplus-Strong bands)
        return decay
    # plucked/struck tones ring shorter the higher they are, and darker ones die faster
    return decay * min(2.0, (220.0 / f0) ** 0.35) * (0.7 + 0.6 * bright) if sustain == 0.0 else decay


def _audible_frames(env_spec: tuple, n: int, f0: float, bright: float) -> int:
    """Frames until a freely decaying band falls below -60 dB (all of ``n`` if sustained)."""
    if env_spec[2] > 0.0 or env_spec[1] <= 0.0:
        return n
    return min(n, int(7.0 * _decay_s(env_spec, f0, bright) * SR) + 1)


def _band_env(env_spec: tuple, t: np.ndarray, f0: float, bright: float) -> np.ndarray:
    attack, decay, sustain, *rest = env_spec
    swell = rest[0] if rest else 0.0
    return _envelope(t, attack, _decay_s(env_spec, f0, bright), sustain, swell)


def _vibrato(sp: dict, n: int, t: np.ndarray, f0: float, rate_mul: float = 1.0, phase: float = 0.0) -> np.ndarray | None:
    """Pitch-modulation offset in oversampled table points, piecewise linear at a 64-sample
    control rate; the depth ramps in over ``delay_s`` (a player's delayed vibrato)."""
    if not sp.get("vib"):
        return None
    rate_hz, cents, delay_s = sp["vib"]
    rate_hz *= rate_mul
    depth = (2.0 ** (cents / 1200.0) - 1.0) * SR / (2 * np.pi * rate_hz) * _OVER
    tc = np.arange(0, n + 64, 64, dtype=np.float64) / SR
    ramp = np.minimum(tc / max(delay_s, 1e-3), 1.0) ** 2
    ctrl = depth * ramp * (np.cos(phase) - np.cos(2 * np.pi * rate_hz * tc + phase))
    step = np.repeat(np.diff(ctrl) / 64.0, 64)[:n]
    return np.cumsum(step).astype(np.float32)


_NOISE: dict[str, np.ndarray] = {}


def _noise_bed() -> np.ndarray:
    """A shared band-limited noise bed for breath, bow and pick noise: computed once, always
    the same length, so a note's noise never depends on which notes were rendered before it."""
    bed = _NOISE.get("bed")
    if bed is None:
        rng = np.random.default_rng(12345)
        white = rng.standard_normal(int(_BED_S * SR)).astype(np.float32)
        b, a = signal.butter(2, [1200.0, 7000.0], btype="bandpass", fs=SR)
        bed = signal.lfilter(b, a, white).astype(np.float32)
        bed /= np.float32(np.max(np.abs(bed)))
        _NOISE["bed"] = bed
    return bed


_BED_S = 6.0  # longer than any cached note


def _breath(spec: tuple, n: int, t: np.ndarray, rng: np.random.Generator, bright: float) -> np.ndarray:
    level, decay_s = spec
    bed = _noise_bed()
    start = int(rng.integers(0, max(1, bed.shape[0] - n + 1)))
    noise = np.resize(bed[start:], n) * np.float32(level * (0.5 + bright))
    if decay_s > 0:
        k = min(n, int(decay_s * 8 * SR))
        noise = noise[:k] * np.exp(t[:k] * np.float32(-1.0 / decay_s))
        return np.concatenate([noise, np.zeros(n - k, dtype=np.float32)])
    return noise


class NoteCache:
    """Rendered notes and drum hits, kept in one bounded LRU byte cache (the SoundFont player's).

    Args:
        max_bytes: the cache never holds more than this many bytes of samples.
    """

    def __init__(self, max_bytes: int = 96 * 1024 * 1024) -> None:
        self._lru = LruNotes(max_bytes=max_bytes)

    def get(self, name: str, midi: int, bright_bucket: int, length_cls: int = len(LENGTH_CLASSES_S) - 1) -> np.ndarray:
        """The cached samples of one note or drum hit (rendered on a miss; read-only)."""
        return self._lru.get((name, midi, bright_bucket, length_cls),
                             lambda: _render_note(name, midi, bright_bucket, length_cls))


def _render_note(name: str, midi: int, bright_bucket: int, length_cls: int) -> np.ndarray:
    spec = instrument(name)
    if spec is not None:
        return synth_note(spec, midi, bright_bucket, length_cls)
    return drum_sound(name, bright_bucket)


#: One bounded cache shared by every session in the process (notes are pure functions of their key).
SHARED_CACHE = NoteCache(max_bytes=96 * 1024 * 1024)
