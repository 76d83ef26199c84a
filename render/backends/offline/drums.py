"""Unpitched percussion: kicks, snares, cymbals, toms, hand drums, synthesised once and cached.

Acoustic kits are modal: a drum head is a sum of decaying circular-membrane modes with a
short pitch drop, struck by a beater or stick (a click of filtered noise); snare wires are
band-passed noise whose level follows the head; cymbals are dense clusters of inharmonic
modes (ride and crash also a bell and a wash of noise), the china a ring-modulated pair of
clusters. Acoustic hits play in a small room (a convolution with a short synthetic
impulse response). Drum machines keep their own character: 808 and 909 kicks are long
pitch-swept sines, their hats square-wave clusters; lo-fi and chip sounds are band-limited
or stepped. Brightness opens the noise filters.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal

from render.audio import SAMPLE_RATE

from .style import stable_hash

__all__ = ["drum_sound", "DRUM_SOUNDS"]

SR = SAMPLE_RATE
#: Frequency ratios of an ideal circular membrane's first modes (0,1), (1,1), (2,1), (0,2) ...
MEMBRANE = (1.0, 1.593, 2.135, 2.295, 2.653, 2.917)


def _t(length_s: float) -> np.ndarray:
    return np.arange(int(length_s * SR), dtype=np.float64) / SR


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(stable_hash("drum-noise", *key))


def _noise(name: str, n: int) -> np.ndarray:
    return _rng(name).standard_normal(n)


def _band(x: np.ndarray, low_hz: float | None, high_hz: float | None, order: int = 2) -> np.ndarray:
    if low_hz and high_hz:
        sos = signal.butter(order, [low_hz, min(high_hz, 20_000)], btype="bandpass", fs=SR, output="sos")
    elif low_hz:
        sos = signal.butter(order, low_hz, btype="highpass", fs=SR, output="sos")
    else:
        sos = signal.butter(order, min(high_hz or 20_000, 20_000), btype="lowpass", fs=SR, output="sos")
    return signal.sosfilt(sos, x)


def _body(t: np.ndarray, f_start: float, f_end: float, sweep_s: float, decay_s: float) -> np.ndarray:
    """A sine whose frequency falls exponentially from ``f_start`` to ``f_end`` (drum machines)."""
    freq = f_end + (f_start - f_end) * np.exp(-t / sweep_s)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    return np.sin(phase) * np.exp(-t / decay_s)


def _modes(t: np.ndarray, freqs, amps, decays, drop: float = 0.0, drop_s: float = 0.01) -> np.ndarray:
    """Decaying sines; ``drop`` bends them all down from ``1 + drop`` times their pitch."""
    warp = 2 * np.pi * np.cumsum(1.0 + drop * np.exp(-t / drop_s)) / SR
    x = np.zeros_like(t)
    for f, a, d in zip(freqs, amps, decays):
        x += a * np.sin(f * warp) * np.exp(-t / d)
    return x


def _head(t: np.ndarray, f0: float, decay: float, drop: float, tilt: float = 0.6, n: int = 6) -> np.ndarray:
    """A struck drum head: membrane modes, the higher ones weaker and shorter."""
    ratios = MEMBRANE[:n]
    return _modes(t, [f0 * r for r in ratios], [tilt**k for k in range(n)],
                  [decay / (1.0 + 0.9 * k) for k in range(n)], drop, 0.012)


def _click(name: str, t: np.ndarray, low: float, high: float, decay: float) -> np.ndarray:
    """The beater or stick: a few milliseconds of band-passed noise."""
    return _band(_noise(name + "-click", t.size), low, high) * np.exp(-t / decay)


def _room(name: str, x: np.ndarray, wet: float, decay_s: float = 0.07) -> np.ndarray:
    """``x`` in a small room: early reflections and a short dark diffuse tail."""
    rng = _rng(name, "room")
    ir_t = _t(decay_s * 5)
    tail = _band(rng.standard_normal(ir_t.size), 150, 5000) * np.exp(-ir_t / decay_s)
    tail *= np.clip(ir_t / 0.008, 0.0, 1.0)
    for delay, gain in zip(rng.uniform(0.003, 0.022, 6), (0.9, 0.7, 0.6, 0.5, 0.4, 0.3)):
        tail[int(delay * SR)] += gain * 12.0 * float(rng.choice((-1.0, 1.0)))
    tail /= np.sqrt(np.sum(tail**2))
    return np.pad(x, (0, ir_t.size - 1)) + wet * signal.fftconvolve(x, tail)


def _cluster(name: str, t: np.ndarray, n: int, low: float, high: float, decay: float, spread: float = 0.5) -> np.ndarray:
    """``n`` inharmonic modes spread log-uniformly over ``low``-``high`` Hz: a cymbal's shimmer."""
    return _cluster_of(name, t.size, n, low, high, decay, spread).copy()


