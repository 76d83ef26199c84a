"""Pictures: PNG size and that an event's marker sits at the x column of its time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from render.audio import SAMPLE_RATE
from render.cli import app
from render.errors import UsageError
from render.export.picture import AXES_LEFT, AXES_RIGHT, SIZE_PX, draw_png, marks_from, write_png

pytest.importorskip("matplotlib")
from matplotlib import image as mpimg  # noqa: E402

runner = CliRunner()


def _read(png: bytes | Path, tmp_path: Path) -> np.ndarray:
    path = png if isinstance(png, Path) else tmp_path / "p.png"
    if not isinstance(png, Path):
        path.write_bytes(png)
    return mpimg.imread(str(path))


def _red_columns(pixels: np.ndarray, row_fraction: float = 0.80) -> list[int]:
    """Columns of pure-red (event marker) pixels on a row inside the waveform panel."""
    row = int(round((1 - row_fraction) * pixels.shape[0]))
    rgb = pixels[row, :, :3]
    red = (rgb[:, 0] > 0.9) & (rgb[:, 1] < 0.15) & (rgb[:, 2] < 0.15)
    return [int(c) for c in np.flatnonzero(red)]


def _expected_column(t: float, duration: float) -> float:
    return (AXES_LEFT + t / duration * (AXES_RIGHT - AXES_LEFT)) * SIZE_PX[0]


@pytest.mark.parametrize("at", [1.0, 2.5, 3.7])
def test_event_marker_sits_at_its_time(tmp_path: Path, at: float) -> None:
    duration = 4.0
    t = np.arange(int(duration * SAMPLE_RATE)) / SAMPLE_RATE
    audio = np.stack([0.2 * np.sin(2 * np.pi * 220 * t)] * 2, axis=1)
    manifest = {"events": [{"index": 0, "label": "drop", "requested_s": at, "effective_s": at}]}
    pixels = _read(draw_png(audio, SAMPLE_RATE, marks_from(manifest, None, SAMPLE_RATE)), tmp_path)
    assert pixels.shape[:2] == (SIZE_PX[1], SIZE_PX[0])
    cols = _red_columns(pixels)
    assert cols, "no event marker found"
    assert abs(np.mean(cols) - _expected_column(at, duration)) <= 2.0, (cols, _expected_column(at, duration))


def test_marks_from_an_untrusted_manifest() -> None:
    manifest = {"events": [{"label": "a", "requested_s": 1.0, "effective_s": 1.25}, {"requested_s": "x"}, 7,
                           {"requested_s": float("nan")}],
                "master": {"seams": [{"at_frame": SAMPLE_RATE * 2}, {"at_frame": "/etc/passwd"}]},
                "timeline": {"content": {"output": {"loudness_lufs": -16, "true_peak_dbtp": -1}}}}
    marks = marks_from(manifest, {"start_frame": 0, "length_frames": SAMPLE_RATE}, SAMPLE_RATE)
    assert marks.events == [("a", 1.25, 1.0)]
    assert marks.seams == [2.0]
    assert marks.loop == (0.0, 1.0)
    assert (marks.target_lufs, marks.ceiling_dbtp) == (-16.0, -1.0)
    assert marks_from("not a dict", None, SAMPLE_RATE).events == []


def test_missing_matplotlib_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UsageError) as info:
        write_png(tmp_path / "x.wav", tmp_path / "x.png")
    assert info.value.exit_code == 2
    assert "pip install 'lyria-render[plot]'" in str(info.value)


@pytest.mark.slow
def test_render_png_and_inspect_png_mark_the_event(tmp_path: Path) -> None:
    tl = tmp_path / "t.yaml"
    tl.write_text("duration: 4\nseed: 2\nprompts: {Ambient: 1}\n"
                  "events: [{at: 2.5, label: lift, prompts: {Ambient: 1, Piano: 1}}]\n"
                  "output: {name: pic, formats: [wav]}\n")
    result = runner.invoke(app, ["-q", "render", str(tl), "-o", str(tmp_path / "out"), "--png"])
    assert result.exit_code == 0, result.output
    wav = tmp_path / "out" / "pic.wav"
    png = wav.with_suffix(".png")
    manifest = json.loads(next((tmp_path / "out").glob("pic*.json")).read_text())
    at = manifest["events"][0].get("effective_s", manifest["events"][0]["requested_s"])
    duration = manifest["files"][0]["frames"] / SAMPLE_RATE if manifest.get("files") else 4.0
    for picture in (png, tmp_path / "again.png"):
        if picture != png:
            result = runner.invoke(app, ["inspect", str(wav), "--png", str(picture)])
            assert result.exit_code == 0, result.output
            assert "loop" in result.stdout
        pixels = _read(picture, tmp_path)
        assert pixels.shape[:2] == (SIZE_PX[1], SIZE_PX[0])
        assert abs(np.mean(_red_columns(pixels)) - _expected_column(at, duration)) <= 2.0


def test_render_png_without_matplotlib_is_exit_2_before_rendering(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    tl = tmp_path / "t.yaml"
    tl.write_text("duration: 2\nprompts: {Ambient: 1}\n")
    result = runner.invoke(app, ["render", str(tl), "-o", str(tmp_path / "out"), "--png"])
    assert result.exit_code == 2, result.output
    assert "pip install 'lyria-render[plot]'" in result.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.wav"))
