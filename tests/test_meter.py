"""Loudness and true-peak meters against EBU Tech 3341/3342 synthetic cases and pyloudnorm."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from helpers.audio import FS, pink_noise, sine

from render.master.meter import LoudnessMeter, TruePeakMeter, measure


def _steps(levels: list[tuple[float, float]]) -> np.ndarray:
    return np.concatenate([sine(int(s * FS), 1000.0, amp=10 ** (db / 20)) for db, s in levels])


def _loudness(x: np.ndarray) -> LoudnessMeter:
    meter = LoudnessMeter(FS, 2)
    for start in range(0, x.shape[0], 480_000):
        meter.feed(x[start : start + 480_000])
    return meter


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([(-23, 20)], -23.0),
        ([(-33, 20)], -33.0),
        ([(-36, 10), (-23, 60), (-36, 10)], -23.0),
        ([(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)], -23.0),
        ([(-26, 20), (-20, 20.1), (-26, 20)], -23.0),
    ],
    ids=["3341-1", "3341-2", "3341-3", "3341-4", "3341-5"],
)
def test_integrated_loudness_ebu_3341(levels: list[tuple[float, float]], expected: float) -> None:
    assert _loudness(_steps(levels)).integrated_lufs() == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([(-20, 20), (-30, 20)], 10.0),
        ([(-20, 20), (-15, 20)], 5.0),
        ([(-40, 20), (-20, 20)], 20.0),
        ([(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),
    ],
    ids=["3342-1", "3342-2", "3342-3", "3342-4"],
)
def test_loudness_range_ebu_3342(levels: list[tuple[float, float]], expected: float) -> None:
    assert _loudness(_steps(levels)).lra_lu() == pytest.approx(expected, abs=1.0)


@pytest.mark.parametrize(
    ("freq_hz", "amp", "phase_deg", "expected"),
    [(FS / 4, 0.5, 0, -6.0), (FS / 4, 0.5, 45, -6.0), (FS / 6, 0.5, 60, -6.0), (FS / 8, 0.5, 67.5, -6.0), (FS / 4, 1.41, 45, 3.0)],
    ids=["3341-15", "3341-16", "3341-17", "3341-18", "3341-19"],
)
def test_true_peak_tones(freq_hz: float, amp: float, phase_deg: float, expected: float) -> None:
    x = sine(FS, freq_hz, amp, phase_deg)
    ramp = np.minimum(1.0, np.minimum(np.arange(FS), np.arange(FS)[::-1]) / 480)[:, None]  # 10 ms edges
    measured = measure(x * ramp, FS).true_peak_dbtp
    assert expected - 0.4 <= measured <= expected + 0.2


@pytest.mark.parametrize("seconds", [0.5, 1.0, 3.3])
def test_streaming_loudness_equals_pyloudnorm(seconds: float) -> None:
    x = pink_noise(int(seconds * FS) + 123, rms=0.1, seed=3)
    meter = LoudnessMeter(FS, 2)
    for start in range(0, x.shape[0], 7777):  # blocks that straddle the 100 ms hops
        meter.feed(x[start : start + 7777])
    ref = pyloudnorm.Meter(FS).integrated_loudness(x)
    assert meter.integrated_lufs() == pytest.approx(ref, abs=0.05)


def test_silence_and_short_audio_give_none_not_inf() -> None:
    silent = measure(np.zeros((FS, 2)), FS)
    assert silent.integrated_lufs is None and silent.lra_lu is None
    assert silent.true_peak_dbtp == -200.0
    short = measure(pink_noise(FS // 4), FS)
    assert short.integrated_lufs is None
    assert np.isfinite(short.true_peak_dbtp)


def test_true_peak_meter_is_block_size_independent() -> None:
    x = pink_noise(FS, rms=0.3, seed=5)
    values = []
    for size in (FS, 1000, 37):
        meter = TruePeakMeter(2)
        for start in range(0, x.shape[0], size):
            meter.feed(x[start : start + size])
        meter.finish()
        values.append(meter.true_peak_dbtp)
    assert max(values) - min(values) < 1e-4
    assert values[0] >= measure(x, FS).sample_peak_dbfs
