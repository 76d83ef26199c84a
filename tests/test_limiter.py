"""True-peak limiter: ceiling on an independent meter, streaming == whole, transparency."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.audio import FS, independent_true_peak_dbtp, pink_noise

from render.master.limiter import TruePeakLimiter, predict_limited_lufs


def _limit(x: np.ndarray, block: int, ceiling_dbtp: float = -1.3) -> tuple[np.ndarray, TruePeakLimiter]:
    lim = TruePeakLimiter(FS, 2, ceiling_dbtp=ceiling_dbtp)
    parts = [lim.process(x[i : i + block]) for i in range(0, x.shape[0], block)]
    return np.concatenate(parts + [lim.flush()]), lim


@pytest.mark.parametrize("rms", [0.5, 0.8])
def test_hot_signal_ends_under_ceiling_on_independent_meter(rms: float) -> None:
    x = pink_noise(2 * FS, rms=rms, seed=1).astype(np.float32)
    assert independent_true_peak_dbtp(x) > 5.0
    y, lim = _limit(x, 48_000)
    assert y.shape == x.shape
    assert independent_true_peak_dbtp(y) <= -1.0  # -1.3 internal ceiling + 0.3 dB margin
    assert lim.max_reduction_db > 6.0
    assert lim.frames_limited > 0


def test_opening_peak_is_caught() -> None:
    x = np.zeros((FS // 2, 2), np.float32)
    x[0:50] = 0.99  # a peak in the very first frames
    y, _ = _limit(x, 1000)
    assert np.abs(y).max() <= 10 ** (-1.3 / 20) + 1e-6


def test_streaming_equals_whole() -> None:
    x = pink_noise(FS // 2, rms=0.4, seed=2).astype(np.float32)
    for block in (4_800, 777, 1):
        part = x[:3_000] if block == 1 else x
        whole, _ = _limit(part, part.shape[0])
        chunked, _ = _limit(part, block)
        np.testing.assert_allclose(chunked, whole, atol=1e-6, err_msg=f"block={block}")


def test_quiet_signal_passes_untouched() -> None:
    x = pink_noise(FS // 2, rms=0.02, seed=3).astype(np.float32)
    y, lim = _limit(x, 5000)
    np.testing.assert_array_equal(y, x)
    assert lim.frames_limited == 0 and lim.max_reduction_db == 0.0


def test_release_recovers_gain() -> None:
    x = np.full((FS, 2), 0.1, np.float32)
    x[1000:1010] = 1.0
    y, _ = _limit(x, 4096)
    gain = y[:, 0] / x[:, 0]
    assert gain[1005] < 0.9
    assert gain[-1] > 0.999  # 100 ms release: recovered after ~1 s
    assert np.all(np.diff(gain[1010:]) >= -1e-6)  # monotonic recovery after the peak


def test_prediction_model_tracks_the_real_limiter() -> None:
    from render.master.meter import LoudnessMeter, TruePeakMeter

    x = pink_noise(4 * FS, rms=0.1, seed=4).astype(np.float32)
    x[::12_000] *= 6  # transients every 250 ms
    loud, peak = LoudnessMeter(FS, 2, bins_per_hop=20), TruePeakMeter(2, bin_frames=240)
    loud.feed(x)
    peak.feed(x)
    peak.finish()
    gain_db = 6.0
    y, lim = _limit(x * np.float32(10 ** (gain_db / 20)), 48_000)
    real = LoudnessMeter(FS, 2)
    real.feed(y)
    predicted = predict_limited_lufs(loud.bin_energies(), peak.bin_peaks(), frames=x.shape[0], gain_db=gain_db,
                                     ceiling_dbtp=-1.3, bin_frames=240)
    unlimited = loud.integrated_lufs() + gain_db
    assert lim.max_reduction_db > 3.0
    assert predicted < unlimited
    assert predicted == pytest.approx(real.integrated_lufs(), abs=0.3)
