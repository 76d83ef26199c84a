"""Whole-note processing for the pitched voices: instrument bodies, amp and cabinet, filter sweeps.

Each stage works on one complete note (a pure function of the note cache key), so the
result never depends on chunking. Filters come from scipy.signal and pedalboard.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from render.audio import SAMPLE_RATE

from .style import stable_hash

__all__ = ["body", "amp", "sweep", "BODIES"]

SR = SAMPLE_RATE

#: Resonating bodies: fixed modes ``(hz, level, q)``, then ``count`` weaker modes spread
#: log-uniformly over ``(lo, hi)`` Hz (the dense, irregular part of a wooden body), and
#: ``direct``: the share of the dry string signal that bypasses the body.
BODIES: dict[str, dict] = {
    # violin: air (A0) ~280 Hz, main wood modes ~460/550 Hz, the "bridge hill" 2-3 kHz
    "violin": {"modes": ((280, 0.8, 18), (460, 1.0, 16), (540, 0.8, 18), (1050, 0.35, 14), (2400, 0.9, 8), (3100, 0.6, 9)),
               "band": (200.0, 7000.0, 48), "tilt": 0.35, "direct": 0.25},
    # cello: air ~100 Hz, wood ~190/290/420 Hz, a weak, low bridge hill
    "cello": {"modes": ((100, 0.9, 14), (190, 1.0, 14), (290, 0.8, 15), (420, 0.7, 15), (580, 0.45, 14), (1300, 0.25, 10), (2000, 0.18, 9)),
              "band": (80.0, 4000.0, 40), "tilt": 0.6, "direct": 0.2},
    # harp: a long soundboard with low modes, soft highs
    "harp": {"modes": ((140, 0.8, 12), (260, 1.0, 12), (420, 0.6, 12), (900, 0.3, 10)),
             "band": (100.0, 5000.0, 30), "tilt": 0.5, "direct": 0.5},
    # harpsichord: a thin, bright soundboard; nasal peaks near 1 and 2.5 kHz
    "harpsichord": {"modes": ((220, 0.5, 12), (1000, 0.9, 6), (2500, 1.0, 5), (4200, 0.6, 6)),
                    "band": (150.0, 9000.0, 40), "tilt": 0.15, "direct": 0.4},
}


@lru_cache(maxsize=None)
def _body_ir(name: str) -> np.ndarray:
    """The impulse response of a body: a sum of decaying sinusoids (modal synthesis), ~60 ms."""
    spec = BODIES[name]
    rng = np.random.default_rng(stable_hash("body", name))
    lo, hi, count = spec["band"]
    freqs = np.exp(rng.uniform(np.log(lo), np.log(hi), count))
    rand = [(f, rng.rayleigh(0.25) * (lo / f) ** spec["tilt"] * 2.0, rng.uniform(15, 40)) for f in freqs]
    t = np.arange(int(0.06 * SR)) / SR
    ir = np.zeros_like(t)
    for hz, level, q in (*spec["modes"], *rand):
        ir += level * np.exp(-np.pi * hz * t / q) * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi)) * np.sqrt(hz / 300.0)
    ir *= (1.0 - spec["direct"]) / (np.sqrt(np.sum(ir**2)) or 1.0)
    ir[0] += spec["direct"]
    return ir.astype(np.float32)


def body(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` through the body ``name`` (FFT convolution, same length as ``x``)."""
    return signal.oaconvolve(x, _body_ir(name))[: x.shape[0]].astype(np.float32)


def amp(x: np.ndarray, drive_db: float, cab_hz: float, bright: float) -> np.ndarray:
    """A guitar amp and a 4x12 cabinet (pedalboard): tight pre-EQ, two gain stages, speaker EQ.

    The cabinet is a steep low-pass near ``cab_hz`` with a low-mid thump, a mid scoop and
    presence: what turns clipped strings into a guitar sound rather than a synth saw.
    """
    import pedalboard

    board = pedalboard.Pedalboard([
        pedalboard.HighpassFilter(cutoff_frequency_hz=110.0),
        pedalboard.PeakFilter(cutoff_frequency_hz=900.0, gain_db=6.0, q=0.7),  # tube-screamer mid push
        pedalboard.Distortion(drive_db=drive_db * 0.6),
        pedalboard.LowpassFilter(cutoff_frequency_hz=6000.0),
        pedalboard.Distortion(drive_db=drive_db * 0.5),
        pedalboard.HighpassFilter(cutoff_frequency_hz=75.0),  # distortion of asymmetric waves makes DC
        pedalboard.PeakFilter(cutoff_frequency_hz=120.0, gain_db=5.0, q=1.2),  # closed-back cabinet thump
        pedalboard.PeakFilter(cutoff_frequency_hz=500.0, gain_db=-5.0, q=0.9),  # scoop
        pedalboard.PeakFilter(cutoff_frequency_hz=2200.0, gain_db=4.0, q=1.0),  # presence
    ])
    y = board(x[None, :] * np.float32(0.5), SR)[0]
    return signal.sosfilt(_cabinet(round(cab_hz * (0.8 + 0.4 * bright), -2)), y).astype(np.float32)


@lru_cache(maxsize=None)
def _cabinet(cutoff_hz: float) -> np.ndarray:
    """A speaker's steep roll-off: 4th-order Butterworth low-pass."""
    return signal.butter(4, cutoff_hz, btype="low", fs=SR, output="sos")


def sweep(x: np.ndarray, lo_hz: float, hi_hz: float, rise_s: float, lfo_hz: float, resonance: float, bright: float) -> np.ndarray:
    """A resonant ladder low-pass whose cutoff opens over ``rise_s`` and then drifts with an LFO.

    Processed in 512-sample blocks with the filter state carried over (pedalboard LadderFilter).
    """
    import pedalboard

    ladder = pedalboard.LadderFilter(mode=pedalboard.LadderFilter.Mode.LPF24, cutoff_hz=lo_hz, resonance=resonance)
    top = hi_hz * (0.5 + bright)
    out = np.empty_like(x)
    block = 512
    for a in range(0, x.shape[0], block):
        t = a / SR
        opened = 1.0 - np.exp(-t / rise_s)
        wobble = 0.5 - 0.5 * np.cos(2 * np.pi * lfo_hz * t)
        ladder.cutoff_hz = float(lo_hz * (top / lo_hz) ** (opened * (0.55 + 0.45 * wobble)))
        out[a : a + block] = ladder(x[None, a : a + block], SR, reset=False)[0]
    return out
