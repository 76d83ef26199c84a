"""A streaming look-ahead true-peak limiter.

The design (see ``shared/AUDIO.md``):

1. a 8x polyphase FIR estimates the true peak around every sample;
2. ``need[n] = min(1, ceiling / peak[n])``;
3. a sliding minimum over the look-ahead (``L`` frames, ~5 ms) makes the gain reach
   ``need`` before the peak arrives (instant attack);
4. the reduction in dB releases exponentially (50-200 ms);
5. a moving average over ``L + 1`` frames smooths the step into a ramp that ends at
   the peak, so ``gain[n] <= need[n]`` holds for every frame.

The limiter is exact under streaming: ``process()`` may be fed blocks of any size and
gives the same output as one call on the whole signal. Output lags input by
:attr:`TruePeakLimiter.latency_frames`; :meth:`TruePeakLimiter.flush` returns the rest.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import minimum_filter1d

from render.audio import SAMPLE_RATE

from .meter import frame_peaks, gap_bounds, interpolate_peaks, polyphase_interpolator

__all__ = ["TruePeakLimiter", "predict_limited_lufs"]

_FACTOR = 8
_TAPS = 24
_LIMITED_DB = 0.01  # a frame counts as limited above this reduction


class TruePeakLimiter:
    """Look-ahead true-peak limiter, stateful across blocks.

    Args:
        sample_rate: frames per second.
        channels: channel count (gain is linked across channels).
        ceiling_dbtp: the largest true peak allowed at the output, in dBTP.
        lookahead_s: look-ahead (and attack ramp) length in seconds.
        release_s: time constant of the exponential release, in seconds.

    Example:
        >>> lim = TruePeakLimiter(48000, 2, ceiling_dbtp=-1.3)
        >>> out = [lim.process(b) for b in blocks] + [lim.flush()]   # doctest: +SKIP
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        *,
        ceiling_dbtp: float,
        lookahead_s: float = 0.005,
        release_s: float = 0.1,
    ) -> None:
        self.ceiling = 10 ** (ceiling_dbtp / 20)
        self.lookahead_frames = max(1, round(lookahead_s * sample_rate))
        self._ln_decay = -1.0 / (release_s * sample_rate)
        self._matrix = polyphase_interpolator(_FACTOR, _TAPS, cutoff=1.0)
        self._half = _TAPS // 2
        self._pre = self._half + 1
        # L silent frames before the start let the gain ramp down before an opening peak
        self._buf = np.zeros((self._pre + self.lookahead_frames, channels), np.float32)
        self._skip = self.lookahead_frames
        self._gain_hist = np.ones(self.lookahead_frames)
        self._reduction_db = 0.0
        self._fed = 0
        self._emitted = 0
        self.max_reduction_db = 0.0
        self.frames_limited = 0

    @property
    def latency_frames(self) -> int:
        """Frames held back between input and output."""
        return self._half + 1 + self.lookahead_frames

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed ``[frames, channels]``; return the next output frames (maybe fewer, maybe none)."""
        self._fed += block.shape[0]
        self._buf = np.concatenate([self._buf, np.asarray(block, np.float32)])
        return self._run()

    def flush(self) -> np.ndarray:
        """Return every remaining output frame; the limiter is then empty."""
        pad = np.zeros((self.latency_frames, self._buf.shape[1]), np.float32)
        self._buf = np.concatenate([self._buf, pad])
        remaining = self._fed - self._emitted
        out = self._run()[:remaining]
        self._emitted = self._fed
        return out

    def _run(self) -> np.ndarray:
        x = self._buf
        count = x.shape[0] - self._half - 1 - self.lookahead_frames - self._pre
        if count <= 0:
            return np.zeros((0, x.shape[1]), np.float32)
        need = self._need(x, self._pre, self._pre + count + self.lookahead_frames)
        gain = self._gain(need, count)
        out = x[self._pre : self._pre + count]
        if gain is not None:
            out = (out * gain[:, None]).astype(np.float32)
        self._buf = x[count:]
        if self._skip:
            dropped = min(self._skip, count)
            out, self._skip = out[dropped:], self._skip - dropped
        self._emitted += out.shape[0]
        return out

    def _need(self, x: np.ndarray, first: int, stop: int) -> np.ndarray | None:
        """Gain each frame ``first .. stop-1`` of ``x`` needs, or ``None`` if all are 1."""
        bound = gap_bounds(x, first - 1, stop)  # gaps after n-1 and after n for every frame
        cand = np.nonzero(bound > self.ceiling)[0]
        if cand.size == 0:
            return None
        peak = frame_peaks(x[first:stop]).astype(np.float64)
        gaps = np.zeros(stop - first + 1)
        pos = cand + first - 1
        vals = interpolate_peaks(x[:, 0], self._matrix, pos)
        for ch in range(1, x.shape[1]):
            np.maximum(vals, interpolate_peaks(x[:, ch], self._matrix, pos), out=vals)
        gaps[cand] = vals
        peak = np.maximum(peak, np.maximum(gaps[1:], gaps[:-1]))
        need = np.minimum(1.0, self.ceiling / np.maximum(peak, 1e-12))
        return need if need.min() < 1.0 else None

    def _gain(self, need: np.ndarray | None, count: int) -> np.ndarray | None:
        """Look-ahead minimum, release and smoothing for ``count`` output frames."""
        if need is None and self._reduction_db < 1e-7 and self._gain_hist.min() >= 1.0:
            return None
        if need is None:
            held = np.ones(count)
        else:
            held = minimum_filter1d(need, self.lookahead_frames + 1, origin=-((self.lookahead_frames + 1) // 2))
            held = held[:count]
        target_db = -20.0 * np.log10(held)
        reduction_db = self._release(target_db)
        stepped = 10.0 ** (-reduction_db / 20.0)
        both = np.concatenate([self._gain_hist, stepped])
        csum = np.concatenate([[0.0], np.cumsum(both)])
        width = self.lookahead_frames + 1
        gain = (csum[width:] - csum[:-width]) / width
        self._gain_hist = both[-self.lookahead_frames :]
        limited = gain < 10 ** (-_LIMITED_DB / 20)
        self.frames_limited += int(np.count_nonzero(limited))
        if limited.any():
            self.max_reduction_db = max(self.max_reduction_db, float(-20 * np.log10(gain.min())))
        return gain

    def _release(self, target_db: np.ndarray) -> np.ndarray:
        """``r[m] = max(target[m], r[m-1] * decay)`` in closed form (running max in log domain)."""
        m = np.arange(target_db.shape[0], dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_target = np.log(np.maximum(target_db, 0.0))
            start = math.log(self._reduction_db) + self._ln_decay if self._reduction_db > 0 else -np.inf
        running = np.maximum.accumulate(np.maximum(log_target - m * self._ln_decay, start))
        reduction = np.exp(running + m * self._ln_decay)
        self._reduction_db = float(reduction[-1]) if reduction.size else self._reduction_db
        if self._reduction_db < 1e-7:
            self._reduction_db = 0.0
        return reduction


def predict_limited_lufs(
    bin_energy: np.ndarray,
    bin_peak: np.ndarray,
    *,
    frames: int,
    gain_db: float,
    ceiling_dbtp: float,
    bin_frames: int,
    sample_rate: int = SAMPLE_RATE,
    release_s: float = 0.1,
) -> float | None:
    """Predict the integrated loudness after gain + :class:`TruePeakLimiter`, without running it.

    Works on a coarse picture of the signal kept by the measuring pass: the K-weighted
    energy and the (coarse) true peak of every ``bin_frames`` bin (5 ms at 48 kHz). The
    limiter is simulated at bin resolution (look-ahead of one bin, the same release) and
    each bin's energy scaled by its squared gain. Used to choose the gain so that the
    limited loudness lands on target; the real output is measured afterwards.

    Args:
        bin_energy: weighted K-filtered sum of squares per bin (``LoudnessMeter.bin_energies``).
        bin_peak: linear coarse true peak per bin (``TruePeakMeter.bin_peaks``).
        frames: length of the signal in frames.
        gain_db: gain applied before the limiter.
        ceiling_dbtp: the limiter's ceiling.
        bin_frames: frames per bin; 100 ms must be a whole number of bins.

    Returns:
        Predicted integrated loudness in LUFS, or ``None`` if not measurable.
    """
    from .meter import integrated_from_sub_blocks

    n = min(bin_energy.size, bin_peak.size)
    gain = 10 ** (gain_db / 20)
    need = np.minimum(1.0, 10 ** (ceiling_dbtp / 20) / np.maximum(gain * bin_peak[:n].astype(np.float64), 1e-12))
    held = np.minimum(need, np.append(need[1:], 1.0))  # the ramp starts one bin before the peak
    target_db = -20.0 * np.log10(held)
    ln_decay = -bin_frames / (release_s * sample_rate)
    m = np.arange(n, dtype=np.float64)
    with np.errstate(divide="ignore"):
        running = np.maximum.accumulate(np.log(target_db) - m * ln_decay) if n else np.zeros(0)
    reduction_db = np.exp(running + m * ln_decay)
    energy = bin_energy[:n] * gain**2 * 10 ** (-reduction_db / 10)
    per_hop = sample_rate // 10 // bin_frames
    energy = np.concatenate([energy, np.zeros(-n % per_hop)]).reshape(-1, per_hop).sum(axis=1)
    return integrated_from_sub_blocks(energy, frames, sample_rate)