@functools.lru_cache(maxsize=32)
def _cluster_of(name: str, size: int, n: int, low: float, high: float, decay: float, spread: float) -> np.ndarray:
    """:func:`_cluster`, computed once per process (it does not depend on brightness)."""
    t = _t(size / SR)[:size]
    rng = _rng(name, "cluster")
    freqs = low * (high / low) ** rng.random(n)
    decays = decay * (1.0 - spread + 2 * spread * rng.random(n)) * (freqs / low) ** -0.25
    x = np.zeros_like(t)
    for f, a, d, ph in zip(freqs, rng.uniform(0.3, 1.0, n), decays, rng.uniform(0, 2 * np.pi, n)):
        x += a * np.sin(2 * np.pi * f * t + ph) * np.exp(-t / d)
    x /= np.sqrt(n)
    x.flags.writeable = False
    return x


# ------------------------------------------------------------------ acoustic kit


def _kick(name: str, b: float, f0: float, decay: float, click: float, room: float, length: float = 0.6) -> np.ndarray:
    t = _t(length)
    x = _head(t, f0, decay, 0.5, tilt=0.45, n=4)
    x += 1.0 * click * _click(name, t, 1800, 5000 + 4000 * b, 0.003)
    x += 0.5 * click * _band(_noise(name + "-thud", t.size), 250, 900) * np.exp(-t / 0.012)
    return _room(name, x, room)


def _snare(name: str, b: float, f0: float, decay: float, wires: float, wire_decay: float, room: float) -> np.ndarray:
    t = _t(0.5)
    head = _head(t, f0, decay, 0.08, tilt=0.75)
    follow = np.abs(signal.hilbert(head)) / max(1e-9, float(np.max(np.abs(head))))
    env = np.exp(-t / wire_decay) * (0.6 + 0.4 * follow)
    buzz = _band(_noise(name, t.size), 1400, 7000 + 6000 * b) * env
    stick = _click(name, t, 2500, 12_000, 0.0015)
    return _room(name, head + wires * 3.0 * buzz + 1.5 * stick, room)


def _tom(name: str, b: float, f0: float, decay: float = 0.32) -> np.ndarray:
    t = _t(max(0.5, decay * 4))
    x = _head(t, f0, decay, 0.25, tilt=0.5, n=4) + 0.5 * _click(name, t, 1500, 6000 + 3000 * b, 0.004)
    return _room(name, x, 0.5)


def _hat(name: str, b: float, decay: float, length: float = 0.5) -> np.ndarray:
    """An acoustic hi-hat: a dense high cluster, a little low ring and stick noise."""
    t = _t(min(length, decay * 7))
    x = _cluster(name, t, 48, 3000, 15_000, decay)
    x += 0.3 * _cluster(name + "-low", t, 10, 500, 3000, decay * 0.6)
    x += 0.8 * _band(_noise(name, t.size), 5000 * (0.7 + 0.6 * b), None) * np.exp(-t / (decay * 0.7))
    x = _band(x, 400, None)
    return _room(name, x, 0.25, 0.05)


def _ride(name: str, b: float) -> np.ndarray:
    t = _t(1.8)
    bell = _modes(t, (612.0, 1043.0, 1495.0, 2251.0, 3120.0), (1.0, 0.7, 0.5, 0.35, 0.25), (0.9, 0.7, 0.5, 0.4, 0.3))
    wash = _cluster(name, t, 64, 2500, 14_000, 0.6)
    ping = _click(name, t, 3000, 9000 + 4000 * b, 0.006)
    return _room(name, 0.25 * bell + wash + 1.5 * ping, 0.2)


def _crash(name: str, b: float, decay: float = 0.55, length: float = 2.2) -> np.ndarray:
    t = _t(length)
    x = _cluster(name, t, 96, 350, 15_000, decay, spread=0.7)
    x += 0.6 * _band(_noise(name, t.size), 2500 * (0.6 + 0.8 * b), None) * np.exp(-t / (0.7 * decay))
    x *= 1.0 - 0.7 * np.exp(-t / 0.02)  # the highs bloom after the stick
    return _room(name, x, 0.25)


def _china(name: str, b: float) -> np.ndarray:
    """A trashy china: two clusters ring-modulated, band-passed."""
    t = _t(1.4)
    x = _cluster(name + "a", t, 24, 300, 2500, 0.45) * _cluster(name + "b", t, 24, 1500, 7000, 0.45)
    x = _band(x, 700, 9000 + 4000 * b) + 0.3 * _click(name, t, 2000, 10_000, 0.01)
    return _room(name, x, 0.25)


# -------------------------------------------------------------- drum machines & more


def _kick_synth(name: str, b: float, f0: float, f1: float, sweep: float, decay: float, click: float, length: float) -> np.ndarray:
    t = _t(length)
    x = _body(t, f0, f1, sweep, decay)
    x += click * _band(_noise(name, t.size), 1500, 6000 + 6000 * b) * np.exp(-t / 0.004)
    return x


