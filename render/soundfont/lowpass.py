"""The voice's low-pass filter (SF2.01 initialFilterFc/Q): a biquad, fixed or following a cutoff track.

Q is the resonance height in cB; as in common players, 0 cB gives a Butterworth (-3 dB)
corner. As the spec says (and FluidSynth does), a resonant filter's DC gain drops by half
the resonance height, so the peak stands Q/2 above unity and a resonant voice is not
louder than a plain one. A moving cutoff (the modulation envelope or LFO,
:mod:`.modulation`) is followed in blocks of 64 frames (1.3 ms), the cutoff rounded to 5
cents, with the filter state carried from block to block; blocks with the same cutoff are
filtered in one call, so a note whose envelope has settled costs what a fixed filter does.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["filter_coefficients", "lowpass", "FILTER_OFF_CENTS"]

#: initialFilterFc at or above which (with no resonance) the filter is off.
FILTER_OFF_CENTS = 13500
_BLOCK = 64
_STEP_CENTS = 5.0


def _biquad(fc_cents: float, q_cb: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    hz = min(8.176 * 2.0 ** (fc_cents / 1200.0), 0.45 * sample_rate)
    q = 10.0 ** ((q_cb / 10.0 - 3.01) / 20.0)
    w0 = 2.0 * math.pi * hz / sample_rate
    alpha = math.sin(w0) / (2.0 * q)
    cw = math.cos(w0)
    gain = 10.0 ** (-max(q_cb, 0) / 400.0)  # Q/2 dB below unity at DC
    b = gain * np.array([(1 - cw) / 2, 1 - cw, (1 - cw) / 2])
    a = np.array([1 + alpha, -2 * cw, 1 - alpha])
    return b / a[0], a / a[0]


def filter_coefficients(fc_cents: int, q_cb: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Biquad low-pass (b, a) for initialFilterFc/Q, or None when the filter is fully open."""
    if fc_cents >= FILTER_OFF_CENTS and q_cb <= 0:
        return None
    return _biquad(fc_cents, q_cb, sample_rate)


def lowpass(signal: np.ndarray, fc_cents: int | np.ndarray, q_cb: int, sample_rate: int) -> np.ndarray:
    """``signal`` (float64) through the voice filter; ``fc_cents`` is fixed or one value per frame."""
    from scipy.signal import lfilter  # imported on first use: scipy.signal takes a while to load

    if not isinstance(fc_cents, np.ndarray):
        coeffs = filter_coefficients(fc_cents, q_cb, sample_rate)
        return signal if coeffs is None else lfilter(coeffs[0], coeffs[1], signal)
    n = signal.shape[0]
    cut = np.round(fc_cents[:n:_BLOCK] / _STEP_CENTS) * _STEP_CENTS
    edges = np.concatenate(([0], np.flatnonzero(np.diff(cut)) + 1, [cut.shape[0]]))
    out = np.empty_like(signal)
    state = np.zeros(2)
    for lo, hi in zip(edges[:-1], edges[1:]):
        b, a = _biquad(float(cut[lo]), q_cb, sample_rate)
        part = slice(lo * _BLOCK, min(hi * _BLOCK, n))
        out[part], state = lfilter(b, a, signal[part], zi=state)
    return out
