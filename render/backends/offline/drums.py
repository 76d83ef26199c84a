"""Unpitched percussion: kicks, snares, hats, hand drums, synthesised once and cached.

Each sound is a short sum of a pitch-swept sine body and filtered noise, with its own
decay; 808 and 909 kits, acoustic, brushed, marching, orchestral, lo-fi and chip sounds
differ in sweep, decay and noise colour. Brightness opens the noise filters.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from render.audio import SAMPLE_RATE

from .style import stable_hash

__all__ = ["drum_sound", "DRUM_SOUNDS"]

SR = SAMPLE_RATE


def _t(length_s: float) -> np.ndarray:
    return np.arange(int(length_s * SR), dtype=np.float64) / SR


def _noise(name: str, n: int) -> np.ndarray:
    return np.random.default_rng(stable_hash("drum-noise", name)).standard_normal(n)


def _band(x: np.ndarray, low_hz: float | None, high_hz: float | None, order: int = 2) -> np.ndarray:
    if low_hz and high_hz:
        sos = signal.butter(order, [low_hz, min(high_hz, 20_000)], btype="bandpass", fs=SR, output="sos")
    elif low_hz:
        sos = signal.butter(order, low_hz, btype="highpass", fs=SR, output="sos")
    else:
        sos = signal.butter(order, min(high_hz or 20_000, 20_000), btype="lowpass", fs=SR, output="sos")
    return signal.sosfilt(sos, x)


def _body(t: np.ndarray, f_start: float, f_end: float, sweep_s: float, decay_s: float) -> np.ndarray:
    """A sine whose frequency falls exponentially from ``f_start`` to ``f_end``."""
    freq = f_end + (f_start - f_end) * np.exp(-t / sweep_s)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    return np.sin(phase) * np.exp(-t / decay_s)


def _kick(name: str, b: float, f0: float, f1: float, sweep: float, decay: float, click: float, length: float) -> np.ndarray:
    t = _t(length)
    x = _body(t, f0, f1, sweep, decay)
    x += click * _band(_noise(name, t.size), 1500, 6000 + 6000 * b) * np.exp(-t / 0.004)
    return x


def _snare(name: str, b: float, tone: float, decay: float, noise_decay: float, mix: float, low: float, length: float = 0.45) -> np.ndarray:
    t = _t(length)
    body = _body(t, tone * 1.4, tone, 0.01, decay)
    nz = _band(_noise(name, t.size), low, 5000 + 9000 * b) * np.exp(-t / noise_decay)
    return (1 - mix) * body + mix * 2.5 * nz


def _hat(name: str, b: float, decay: float, low: float = 6000, length: float = 0.6) -> np.ndarray:
    t = _t(min(length, decay * 8))
    metal = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in (205.3, 304.4, 369.6, 522.7, 540.0, 800.0))
    x = 0.6 * _band(_noise(name, t.size), low * (0.7 + 0.6 * b), None) + 0.4 * _band(metal / 6.0, low * 1.2, None)
    return x * np.exp(-t / decay)


def _clap(name: str, b: float) -> np.ndarray:
    t = _t(0.4)
    env = sum(np.exp(-np.clip(t - d, 0, None) / 0.008) * (t >= d) for d in (0.0, 0.011, 0.022))
    env = env + 0.6 * np.exp(-np.clip(t - 0.03, 0, None) / 0.09) * (t >= 0.03)
    return _band(_noise(name, t.size), 900, 3000 + 4000 * b) * env * 2.0


def _hand(name: str, b: float, f0: float, decay: float, slap: float, bend: float = 1.06) -> np.ndarray:
    t = _t(max(0.3, decay * 4))
    x = _body(t, f0 * bend, f0, 0.02, decay)
    x += slap * _band(_noise(name, t.size), 1200, 5000 + 4000 * b) * np.exp(-t / 0.012)
    return x


def _tabla(name: str, b: float, kind: str) -> np.ndarray:
    t = _t(0.8)
    if kind == "ge":  # low bayan with the characteristic upward bend
        freq = 75 + 35 * (1 - np.exp(-t / 0.12))
        x = np.sin(2 * np.pi * np.cumsum(freq) / SR) * np.exp(-t / 0.35)
        return x + 0.3 * _band(_noise(name, t.size), 200, 900) * np.exp(-t / 0.02)
    ring = sum(a * np.sin(2 * np.pi * 350 * r * t) for r, a in ((1, 1.0), (2.0, 0.5), (3.0, 0.35), (4.1, 0.2)))
    return ring * np.exp(-t / (0.18 if kind == "na" else 0.06)) + 0.4 * _band(_noise(name, t.size), 2000, 8000) * np.exp(-t / 0.008)


def _cowbell(name: str, b: float) -> np.ndarray:
    t = _t(0.35)
    x = np.sign(np.sin(2 * np.pi * 540 * t)) + np.sign(np.sin(2 * np.pi * 800 * t))
    return _band(x, 500, 3000 + 2000 * b) * np.exp(-t / 0.07)


def _chip_noise(name: str, b: float, decay: float) -> np.ndarray:
    t = _t(decay * 5)
    steps = np.repeat(np.sign(_noise(name, t.size // 12 + 1)), 12)[: t.size]
    return steps * np.exp(-t / decay)


def _crash(name: str, b: float, decay: float) -> np.ndarray:
    t = _t(decay * 3)
    return _band(_noise(name, t.size), 3000 * (0.6 + 0.8 * b), None) * np.exp(-t / decay)


DRUM_SOUNDS = {
    "kick": lambda b: _kick("kick", b, 150, 52, 0.03, 0.30, 0.4, 0.6),
    "kick_rock": lambda b: _kick("kick_rock", b, 170, 55, 0.025, 0.25, 0.8, 0.5),
    "kick_808": lambda b: _kick("kick_808", b, 110, 45, 0.05, 0.55, 0.15, 1.2),
    "kick_909": lambda b: _kick("kick_909", b, 200, 50, 0.02, 0.35, 0.9, 0.6),
    "kick_lofi": lambda b: _band(_kick("kick_lofi", b, 120, 50, 0.03, 0.25, 0.2, 0.5), None, 2500),
    "kick_chip": lambda b: _kick("kick_chip", b, 300, 60, 0.02, 0.12, 0.0, 0.3),
    "bass_drum": lambda b: _kick("bass_drum", b, 90, 60, 0.05, 0.45, 0.3, 1.0),
    "timpani": lambda b: _hand("timpani", b, 98, 0.9, 0.15, 1.02),
    "snare": lambda b: _snare("snare", b, 190, 0.08, 0.16, 0.65, 900),
    "snare_rock": lambda b: _snare("snare_rock", b, 180, 0.1, 0.2, 0.7, 700),
    "snare_808": lambda b: _snare("snare_808", b, 220, 0.12, 0.14, 0.55, 1200),
    "snare_909": lambda b: _snare("snare_909", b, 200, 0.08, 0.18, 0.7, 1500),
    "snare_march": lambda b: _snare("snare_march", b, 240, 0.05, 0.12, 0.8, 1500),
    "snare_lofi": lambda b: _band(_snare("snare_lofi", b, 190, 0.08, 0.14, 0.6, 600), None, 3500),
    "snare_chip": lambda b: _chip_noise("snare_chip", b, 0.08),
    "brush": lambda b: _band(_noise("brush", int(0.3 * SR)), 1500, 6000) * np.exp(-_t(0.3) / 0.09) * 0.8,
    "rim": lambda b: _hand("rim", b, 1700, 0.015, 0.5, 1.0),
    "clap": lambda b: _clap("clap", b),
    "hat": lambda b: _hat("hat", b, 0.035),
    "hat_808": lambda b: _hat("hat_808", b, 0.03, 7000),
    "hat_lofi": lambda b: _band(_hat("hat_lofi", b, 0.03, 5000), None, 7000),
    "hat_chip": lambda b: _chip_noise("hat_chip", b, 0.015),
    "ohat": lambda b: _hat("ohat", b, 0.25),
    "ride": lambda b: _hat("ride", b, 0.6, 4000, 1.6),
    "crash": lambda b: _crash("crash", b, 0.9),
    "shaker": lambda b: _band(_noise("shaker", int(0.12 * SR)), 4000, 12000) * np.sin(np.pi * np.clip(_t(0.12) / 0.06, 0, 1)) * np.exp(-_t(0.12) / 0.03),
    "tom": lambda b: _hand("tom", b, 110, 0.25, 0.3, 1.4),
    "conga": lambda b: _hand("conga", b, 200, 0.2, 0.4),
    "conga_lo": lambda b: _hand("conga_lo", b, 150, 0.25, 0.3),
    "bongo": lambda b: _hand("bongo", b, 390, 0.09, 0.5),
    "djembe": lambda b: _hand("djembe", b, 85, 0.22, 0.2, 1.3),
    "djembe_slap": lambda b: _hand("djembe_slap", b, 380, 0.05, 1.0),
    "tabla_na": lambda b: _tabla("tabla_na", b, "na"),
    "tabla_ti": lambda b: _tabla("tabla_ti", b, "ti"),
    "tabla_ge": lambda b: _tabla("tabla_ge", b, "ge"),
    "cowbell": lambda b: _cowbell("cowbell", b),
    "clave": lambda b: _hand("clave", b, 2500, 0.025, 0.0, 1.0),
    "glitch": lambda b: _chip_noise("glitch", b, 0.04) * np.sin(2 * np.pi * 1500 * _t(0.2)),
}


def drum_sound(name: str, bright_bucket: int, buckets: int = 6) -> np.ndarray:
    """One hit of the named drum sound, normalised to peak 1, float32.

    Raises:
        KeyError: for an unknown drum name.
    """
    bright = (bright_bucket + 0.5) / buckets
    x = np.asarray(DRUM_SOUNDS[name](bright), dtype=np.float64)
    x /= max(1e-9, float(np.max(np.abs(x))))
    level = np.abs(x[::128])
    loud = np.nonzero(level > 10 ** (-50 / 20.0))[0]
    x = x[: min(x.size, (int(loud[-1]) + 2) * 128)] if loud.size else x[:128]
    tail = min(x.size, 480)
    x[-tail:] *= np.linspace(1.0, 0.0, tail)
    return x.astype(np.float32)
