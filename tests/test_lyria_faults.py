"""Issue 11: the four bugs, the smaller fixes and the close-code mapping, each reproduced
against ``serve`` through the real google-genai SDK (or on the exact SDK exceptions)."""

from __future__ import annotations

import glob
import json
import re
import tempfile
import time
from pathlib import Path

import pytest
from helpers.lyria import (
    API_KEY,
    backend_for,
    collect,
    dominant_hz,
    lyria_render_options,
    run,
    serving,
    start,
    tone_server,
)

from render import render_timeline
from render.backends.lyria import LyriaBackend
from render.backends.lyria_errors import map_error
from render.errors import AuthError, BackendError, ProtocolError, TransientBackendError
from render.server import FaultPlan
from render.server.protocol import MAX_FRAME_BYTES, audio_chunk_message
from render.spool.store import Spool, SpoolMeta


@pytest.fixture(autouse=True)
def lyria_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def timeline(duration: float = 12.0, events: list | None = None, name: str = "t") -> dict:
    return {"duration": duration, "seed": 3, "prompts": {"Cello": 1.0},
            "events": events if events is not None else [], "output": {"name": name, "formats": ["wav"]}}


# ------------------------------------------------------------------------------ close codes
def _api_error(code: int, reason: str) -> Exception:
    from google.genai import errors

    return errors.APIError(code, reason, None)  # what the SDK raises for a close (both versions)


@pytest.mark.parametrize(("code", "reason", "kind", "hint"), [
    (1007, "User location is not supported for the API use.", BackendError, "region"),
    (1007, "Request contains an invalid argument.", BackendError, "rejected a value"),
    (1008, "models/lyria-x is not found for API version v1alpha", BackendError, "--model"),
    (1008, "API key not valid. Please pass a valid API key.", AuthError, "API key"),
    (1008, "Quota exceeded for quota metric", AuthError, "quota is exhausted"),
    (1008, "Something else entirely", AuthError, "refused the session for the reason shown"),
    (1011, "Internal error encountered.", TransientBackendError, None),
])
def test_close_codes_map_by_their_reason(code: int, reason: str, kind: type, hint: str | None) -> None:
    err = map_error(_api_error(code, reason), "AIza-secret-0123456789", during="receiving")
    assert type(err) is kind and f"(code {code}): {reason}" in err.message
    if hint is not None:
        assert hint in (err.hint or "")
    if code == 1007 and "location" in reason:
        assert "--base-url" not in (err.hint or "")  # not a setting of the user's


def test_oversize_frame_is_a_protocol_error_not_a_drop() -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.frames import Close

    exc = _api_error(1006, "abnormal closure [internal]")
    exc.__context__ = ConnectionClosedError(None, Close(1009, "frame exceeds limit of 1048576 bytes"))
    err = map_error(exc, "k", during="receiving")
    assert type(err) is ProtocolError and "1 MiB" in err.message


def test_location_close_through_the_sdk_shows_reason_and_region_hint() -> None:
    reason = "User location is not supported for the API use."

    async def body(backend: LyriaBackend) -> None:
        async with backend.connect() as session:
            await start(session)
            await collect(session, chunks=10)

    with serving(FaultPlan(drop_after_chunks=1, drop_code=1007, drop_reason=reason)) as server:
        with pytest.raises(BackendError) as info:
            run(body(backend_for(server)))
    assert not isinstance(info.value, TransientBackendError)
    assert reason in info.value.message and "region" in (info.value.hint or "")


@pytest.mark.parametrize("at_setup", [True, False], ids=["at-setup", "mid-stream"])
def test_error_message_before_a_close_is_kept_and_shown(at_setup: bool) -> None:
    plan = (FaultPlan(refuse_setup=True, refuse_reason="models/foo is not found", error_before_close=True)
            if at_setup else FaultPlan(drop_after_chunks=2, drop_code=1011, error_before_close=True,
                                       drop_reason="Internal error encountered."))

    async def body(backend: LyriaBackend) -> None:
        async with backend.connect() as session:
            await start(session)
            await collect(session, chunks=10)

    with serving(plan) as server:
        with pytest.raises(BackendError) as info:
            run(body(backend_for(server)))
    text = info.value.message
    assert "the server said before closing:" in text
    if at_setup:  # the SDK consumed this reply to setup unseen; we kept its text
        assert "models/foo is not found / PERMISSION_DENIED" in text and "--model" in (info.value.hint or "")
    else:
        assert isinstance(info.value, TransientBackendError) and "Internal error encountered. / INTERNAL" in text