def _snare_synth(name: str, b: float, tone: float, decay: float, noise_decay: float, mix: float, low: float, length: float = 0.45) -> np.ndarray:
    t = _t(length)
    body = _body(t, tone * 1.4, tone, 0.01, decay)
    nz = _band(_noise(name, t.size), low, 5000 + 9000 * b) * np.exp(-t / noise_decay)
    return (1 - mix) * body + mix * 2.5 * nz


def _hat_synth(name: str, b: float, decay: float, low: float = 6000, length: float = 0.6) -> np.ndarray:
    t = _t(min(length, decay * 8))
    metal = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in (205.3, 304.4, 369.6, 522.7, 540.0, 800.0))
    x = 0.6 * _band(_noise(name, t.size), low * (0.7 + 0.6 * b), None) + 0.4 * _band(metal / 6.0, low * 1.2, None)
    return x * np.exp(-t / decay)


def _crash_synth(name: str, b: float, decay: float) -> np.ndarray:
    t = _t(decay * 3)
    return _band(_noise(name, t.size), 3000 * (0.6 + 0.8 * b), None) * np.exp(-t / decay)


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


def _brush(name: str, b: float) -> np.ndarray:
    t = _t(0.35)
    swish = _band(_noise(name, t.size), 1500, 6000 + 3000 * b) * np.exp(-t / 0.09) * np.clip(t / 0.01, 0.0, 1.0)
    return _room(name, 0.8 * swish + 0.25 * _head(t, 200, 0.05, 0.0, tilt=0.7), 0.4)


DRUM_SOUNDS = {
    "kick": lambda b: _kick("kick", b, 58, 0.22, 0.55, 0.45),
    "kick_rock": lambda b: _kick("kick_rock", b, 55, 0.17, 0.9, 0.4),
    "kick_808": lambda b: _kick_synth("kick_808", b, 110, 45, 0.05, 0.55, 0.15, 1.2),
    "kick_909": lambda b: _kick_synth("kick_909", b, 200, 50, 0.02, 0.35, 0.9, 0.6),
    "kick_lofi": lambda b: _band(_kick_synth("kick_lofi", b, 120, 50, 0.03, 0.25, 0.2, 0.5), None, 2500),
    "kick_chip": lambda b: _kick_synth("kick_chip", b, 300, 60, 0.02, 0.12, 0.0, 0.3),
    "bass_drum": lambda b: _kick("bass_drum", b, 62, 0.4, 0.25, 0.7, 1.0),
    "timpani": lambda b: _hand("timpani", b, 98, 0.9, 0.15, 1.02),
    "snare": lambda b: _snare("snare", b, 190, 0.1, 0.6, 0.13, 0.5),
    "snare_rock": lambda b: _snare("snare_rock", b, 175, 0.12, 0.7, 0.16, 0.6),
    "snare_808": lambda b: _snare_synth("snare_808", b, 220, 0.12, 0.14, 0.55, 1200),
    "snare_909": lambda b: _snare_synth("snare_909", b, 200, 0.08, 0.18, 0.7, 1500),
    "snare_march": lambda b: _snare("snare_march", b, 280, 0.05, 0.8, 0.07, 0.35),
    "snare_lofi": lambda b: _band(_snare_synth("snare_lofi", b, 190, 0.08, 0.14, 0.6, 600), None, 3500),
    "snare_chip": lambda b: _chip_noise("snare_chip", b, 0.08),
    "brush": lambda b: _brush("brush", b),
    "rim": lambda b: _hand("rim", b, 1700, 0.015, 0.5, 1.0),
    "clap": lambda b: _clap("clap", b),
    "hat": lambda b: _hat("hat", b, 0.045),
    "ohat": lambda b: _hat("ohat", b, 0.3, 1.2),
    "ride": lambda b: _ride("ride", b),
    "crash": lambda b: _crash("crash", b),
    "china": lambda b: _china("china", b),
    "hat_808": lambda b: _hat_synth("hat_808", b, 0.03, 7000),
    "hat_909": lambda b: _hat_synth("hat_909", b, 0.035),
    "ohat_909": lambda b: _hat_synth("ohat_909", b, 0.25),
    "ride_909": lambda b: _hat_synth("ride_909", b, 0.6, 4000, 1.6),
    "crash_909": lambda b: _crash_synth("crash_909", b, 0.9),
    "hat_lofi": lambda b: _band(_hat_synth("hat_lofi", b, 0.03, 5000), None, 7000),
    "hat_chip": lambda b: _chip_noise("hat_chip", b, 0.015),
    "shaker": lambda b: _band(_noise("shaker", int(0.12 * SR)), 4000, 12000) * np.sin(np.pi * np.clip(_t(0.12) / 0.06, 0, 1)) * np.exp(-_t(0.12) / 0.03),
    "tom": lambda b: _tom("tom", b, 110),
    "tom_hi": lambda b: _tom("tom_hi", b, 165, 0.26),
    "tom_lo": lambda b: _tom("tom_lo", b, 82, 0.4),
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
