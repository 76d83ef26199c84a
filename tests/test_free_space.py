"""Before a render starts, its spool and output size are estimated and the free space checked."""

from __future__ import annotations

import contextlib
import io
from collections import namedtuple
from pathlib import Path

import pytest

from render.audio import BYTES_PER_FRAME, SAMPLE_RATE
from render.cli import main
from render.errors import UsageError
from render.pipeline import job
from render.pipeline.job import RenderOptions, estimate_bytes, prepare
from render.schedule import plan
from render.timeline.loader import parse_timeline

Usage = namedtuple("Usage", "total used free")
TEXT = "duration: 10\nprompts: [Piano]\noutput:\n  formats: [wav, mp3, flac]\n  trim_start: 2s\n  mp3: {mode: cbr, bitrate_kbps: 128}\n"


def test_the_estimate_counts_frames_formats_and_the_mp3_bitrate() -> None:
    loaded = parse_timeline(TEXT)
    spool, files = estimate_bytes(loaded, plan(loaded))
    assert spool == 12 * SAMPLE_RATE * BYTES_PER_FRAME  # lead-in + piece
    wav = 10 * 48_000 * 2 * 2  # 16-bit stereo at the output rate
    assert files == 2 * wav + 10 * 128_000 // 8


def _free(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(job.shutil, "disk_usage", lambda path: Usage(10**12, 0, free))


def test_a_render_that_does_not_fit_is_refused_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _free(monkeypatch, 1_000_000)
    with pytest.raises(UsageError, match="not enough free space"):
        prepare(parse_timeline(TEXT), tmp_path / "out", RenderOptions(backend="offline"))
    (tmp_path / "t.yaml").write_text(TEXT)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as exc:
        main(["-q", "render", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "out"), "--backend", "offline"])
    assert exc.value.code == 2 and "not enough free space" in err.getvalue(), err.getvalue()
    assert not (tmp_path / "out").exists()


def test_a_render_that_fits_and_a_dry_run_are_not_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = parse_timeline(TEXT)
    spool, files = estimate_bytes(loaded, plan(loaded))
    _free(monkeypatch, int((spool + files) * 1.2))
    prepare(loaded, tmp_path / "out", RenderOptions(backend="offline"))
    _free(monkeypatch, 0)
    prepare(loaded, tmp_path / "out", RenderOptions(backend="offline", dry_run=True))