def test_bad_model_gets_the_model_hint_not_the_key_hint() -> None:
    async def body(backend: LyriaBackend) -> None:
        async with backend.connect() as session:
            await start(session)

    with serving() as server:
        with pytest.raises(BackendError) as info:
            run(body(backend_for(server, model="models/foo")))
    assert not isinstance(info.value, AuthError) and "1008" in info.value.message
    assert "--model" in (info.value.hint or "") and "API key" not in (info.value.hint or "")


# ------------------------------------------------------------------------------ bug 1
def test_bug1_event_times_are_confirmed_only_by_matching_metadata(tmp_path: Path) -> None:
    """Changes land ~3 s of audio late (0.3 s wall at 10x pacing): confirmed times must say so."""
    from render.server.profile import Realism

    events = [{"at": 4.0, "prompts": {"Sitar": 1.0}}, {"at": 5.0, "prompts": {"Tuba": 1.0}}]
    server = tone_server(FaultPlan(change_latency_s=0.3), realism=Realism(time_scale=0.1), chunk_s=0.5)
    with server:
        result = render_timeline(timeline(12.0, events), tmp_path, lyria_render_options(server, keep_spool=True))
    rows = result.manifest["events"]
    assert [r["estimated"] for r in rows] == [False, False], rows
    eff = [r["effective_s"] for r in rows]
    assert eff[0] >= 4.0 + 1.0 and eff[1] >= eff[0], rows  # late, and never before the earlier event
    wav = tmp_path / "t.wav"
    before = dominant_hz(wav, 3.0)
    for r in rows:  # the audio really changes there: old pitch just before, new just after
        assert abs(dominant_hz(wav, r["effective_s"] - 0.45) - dominant_hz(wav, r["effective_s"] + 0.05)) > 5
    assert abs(dominant_hz(wav, 4.6) - before) < 3 or eff[0] > 4.6


def test_bug1_an_event_the_render_ended_before_is_not_applied(tmp_path: Path) -> None:
    from render.server.profile import Realism

    events = [{"at": 5.5, "prompts": {"Sitar": 1.0}}]  # lands ~3 s of audio late: after the end
    server = tone_server(FaultPlan(change_latency_s=0.3), realism=Realism(time_scale=0.1), chunk_s=0.5)
    with server:
        result = render_timeline(timeline(6.0, events), tmp_path, lyria_render_options(server))
    (row,) = result.manifest["events"]
    assert row["applied"] is False and row["estimated"] is True and row["effective_sample"] is None


# ------------------------------------------------------------------------------ bug 2
def test_bug2_warnings_without_audio_are_a_stall_not_a_hang(tmp_path: Path) -> None:
    server = tone_server(FaultPlan(no_audio=True, warn_every_s=0.1))
    began = time.monotonic()
    with server:
        with pytest.raises(TransientBackendError, match="no audio for 3 s"):
            render_timeline(timeline(4.0), tmp_path, lyria_render_options(server, stall_timeout_s=3.0,
                                                                          max_reconnects=1))
    assert time.monotonic() - began < 40


