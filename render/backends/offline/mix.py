"""Mixing: note rings per group, stem gains, a stereo reverb, bus dynamics and a soft clip.

Chunk-size independence is designed in: every stage computes each output sample with
the same arithmetic however the stream is cut into chunks.

* Notes are added whole into per-group ring buffers (their tails wait there).
* Stem gains are evaluated per sample from absolute positions.
* The reverb runs at 12 kHz: early reflections are a gather over past decimated samples
  (delays >= 2), the late tail a uniformly partitioned FFT convolution on a fixed grid
  of 1024-sample blocks whose impulse response starts after one block (so a block never
  feeds its own output); output is linearly interpolated back to 48 kHz.
* The bus compressor measures complete 1024-frame blocks on a fixed grid and applies a
  gain ramp that only depends on earlier blocks.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import signal

from render.audio import SAMPLE_RATE

__all__ = ["Ring", "Reverb", "BusCompressor", "soft_clip"]

_DEC = 4


class Ring:
    """A stereo ring buffer of future audio indexed by absolute frame position.

    Args:
        size_frames: capacity (a power of two); must exceed the longest note plus one render block.
    """

    def __init__(self, size_frames: int = 1 << 19) -> None:
        self.size = size_frames
        self.mask = size_frames - 1
        self.buf = np.zeros((2, size_frames), dtype=np.float32)
        self.horizon = 0  # one past the furthest frame written

    def add(self, pos: int, note: np.ndarray, gain_l: float, gain_r: float) -> None:
        """Add a note at absolute frame ``pos`` with per-channel gains: mono frames, or
        (frames, 2) for a stereo note (a SoundFont bank's), whose channels keep their sides."""
        n = note.shape[0]
        left, right = (note, note) if note.ndim == 1 else (note[:, 0], note[:, 1])
        i = pos & self.mask
        first = min(n, self.size - i)
        buf = self.buf
        buf[0, i : i + first] += left[:first] * np.float32(gain_l)
        buf[1, i : i + first] += right[:first] * np.float32(gain_r)
        if first < n:
            buf[0, : n - first] += left[first:] * np.float32(gain_l)
            buf[1, : n - first] += right[first:] * np.float32(gain_r)
        self.horizon = max(self.horizon, pos + n)

    def take(self, pos: int, n: int) -> np.ndarray:
        """Remove and return frames ``[pos, pos + n)`` as a (2, n) array (zeroed in the ring)."""
        i = pos & self.mask
        first = min(n, self.size - i)
        out = np.empty((2, n), dtype=np.float32)
        out[:, :first] = self.buf[:, i : i + first]
        self.buf[:, i : i + first] = 0.0
        if first < n:
            out[:, first:] = self.buf[:, : n - first]
            self.buf[:, : n - first] = 0.0
        return out

    def fade_from(self, pos: int, fade_frames: int) -> None:
        """Fade everything waiting at or after ``pos`` to silence over ``fade_frames``."""
        end = self.horizon
        if end <= pos:
            return
        span = np.arange(pos, end)
        gain = np.clip(1.0 - (span - pos) / fade_frames, 0.0, 1.0).astype(np.float32)
        idx = span & self.mask
        self.buf[:, idx] *= gain


class Reverb:
    """Stereo reverb at 12 kHz from a mono send (see module docstring)."""

    BLOCK = 2048  # decimated samples per late-reverb block
    OFFSET = BLOCK + 2  # the late tail starts here (171 ms); early reflections fill the gap
    _RING = 1 << 16

    def __init__(self, tail_s: float = 1.3, seed: int = 7) -> None:
        self.H, self.taps, self.tap_gain = _reverb_design(tail_s, seed, self.BLOCK, self.OFFSET)
        self.parts = self.H.shape[1]
        self.fdl = np.zeros((2 * self.parts, self.BLOCK + 1), dtype=np.complex64)
        self.prev = np.zeros(self.BLOCK, dtype=np.float32)
        self.send = np.zeros(self._RING, dtype=np.float32)
        self.late = np.zeros((2, self._RING), dtype=np.float32)
        self.pending = np.zeros(0, dtype=np.float32)
        self.dec_count = 0
        self.blocks = 0

    def _ring_slice(self, ring: np.ndarray, start: int, n: int) -> np.ndarray:
        """Samples ``[start, start + n)`` of a ring (a view when they do not wrap)."""
        i = start & (self._RING - 1)
        if i + n <= self._RING:
            return ring[..., i : i + n]
        return np.concatenate([ring[..., i:], ring[..., : i + n - self._RING]], axis=-1)

    def _ring_write(self, ring: np.ndarray, start: int, values: np.ndarray) -> None:
        n = values.shape[-1]
        i = start & (self._RING - 1)
        first = min(n, self._RING - i)
        ring[..., i : i + first] = values[..., :first]
        if first < n:
            ring[..., : n - first] = values[..., first:]

    def _decimate(self, send: np.ndarray) -> None:
        x = np.concatenate([self.pending, send]) if self.pending.size else send
        groups = x.shape[0] // _DEC
        g = x[: groups * _DEC].reshape(groups, _DEC)
        dec = ((g[:, 0] + g[:, 1]) + (g[:, 2] + g[:, 3])) * np.float32(0.25)
        self.pending = x[groups * _DEC :].copy()
        self._ring_write(self.send, self.dec_count, dec)
        self.dec_count += groups

    def _late_blocks(self) -> None:
        B, P = self.BLOCK, self.parts
        while (self.blocks + 1) * B <= self.dec_count:
            k = self.blocks
            cur = self._ring_slice(self.send, k * B, B).copy()
            X = sfft.rfft(np.concatenate([self.prev, cur]))
            slot = k % P
            self.fdl[slot] = X
            self.fdl[slot + P] = X
            window = self.fdl[slot + 1 : slot + 1 + P]
            Y = (window[None, :, :] * self.H).sum(axis=1)
            y = sfft.irfft(Y, n=2 * B, axis=1)[:, B:]
            self._ring_write(self.late, k * B + self.OFFSET, y)
            self.prev = cur
            self.blocks += 1

    def process(self, start: int, send: np.ndarray) -> np.ndarray:
        """Wet stereo output for frames ``[start, start + len(send))``, as (2, n) float32."""
        n = send.shape[0]
        self._decimate(send)
        self._late_blocks()
        m0 = start >> 2
        m1 = ((start + n - 1) >> 2) + 2
        wet = self._ring_slice(self.late, m0, m1 - m0).copy()
        for ch in range(2):
            for d, g in zip(self.taps[ch], self.tap_gain[ch]):
                wet[ch] += g * self._ring_slice(self.send, m0 - int(d), m1 - m0)
        # linear interpolation to 48 kHz over the 4-aligned superset, then cut
        w0 = wet[:, :-1]
        up = (w0[:, :, None] + _FRAC[None, None, :] * (wet[:, 1:] - w0)[:, :, None]).reshape(2, -1)
        off = start - 4 * m0
        return up[:, off : off + n]


_FRAC = np.array([0.0, 0.25, 0.5, 0.75], dtype=np.float32)


@lru_cache(maxsize=4)
def _reverb_design(tail_s: float, seed: int, block: int, offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partition spectra of the late tail (2, parts, block + 1), early tap delays and gains.

    The late impulse response is band-passed noise (180 Hz - 3.8 kHz) with an exponential
    decay, starting ``offset`` decimated samples after the direct sound.
    """
    rng = np.random.default_rng(seed)
    sr = SAMPLE_RATE // _DEC
    n = int(tail_s * sr)
    parts = -(-n // block)
    t = np.arange(parts * block) / sr + offset / sr
    noise = rng.standard_normal((2, t.size))
    b, a = signal.butter(2, [180.0, 3800.0], btype="bandpass", fs=sr)
    ir = signal.lfilter(b, a, noise, axis=1) * np.exp(-t * 6.9 / (tail_s * 1.2))
    ir *= np.clip(t / 0.08, 0.0, 1.0)  # smooth onset of the late tail after the early reflections
    ir *= 0.42 / np.sqrt(np.sum(ir**2, axis=1, keepdims=True))
    hp = ir.reshape(2, parts, block)
    padded = np.concatenate([hp, np.zeros_like(hp)], axis=2)
    spectra = sfft.rfft(padded, axis=2).astype(np.complex64)[:, ::-1, :].copy()  # oldest partition first
    taps = np.sort(rng.uniform(0.0, 1.0, size=(2, 12)) ** 1.3 * (offset - 60) + 40, axis=1).astype(np.int64)
    gains = (0.3 * np.exp(-taps / 1400.0) * rng.choice([-1, 1], size=taps.shape)).astype(np.float32)
    for arr in (spectra, taps, gains):
        arr.setflags(write=False)
    return spectra, taps, gains


class BusCompressor:
    """Gentle RMS compressor on a fixed grid of 1024-frame blocks (2 blocks of latency in its reaction)."""

    BLOCK = 1024

    def __init__(self, threshold_db: float = -21.0, ratio: float = 2.0, release: float = 0.95) -> None:
        self.threshold_db = threshold_db
        self.ratio = ratio
        self.release = release
        self.env = 0.0
        self.targets = [1.0, 1.0]  # T[k-2], T[k-1] for the current block k
        self.pending = np.zeros((2, 0), dtype=np.float32)
        self.block = 0  # index of the block being filled

    def _target(self, mean_square: float) -> float:
        self.env = max(mean_square, self.env * self.release)
        over = 10.0 * math.log10(self.env + 1e-12) - self.threshold_db
        return 10.0 ** (-over * (1.0 - 1.0 / self.ratio) / 20.0) if over > 0 else 1.0

    def process(self, start: int, x: np.ndarray) -> np.ndarray:
        """Compress (2, n) audio at frames ``[start, start + n)`` in place and return it."""
        B = self.BLOCK
        n = x.shape[1]
        k0 = start // B
        k1 = (start + n - 1) // B
        completed = self._measure(x)
        count = k1 - k0 + 1
        g0 = np.empty(count, dtype=np.float32)
        g1 = np.empty(count, dtype=np.float32)
        targets = list(self.targets)
        for j in range(count):
            g0[j], g1[j] = targets[-2], targets[-1]
            if j < len(completed):
                targets.append(self._target(completed[j]))
        self.targets = targets[-2:]
        gain = (g0[:, None] + (g1 - g0)[:, None] * _RAMP[None, :]).reshape(-1)
        off = start - k0 * B
        x *= gain[off : off + n]
        return x

    def _measure(self, x: np.ndarray) -> list[float]:
        """Mean squares of the grid blocks that ``x`` completes (before any gain)."""
        B = self.BLOCK
        n = x.shape[1]
        need = B - self.pending.shape[1]
        if n < need:
            self.pending = np.concatenate([self.pending, x], axis=1)
            return []
        first = np.concatenate([self.pending, x[:, :need]], axis=1)
        completed = _mean_square(first[:, None, :])
        whole = (n - need) // B
        if whole:
            completed += _mean_square(x[:, need : need + whole * B].reshape(2, whole, B))
        self.pending = x[:, need + whole * B :].copy()
        return completed


_RAMP = (np.arange(BusCompressor.BLOCK, dtype=np.float32) / np.float32(BusCompressor.BLOCK)).astype(np.float32)


def _mean_square(blocks: np.ndarray) -> list[float]:
    """Mean square of each block of a (2, K, B) float32 array (same arithmetic for any K)."""
    sq = blocks.astype(np.float64) ** 2
    sums = sq.sum(axis=2)
    return [float((sums[0, k] + sums[1, k]) / (2 * blocks.shape[2])) for k in range(blocks.shape[1])]


def soft_clip(x: np.ndarray, ceiling: float = 0.97, knee: float = 0.8) -> np.ndarray:
    """Leave samples below ``knee * ceiling`` untouched and bend louder ones under ``ceiling`` (in place)."""
    t = knee * ceiling
    mask = np.abs(x) > t
    if mask.any():
        v = x[mask]
        a = np.abs(v)
        x[mask] = np.sign(v) * (t + (ceiling - t) * np.tanh((a - t) / (ceiling - t)))
    return x
