"""Issue 5 end to end: `render --backend lyria` through the real google-genai SDK over real
TLS WebSockets against `lyria-render serve`, including every fault path at render level.

No mocks of our own code: the server is the real `serve` (in-process thread), the client is
the unmodified SDK inside our Lyria backend, driven by the real conductor, spool and master.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from typer.testing import CliRunner

from render import RenderOptions, render_timeline
from render.backends import LyriaSettings
from render.cli import app
from render.errors import AuthError, FilteredPromptError
from render.server import FaultPlan, Server

ROOT = Path(__file__).resolve().parents[1]
KEY = "AIzaSy-test-secret-4b8c2d6e0f"
DURATION_S = 6.0


def timeline(name: str = "lyr") -> dict:
    return {
        "duration": DURATION_S,
        "seed": 5,
        "prompts": {"Bossa Nova": 1.0, "Piano": 0.8},
        "config": {"bpm": 120, "scale": "C_MAJOR_A_MINOR", "density": 0.5},
        "events": [
            {"at": 2.0, "label": "brighter", "config": {"brightness": 0.9}},
            {"at": 4.0, "label": "flute", "weights": {"Flute": 1.5}},
        ],
        "output": {"name": name, "formats": ["wav"], "loudness_lufs": -16.0},
    }


@pytest.fixture
def lyria_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def serving(*faults: FaultPlan, chunk_s: float = 1.0) -> Server:
    return Server(port=0, pace="fast", chunk_s=chunk_s, require_key=KEY, faults=tuple(faults))


def lyria_options(server: Server, **kw: object) -> RenderOptions:
    settings = LyriaSettings(base_url=server.base_url, ca_cert=server.ca_cert)
    kw.setdefault("stall_timeout_s", 5.0)
    return RenderOptions(backend="lyria", lyria=settings, **kw)  # type: ignore[arg-type]


def frames_and_lufs(path: Path) -> tuple[int, float]:
    data, sr = sf.read(path, always_2d=True)
    return data.shape[0], pyloudnorm.Meter(sr).integrated_loudness(data)


def test_render_via_serve_matches_offline_duration_and_loudness(tmp_path: Path, lyria_env: None) -> None:
    with serving() as server:
        result = render_timeline(timeline(), tmp_path / "lyria", lyria_options(server))
    offline = render_timeline(timeline(), tmp_path / "offline", RenderOptions(backend="offline"))
    lf, ll = frames_and_lufs(tmp_path / "lyria" / "lyr.wav")
    of, ol = frames_and_lufs(tmp_path / "offline" / "lyr.wav")
    assert lf == of == int(DURATION_S * 48_000)
    assert abs(ll - (-16.0)) <= 0.5 and abs(ol - (-16.0)) <= 0.5
    manifest = json.loads(result.manifest_path.read_text())  # type: ignore[union-attr]
    assert manifest["backend"]["name"] == "lyria"
    events = manifest["events"]
    assert [e["index"] for e in events] == [0, 1]
    for e in events:  # effective times are recorded, at or after the request
        assert e["effective_sample"] >= e["requested_sample"], e
    assert offline.backend == "offline"


def test_rotation_gives_one_continuous_file_with_crossfaded_seams(tmp_path: Path, lyria_env: None) -> None:
    tl = timeline() | {"duration": 14.0, "events": []}
    with serving(FaultPlan(session_limit_s=5.0)) as server:
        result = render_timeline(tl, tmp_path, lyria_options(server, session_limit_s=4.0, overlap_s=1.0))
    frames, lufs = frames_and_lufs(tmp_path / "lyr.wav")
    assert frames == 14 * 48_000
    manifest = result.manifest
    reasons = [s["reason"] for s in manifest["render"]["sessions"]]
    assert reasons[0] == "start" and reasons.count("rotation") >= 2, reasons
    seams = manifest["master"]["seams"]
    assert len(seams) >= 2 and all(s["crossfade_frames"] > 0 for s in seams), seams


@pytest.mark.parametrize("fault, reason", [
    (FaultPlan(drop_after_chunks=3, only_connections=(1,)), "reconnect"),
    (FaultPlan(stall_after_chunks=2, stall_s=30.0, only_connections=(1,)), "reconnect"),
])
def test_drop_and_stall_recover_with_a_seam(tmp_path: Path, lyria_env: None, fault: FaultPlan, reason: str) -> None:
    with serving(fault) as server:
        result = render_timeline(timeline(), tmp_path, lyria_options(server, stall_timeout_s=1.0))
    frames, _ = frames_and_lufs(tmp_path / "lyr.wav")
    assert frames == int(DURATION_S * 48_000)
    sessions = result.manifest["render"]["sessions"]
    assert [s["reason"] for s in sessions][:2] == ["start", reason], sessions
    assert len(result.manifest["master"]["seams"]) == 1


@pytest.mark.parametrize("fault, fragment", [
    (FaultPlan(refuse_setup=True), "quota"),
    (None, "key"),
])
def test_quota_and_auth_refusals_fail_fast(tmp_path: Path, lyria_env: None, monkeypatch: pytest.MonkeyPatch,
                                           fault: FaultPlan | None, fragment: str) -> None:
    if fault is None:
        monkeypatch.setenv("GEMINI_API_KEY", "wrong-key-xyz")
    with serving(*(f for f in [fault] if f)) as server:
        with pytest.raises(AuthError) as info:
            render_timeline(timeline(), tmp_path, lyria_options(server, max_reconnects=5))
    message = str(info.value).lower()
    assert fragment in message
    assert KEY not in str(info.value) and "wrong-key-xyz" not in str(info.value)
    assert not (tmp_path / ".lyria-render").exists(), "nothing was received: no spool left to block the next run"


def test_filtered_prompts_land_in_manifest_and_strict_fails(tmp_path: Path, lyria_env: None) -> None:
    tl = timeline() | {"prompts": {"Bossa Nova": 1.0, "Forbidden Chant": 0.5}}
    with serving(FaultPlan(filter_words=("forbidden",))) as server:
        result = render_timeline(tl, tmp_path / "a", lyria_options(server))
        with pytest.raises(FilteredPromptError):
            render_timeline(tl, tmp_path / "b", lyria_options(server, strict=True))
    filtered = result.manifest["render"]["filtered_prompts"]
    assert any("Forbidden Chant" in json.dumps(f) for f in filtered), filtered


def test_api_key_appears_nowhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """CLI run with the key in the environment: not in stdout, stderr, logs, manifest or files."""
    caplog.set_level(logging.DEBUG)
    tl_path = tmp_path / "k.json"
    tl_path.write_text(json.dumps(timeline("k")))
    with serving(FaultPlan(drop_after_chunks=2, only_connections=(1,))) as server:
        env = dict(os.environ, GEMINI_API_KEY=KEY)
        proc = subprocess.run(
            [sys.executable, "-m", "render", "render", str(tl_path), "-o", str(tmp_path / "out"), "--backend", "lyria",
             "--base-url", server.base_url, "--ca-cert", str(server.ca_cert), "--stall-timeout", "5", "--json"],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        bad = subprocess.run(
            [sys.executable, "-m", "render", "render", str(tl_path), "-o", str(tmp_path / "bad"), "--backend", "lyria",
             "--base-url", server.base_url, "--ca-cert", str(server.ca_cert)],
            capture_output=True, text=True, cwd=ROOT, env=dict(env, GEMINI_API_KEY=KEY + "-wrong"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "Error:" in bad.stderr
    for text in (proc.stdout, proc.stderr, bad.stdout, bad.stderr, caplog.text):
        assert KEY not in text
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_cli_backend_auto_says_which(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    tl_path = tmp_path / "a.json"
    tl_path.write_text(json.dumps(timeline("a") | {"duration": 1.0, "events": []}))
    result = CliRunner().invoke(app, ["render", str(tl_path), "-o", str(tmp_path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "offline (procedural engine, not neural): no GEMINI_API_KEY" in result.stderr
    missing = CliRunner().invoke(app, ["render", str(tl_path), "-o", str(tmp_path), "--backend", "lyria", "--dry-run"])
    assert missing.exit_code == 2 and "needs an API key" in missing.stderr


def test_api_key_file_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n")
    with serving() as server:
        opts = RenderOptions(backend="auto", lyria=LyriaSettings(api_key_file=key_file, base_url=server.base_url,
                                                                 ca_cert=server.ca_cert))
        result = render_timeline(timeline() | {"duration": 2.0, "events": []}, tmp_path, opts)
    assert result.backend == "lyria"
    assert np.isfinite(result.loudness_lufs or 0)