# ------------------------------------------------------------------------------ bug 3
def test_bug3_failed_connects_leave_no_spool_and_the_corrected_command_runs(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from render import RenderOptions
    from render.backends import LyriaSettings

    with tone_server() as server:
        good = LyriaSettings(base_url=server.base_url, ca_cert=server.ca_cert)
        wrong = {
            "key": (LyriaSettings(base_url=server.base_url, ca_cert=server.ca_cert), AuthError),
            "model": (LyriaSettings(base_url=server.base_url, ca_cert=server.ca_cert, model="models/foo"), BackendError),
            "404": (LyriaSettings(base_url=server.base_url, ca_cert=server.ca_cert, api_version="v9"), BackendError),
            "tls": (LyriaSettings(base_url=server.base_url), BackendError),
        }
        for name, (settings, error) in wrong.items():
            monkeypatch.setenv("GEMINI_API_KEY", "wrong-key-123" if name == "key" else API_KEY)
            with pytest.raises(error):
                render_timeline(timeline(3.0), tmp_path, RenderOptions(backend="lyria", lyria=settings,
                                                                       stall_timeout_s=5.0, max_reconnects=0))
            assert not (tmp_path / ".lyria-render").exists(), name
        monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
        result = render_timeline(timeline(3.0), tmp_path, RenderOptions(backend="lyria", lyria=good))
    assert result.files[0].frames == 3 * 48_000


def test_bug3_an_empty_spool_left_behind_is_reused_silently(tmp_path: Path) -> None:
    from render.pipeline.job import spool_dir

    with tone_server() as server:
        options = lyria_render_options(server)
        where = spool_dir(tmp_path, "t", options)
        Spool.create(where, SpoolMeta(name="t", timeline_sha256="0" * 64, schedule_digest="x")).close()
        result = render_timeline(timeline(3.0), tmp_path, options)
    assert result.files[0].frames == 3 * 48_000


# ------------------------------------------------------------------------------ bug 4
def test_bug4_reconnect_budget_counts_consecutive_failures_without_audio(tmp_path: Path) -> None:
    """A 1011 cut every 1 s of audio (10 s in the issue, scaled): 9 s need 9+ sessions with max 2 retries."""
    with tone_server(FaultPlan(session_limit_s=1.0), chunk_s=0.25) as server:
        result = render_timeline(timeline(9.0), tmp_path, lyria_render_options(server, max_reconnects=2,
                                                                              overlap_s=0.25))
    sessions = result.manifest["render"]["sessions"]
    assert len(sessions) >= 9 and result.files[0].frames == 9 * 48_000


# ------------------------------------------------------------------------------ smaller fixes
def test_all_prompts_filtered_says_so_not_stalled(tmp_path: Path) -> None:
    with tone_server(FaultPlan(filter_words=("cello",))) as server:
        with pytest.raises(TransientBackendError) as info:
            render_timeline(timeline(3.0), tmp_path, lyria_render_options(server, stall_timeout_s=3.0,
                                                                          max_reconnects=0))
    assert "filtered every prompt (Cello:" in info.value.message and "stalled" not in info.value.message


def test_refusal_during_a_reconnect_says_what_is_kept_and_how_to_resume(tmp_path: Path) -> None:
    faults = (FaultPlan(drop_after_chunks=4, only_connections=(1,)), FaultPlan(refuse_after_connections=1))
    with tone_server(*faults, chunk_s=0.5) as server:
        with pytest.raises(AuthError) as info:
            render_timeline(timeline(6.0), tmp_path, lyria_render_options(server))
    hint = info.value.hint or ""
    assert "quota" in hint and re.search(r"the 2\.0 s of [\d.]+ s received are kept in the spool", hint)
    assert "--resume" in hint
    assert (tmp_path / ".lyria-render").exists()


def test_ca_bundle_is_removed_after_a_render(tmp_path: Path) -> None:
    before = set(glob.glob(str(Path(tempfile.gettempdir()) / "lyria-render-ca-*.pem")))
    with tone_server() as server:
        render_timeline(timeline(2.0), tmp_path, lyria_render_options(server))
    after = set(glob.glob(str(Path(tempfile.gettempdir()) / "lyria-render-ca-*.pem")))
    assert after <= before


def test_source_metadata_echo_stays_under_the_sdk_frame_limit() -> None:
    from render.controls import GenerationConfig, WeightedPrompt

    prompts = [WeightedPrompt(text=f"prompt {i} " + "x" * 400, weight=1.0) for i in range(2000)]
    frame = audio_chunk_message(b"\0" * (120_000 * 4), prompts=prompts, config=GenerationConfig())
    assert len(frame.encode()) <= MAX_FRAME_BYTES
    echoed = json.loads(frame)["serverContent"]["audioChunks"][0]["sourceMetadata"]["clientContent"]
    assert 0 < len(echoed["weightedPrompts"]) < 2000


def test_many_prompts_stream_through_the_sdk(tmp_path: Path) -> None:
    from render.controls import WeightedPrompt

    prompts = tuple(WeightedPrompt(text=f"Piano {i} " + "y" * 300, weight=1.0) for i in range(1500))

    async def body(backend: LyriaBackend) -> int:
        async with backend.connect() as session:
            await start(session, prompts=prompts)
            return len((await collect(session, chunks=2)).chunks)

    with serving(chunk_s=2.5) as server:  # 2.5 s chunks leave the least room for the echo
        assert run(body(backend_for(server)), timeout_s=60) == 2


def test_converted_audio_renders_exactly_and_the_manifest_records_what_came(tmp_path: Path) -> None:
    with tone_server(FaultPlan(send_format="audio/pcm;rate=24000;channels=1"), chunk_s=0.5) as server:
        result = render_timeline(timeline(3.0), tmp_path, lyria_render_options(server))
    assert result.files[0].frames == 3 * 48_000
    (fmt,) = result.manifest["render"]["received_formats"]
    assert (fmt["mime"], fmt["rate"], fmt["channels"], fmt["converted"]) == (
        "audio/pcm;rate=24000;channels=1", 24_000, 1, True) and fmt["chunks"] > 0
