"""inspect_file(): format, tags, loop points, loudness and the manifest read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.audio import FS, pink_noise, write_segment

from render.errors import ExportError
from render.export.finish import finish
from render.export.inspect import inspect_file
from render.export.writers import ExportSettings, TagSet
from render.files import atomic_write_text
from render.master.stitch import MasterSettings


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    d = tmp_path_factory.mktemp("inspect")
    seg = write_segment(d / "a.pcm", pink_noise(3 * FS, 0.1, seed=11), 0)
    report = finish([seg], MasterSettings(duration_frames=2 * FS, loop_crossfade_frames=FS // 4),
                    ExportSettings(formats=("wav", "mp3", "flac")), d, "piece",
                    TagSet(title="Piece", artist="Me", extra={"seed": "7"}))
    atomic_write_text(d / "piece.manifest.json", json.dumps(report.as_dict()))
    return d, report


@pytest.mark.parametrize("ext", ["wav", "mp3", "flac"])
def test_inspect_reads_back_everything(rendered: tuple[Path, object], ext: str) -> None:
    d, report = rendered
    out = inspect_file(d / f"piece.{ext}")
    assert out["format"]["frames"] == 2 * FS and out["format"]["sample_rate"] == FS
    assert out["loudness"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.5)
    assert out["loudness"]["true_peak_dbtp"] <= -0.9 if ext != "mp3" else out["loudness"]["true_peak_dbtp"] < 0
    assert out["loop"] == {"start_frame": 0, "length_frames": 2 * FS}
    assert out["manifest"]["gain_db"] == report.gain_db
    assert out["sha256"] == next(f["sha256"] for f in report.files if f["format"] == ext)
    json.dumps(out)
    if ext == "wav":
        assert out["tags"]["info"]["title"] == "Piece"
        assert out["tags"]["id3"]["frames"]["TXXX:seed"] == "7"
    elif ext == "mp3":
        assert out["tags"]["id3"]["version"].startswith("2.3")
        assert out["format"]["bitrate_mode"] == "VBR"
    else:
        assert out["tags"]["vorbis"]["TITLE"] == "Piece"


def test_inspect_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such audio file"):
        inspect_file(tmp_path / "nope.wav")


@pytest.mark.parametrize("fmt", ["ogg", "opus"])
def test_inspect_reads_ogg_and_opus_loop_points(tmp_path: Path, fmt: str) -> None:
    from render import RenderOptions, render_timeline

    timeline = {"duration": "8 bars", "seed": 3, "prompts": {"Techno": 1}, "config": {"bpm": 120},
                "output": {"name": "l", "formats": [fmt], "loop": {"start": "bar 3", "crossfade": "1 bar"}}}
    render_timeline(timeline, tmp_path, RenderOptions(backend="offline"))
    info = inspect_file(tmp_path / f"l.{fmt}")
    assert info["loop"] == {"start_frame": 4 * 48_000, "length_frames": 12 * 48_000}, info["loop"]
    assert info["tags"]["vorbis"]["LOOPSTART"] == str(4 * 48_000)
