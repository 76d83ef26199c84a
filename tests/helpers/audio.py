"""Shared helpers for the master/export tests: signals, spool segments, an independent meter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import lfilter, resample_poly

from render.audio import Segment

FS = 48_000


def pink_noise(frames: int, rms: float = 0.1, seed: int = 0) -> np.ndarray:
    """Stereo pink-ish noise ``[frames, 2]`` float64 (music-like spectrum)."""
    white = np.random.default_rng(seed).standard_normal((frames, 2))
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    pink = lfilter(b, a, white, axis=0)
    return pink / np.std(pink) * rms


def sine(frames: int, freq_hz: float, amp: float = 0.5, phase_deg: float = 0.0, rate: int = FS) -> np.ndarray:
    """Stereo sine ``[frames, 2]``."""
    t = np.arange(frames) / rate
    s = amp * np.sin(2 * np.pi * freq_hz * t + np.deg2rad(phase_deg))
    return np.stack([s, s], axis=1)


def write_segment(path: Path, x: np.ndarray, start: int, label: str = "", offset_bytes: int = 0) -> Segment:
    """Write float ``x`` as int16 LE PCM (after ``offset_bytes`` of junk) and describe it."""
    pcm = np.clip(np.rint(x * 32768), -32768, 32767).astype("<i2")
    path.write_bytes(b"\x7f" * offset_bytes + pcm.tobytes())
    return Segment(path=path, start=start, frames=x.shape[0], offset_bytes=offset_bytes, label=label)


def independent_true_peak_dbtp(x: np.ndarray) -> float:
    """8x true peak via scipy ``resample_poly`` (not the project's FIR code)."""
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    peak = max(float(np.abs(resample_poly(x[:, c], 8, 1)).max()) for c in range(x.shape[1]))
    return 20 * np.log10(max(peak, 1e-10))
