"""End to end on the offline engine: render, manifest, resume after SIGKILL, Ctrl-C, quick renders.

These go through the real entry points (the Python API twin and the CLI) and check the
effects on disk: exact frame counts, loudness and true peak measured independently,
manifest contents, spools.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from helpers.proc import default_sigint
from scipy.signal import resample_poly
from typer.testing import CliRunner

from render import RenderOptions, render_timeline
from render.cli import app
from render.errors import RenderError, UsageError

ROOT = Path(__file__).resolve().parents[1]


def timeline(duration: float = 4.0, **output: object) -> dict:
    return {
        "duration": duration,
        "seed": 11,
        "prompts": {"Indie Pop": 0.6, "Sitar": 2.0, "Danceable": 1.4},
        "config": {"bpm": 140, "scale": "F_MAJOR_D_MINOR", "density": 0.5, "brightness": 0.7},
        "events": [
            {"at": 1.0, "label": "drop drums", "config": {"mute_drums": True}},
            {"at": "0:02.250", "label": "organ", "weights": {"Organ": 1.0}},
        ],
        "output": {"name": "e2e", "formats": ["wav", "mp3", "flac"], "loudness_lufs": -16.0,
                   "true_peak_dbtp": -1.0, **output},
    }


def true_peak_8x(x: np.ndarray) -> float:
    """An independent 8x oversampled true-peak meter (dBTP)."""
    up = resample_poly(x.astype(np.float64), 8, 1, axis=0)
    return float(20 * np.log10(np.max(np.abs(up)) + 1e-12))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("render")
    result = render_timeline(timeline(), out, RenderOptions(backend="offline"))
    return out, result


def test_files_are_sample_exact(rendered) -> None:
    out, result = rendered
    assert {f.format for f in result.files} == {"wav", "mp3", "flac"}
    for fmt in ("wav", "mp3", "flac"):
        data, sr = sf.read(out / f"e2e.{fmt}", always_2d=True)
        assert sr == 48_000
        assert data.shape == (4 * 48_000, 2), f"{fmt}: {data.shape}"


def test_result_audio_is_a_waveform_of_the_file(rendered) -> None:
    from render import Waveform, read_audio

    out, result = rendered
    wave = result.audio("flac")
    assert isinstance(wave, Waveform) and wave.sample_rate == 48_000 and wave.channels == 2
    assert wave.frames == 4 * 48_000
    data, _ = sf.read(out / "e2e.flac", always_2d=True, dtype="float32")
    np.testing.assert_array_equal(wave.samples, data)
    assert read_audio(out / "e2e.wav").frames == wave.frames
    with pytest.raises(RenderError, match="no ogg file"):
        result.audio("ogg")


def test_loudness_and_true_peak_on_independent_meters(rendered) -> None:
    out, _ = rendered
    data, sr = sf.read(out / "e2e.wav", always_2d=True)
    lufs = pyloudnorm.Meter(sr).integrated_loudness(data)
    assert abs(lufs - (-16.0)) <= 0.5, lufs
    assert true_peak_8x(data) <= -1.0 + 0.05


def test_manifest_records_everything(rendered) -> None:
    out, result = rendered
    manifest = json.loads((out / "e2e.manifest.json").read_text())
    assert manifest["job_hash"] == result.job_hash
    assert manifest["backend"]["reason"].startswith("offline")
    assert manifest["seed"] == 11
    assert manifest["schedule"]["duration_frames"] == 4 * 48_000
    events = {e["index"]: e for e in manifest["events"]}
    assert events[0]["requested_sample"] == 48_000 and events[1]["requested_sample"] == 108_000
    for e in events.values():  # offline changes land on the exact sample
        assert e["effective_sample"] == e["requested_sample"] and e["estimated"] is False
    for f in manifest["files"]:
        import hashlib

        assert f["path"] == f"e2e.{f['format']}"  # relative to the manifest
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    master = manifest["master"]
    assert master["loudness_before"]["integrated_lufs"] is not None
    assert "gain_db" in master and "limiter_max_reduction_db" in master
    assert manifest["software"]["lyria-render"]
    assert not (out / ".lyria-render" / "e2e.spool").exists(), "finished renders remove their spool"
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".") and p.is_file() or ".tmp" in p.name]
    assert leftovers == []


def test_same_seed_same_audio(tmp_path: Path) -> None:
    tl = timeline(3.0, formats=["wav"])
    a = render_timeline(tl, tmp_path / "a", RenderOptions(backend="offline"))
    b = render_timeline(tl, tmp_path / "b", RenderOptions(backend="offline"))
    assert a.files[0].sha256 == b.files[0].sha256
    c = render_timeline(tl, tmp_path / "c", RenderOptions(backend="offline", seed=12))
    assert c.files[0].sha256 != a.files[0].sha256


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = render_timeline(timeline(), tmp_path, RenderOptions(backend="offline", dry_run=True))
    assert result.dry_run and result.files == ()
    assert list(tmp_path.iterdir()) == []


def test_output_name_cannot_escape(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        render_timeline(timeline(), tmp_path, RenderOptions(backend="offline", name="../escape"))


def test_quick_prompt_render_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["-q", "render", "--prompt", "Indie Pop:0.6, Sitar:2, Danceable:1.4",
                                      "--duration", "2s", "--bpm", "140", "--scale", "F_MAJOR_D_MINOR",
                                      "--format", "wav", "-o", str(tmp_path), "--backend", "offline"])
    assert result.exit_code == 0, result.output
    data, sr = sf.read(tmp_path / "indie-pop-sitar-danceable.wav")  # named after its prompt
    assert data.shape[0] == 2 * 48_000


@pytest.mark.parametrize("prompt, fragment", [
    ("Sitar:abc", "weight 'abc' is not a number"),
    ("Sitar:1,,Piano:2", "segment 2 is empty"),
    ("Sitar:0", "other than 0"),
    (":2", "no text"),
])
def test_quick_prompt_malformed_segments_are_errors(tmp_path: Path, prompt: str, fragment: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "render", "render", "--prompt", prompt, "-o", str(tmp_path),
                           "--backend", "offline"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr


def _start_render(tl_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "render", "-q", "render", str(tl_path), "-o", str(out),
                             "--backend", "offline", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=default_sigint)


def _wait_for_chunks(spool: Path, n: int, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    index = spool / "index.jsonl"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if index.exists() and index.read_text().count('"chunk"') >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"render ended before it could be interrupted: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.005)
    pytest.fail("no chunks arrived in time")


def _long_timeline(tmp_path: Path, seconds: int = 240) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text(json.dumps(timeline(seconds, formats=["wav"], name="long")))
    return path


@pytest.mark.slow
def test_resume_after_sigkill_gives_complete_file_with_one_seam(tmp_path: Path) -> None:
    tl_path, out = _long_timeline(tmp_path), tmp_path / "out"
    proc = _start_render(tl_path, out)
    spool = out / ".lyria-render" / "long.spool"
    _wait_for_chunks(spool, 4, proc)  # > the 4 s handover overlap, so the old audio is kept
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "long.wav").exists()
    again = subprocess.run([sys.executable, "-m", "render", "-q", "render", str(tl_path), "-o", str(out),
                            "--backend", "offline"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert again.returncode == 2 and "--resume" in again.stderr, "a leftover spool is not silently overwritten"
    resumed = subprocess.run([sys.executable, "-m", "render", "-q", "render", str(tl_path), "-o", str(out),
                              "--backend", "offline", "--resume"], capture_output=True, text=True, cwd=ROOT,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    data, _ = sf.read(out / "long.wav")
    assert data.shape[0] == 240 * 48_000
    manifest = json.loads((out / "long.manifest.json").read_text())
    assert manifest["render"]["resumed"] is True
    seams = manifest["master"]["seams"]
    assert len(seams) == 1, seams


@pytest.mark.slow
def test_ctrl_c_keeps_spool_and_exits_130(tmp_path: Path) -> None:
    tl_path, out = _long_timeline(tmp_path), tmp_path / "out"
    proc = _start_render(tl_path, out)
    spool = out / ".lyria-render" / "long.spool"
    _wait_for_chunks(spool, 1, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert (spool / "index.jsonl").exists()
    assert not (out / "long.wav").exists()
