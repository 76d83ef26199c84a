"""Stitching, trimming, fades, loops and loudness of the streaming master (finish())."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from helpers.audio import FS, independent_true_peak_dbtp, pink_noise, write_segment

import render.master.finish as finish_mod
from render.errors import MasterError
from render.export.finish import finish
from render.export.writers import ExportSettings, TagSet
from render.master.stitch import MasterSettings, PieceSource, plan_stitch

WAV_FLOAT = ExportSettings(formats=("wav",), wav_subtype="FLOAT")


def _read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float64")[0]


def test_contiguous_chunks_are_sample_exact(tmp_path: Path) -> None:
    x = pink_noise(3 * FS, seed=1)
    segs = [write_segment(tmp_path / "a.pcm", x[: FS], 0, "s1"), write_segment(tmp_path / "b.pcm", x[FS:], FS, "s2")]
    settings = MasterSettings(duration_frames=2 * FS, lead_in_frames=FS // 2, click_fade_frames=0, remove_dc=False)
    source = PieceSource(plan_stitch(segs, settings), settings)
    expected = np.clip(np.rint(x * 32768), -32768, 32767)[FS // 2 : FS // 2 + 2 * FS] / 32768
    np.testing.assert_allclose(source.read(0, 2 * FS), expected, atol=1e-7)
    assert plan_stitch(segs, settings).seams[0].crossfade_frames == 0


def test_overlapping_segments_are_crossfaded_and_recorded(tmp_path: Path) -> None:
    x, y = pink_noise(4 * FS, seed=1), pink_noise(4 * FS, seed=2)
    segs = [write_segment(tmp_path / "a.pcm", x, 0, "s1"), write_segment(tmp_path / "b.pcm", y, 3 * FS, "s2")]
    settings = MasterSettings(duration_frames=6 * FS, seam_crossfade_frames=FS // 2, remove_dc=False)
    plan = plan_stitch(segs, settings)
    seam = plan.seams[0]
    assert (seam.stream_frame, seam.crossfade_frames, seam.labels) == (4 * FS - FS // 2, FS // 2, ("s1", "s2"))
    out = PieceSource(plan, settings).read(0, 6 * FS)
    mid = 4 * FS - FS // 4  # centre of the crossfade: both at cos(pi/4)
    a, b = x[mid] * np.sqrt(0.5), y[mid - 3 * FS] * np.sqrt(0.5)
    np.testing.assert_allclose(out[mid], a + b, atol=2e-3)
    np.testing.assert_allclose(out[4 * FS + 10], y[FS + 10], atol=1e-4)  # B alone after the seam


def test_alignment_finds_known_lag(tmp_path: Path) -> None:
    src = pink_noise(8 * FS, seed=4)
    lag = 137
    a = write_segment(tmp_path / "a.pcm", src[: 4 * FS], 0, "s1")
    b = write_segment(tmp_path / "b.pcm", src[2 * FS - lag : 7 * FS], 2 * FS, "s2")  # B trails A by `lag`
    settings = MasterSettings(duration_frames=5 * FS, seam_align_max_lag_frames=480, remove_dc=False)
    plan = plan_stitch([a, b], settings)
    assert plan.seams[0].align_lag_frames == lag
    out = PieceSource(plan, settings).read(0, 5 * FS)
    ref = np.rint(src[: 5 * FS] * 32768) / 32768
    np.testing.assert_allclose(out[3 * FS : 5 * FS - 200], ref[3 * FS : 5 * FS - 200], atol=2e-3)


def test_too_short_spool_is_an_error(tmp_path: Path) -> None:
    seg = write_segment(tmp_path / "a.pcm", pink_noise(FS), 0)
    with pytest.raises(MasterError, match="covers stream frames"):
        plan_stitch([seg], MasterSettings(duration_frames=2 * FS))


@pytest.mark.parametrize("rate", [48_000, 44_100])
def test_exact_duration_loudness_and_ceiling(tmp_path: Path, rate: int) -> None:
    x = pink_noise(5 * FS, rms=0.05, seed=5)
    x[2 * FS : 2 * FS + 20] = 0.95  # a transient that forces the limiter to work
    seg = write_segment(tmp_path / "a.pcm", x, 0)
    settings = MasterSettings(duration_frames=4 * FS, lead_in_frames=FS // 2, fade_in_frames=FS // 10, fade_out_frames=FS // 2)
    report = finish([seg], settings, ExportSettings(formats=("wav",), sample_rate=rate, wav_subtype="PCM_24"),
                    tmp_path, "song", TagSet())
    y = _read(tmp_path / "song.wav")
    assert y.shape == (4 * rate, 2)
    assert pyloudnorm.Meter(rate).integrated_loudness(y) == pytest.approx(-14.0, abs=0.5)
    assert independent_true_peak_dbtp(y) <= -1.0
    assert report.limiter_max_reduction_db > 0.5
    assert abs(y[0]).max() < 1e-3 and abs(y[-1]).max() < 1e-3  # faded ends


def test_limiter_working_hard_still_hits_target(tmp_path: Path) -> None:
    x = pink_noise(4 * FS, rms=0.05, seed=6)
    x[::4800] *= 12  # a click every 100 ms: > 6 dB of limiting after normalisation
    seg = write_segment(tmp_path / "a.pcm", np.clip(x, -1, 1), 0)
    report = finish([seg], MasterSettings(duration_frames=4 * FS, target_lufs=-9.0), WAV_FLOAT, tmp_path, "hot", TagSet())
    y = _read(tmp_path / "hot.wav")
    assert report.limiter_max_reduction_db > 6.0
    assert pyloudnorm.Meter(FS).integrated_loudness(y) == pytest.approx(-9.0, abs=0.5)
    assert report.loudness_after["integrated_lufs"] == pytest.approx(-9.0, abs=0.5)
    assert independent_true_peak_dbtp(y) <= -1.0


def test_loop_wraps_without_click(tmp_path: Path) -> None:
    t = np.arange(6 * FS) / FS
    x = 0.3 * np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 331 * t)], axis=1) + pink_noise(6 * FS, 0.02)
    seg = write_segment(tmp_path / "a.pcm", x, 0)
    settings = MasterSettings(duration_frames=4 * FS + 77, lead_in_frames=FS // 3, loop_crossfade_frames=FS // 2)
    report = finish([seg], settings, ExportSettings(formats=("wav", "flac")), tmp_path, "loop", TagSet())
    y = _read(tmp_path / "loop.wav")
    assert y.shape[0] == 4 * FS + 77
    assert report.loop == {"start_frame": 0, "length_frames": 4 * FS + 77}
    jumps = np.abs(np.diff(y, axis=0)).max(axis=1)
    wrap = np.abs(y[0] - y[-1]).max()
    assert wrap <= 3 * np.percentile(jumps, 99)


def test_dc_is_removed(tmp_path: Path) -> None:
    seg = write_segment(tmp_path / "a.pcm", pink_noise(3 * FS, 0.05) + 0.1, 0)
    finish([seg], MasterSettings(duration_frames=3 * FS, target_lufs=None), WAV_FLOAT, tmp_path, "dc", TagSet())
    assert np.abs(_read(tmp_path / "dc.wav").mean(axis=0)).max() < 2e-3


@pytest.mark.parametrize("frames", [0, FS // 10])
def test_silence_and_very_short_input(tmp_path: Path, frames: int) -> None:
    n = frames or FS
    x = np.zeros((n, 2)) if frames == 0 else pink_noise(n, 0.1)
    seg = write_segment(tmp_path / "a.pcm", x, 0)
    report = finish([seg], MasterSettings(duration_frames=n), WAV_FLOAT, tmp_path, "s", TagSet())
    assert report.gain_db == 0.0
    assert report.loudness_before["integrated_lufs"] is None
    assert report.loudness_after["integrated_lufs"] is None
    assert np.all(np.isfinite(list(v for v in report.loudness_after.values() if v is not None)))
    assert _read(tmp_path / "s.wav").shape == (n, 2)


def test_streaming_equals_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = write_segment(tmp_path / "a.pcm", pink_noise(3 * FS, 0.2, seed=7), 0, "s1")
    b = write_segment(tmp_path / "b.pcm", pink_noise(3 * FS, 0.2, seed=8), 2 * FS, "s2")
    settings = MasterSettings(duration_frames=4 * FS, lead_in_frames=FS // 2, loop_crossfade_frames=FS // 4)
    outs = []
    for block in (10 * FS, 4_800 * 7 + 160):
        monkeypatch.setattr(finish_mod, "BLOCK_FRAMES", block)
        finish([a, b], settings, ExportSettings(formats=("wav",), wav_subtype="FLOAT", sample_rate=44_100),
               tmp_path, f"b{block}", TagSet())
        outs.append(_read(tmp_path / f"b{block}.wav"))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-6)


def test_gap_between_sessions_gets_click_fades(tmp_path: Path) -> None:
    x = np.full((FS, 2), 0.5)
    segs = [write_segment(tmp_path / "a.pcm", x, 0, "s1"), write_segment(tmp_path / "b.pcm", x, FS + 480, "s2")]
    settings = MasterSettings(duration_frames=2 * FS, remove_dc=False)
    plan = plan_stitch(segs, settings)
    assert plan.seams[0].gap_frames == 480 and plan.seams[0].crossfade_frames == 0
    out = PieceSource(plan, settings).read(0, 2 * FS)
    assert np.abs(np.diff(out[FS // 2 : -FS // 2, 0])).max() < 0.02  # ramps, not steps
    assert out[FS + 100, 0] == 0.0


def test_progress_is_reported(tmp_path: Path) -> None:
    seg = write_segment(tmp_path / "a.pcm", pink_noise(FS, 0.1), 0)
    seen: list[tuple[str, float]] = []
    finish([seg], MasterSettings(duration_frames=FS), WAV_FLOAT, tmp_path, "p", TagSet(),
           progress=lambda stage, frac: seen.append((stage, frac)))
    assert [s for s, _ in seen][:2] == ["measure", "settle"]
    assert seen[-1] == ("write", 1.0)


def test_three_way_overlap_keeps_unity_weights(tmp_path: Path) -> None:
    x = np.full((3 * FS, 2), 0.25)
    segs = [write_segment(tmp_path / f"{i}.pcm", x, i * FS // 2, f"s{i}") for i in range(3)]  # all overlap
    settings = MasterSettings(duration_frames=3 * FS, remove_dc=False, seam_crossfade_frames=FS)
    plan = plan_stitch(segs, settings)
    first, second = plan.seams
    assert second.stream_frame >= first.stream_frame + first.crossfade_frames
    out = PieceSource(plan, settings).read(0, 3 * FS)[200:-200, 0]  # inside the click fades
    assert np.abs(out - 0.25).max() < 0.25 * (np.sqrt(2) - 1) + 1e-3  # equal-power bump at most
