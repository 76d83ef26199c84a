"""``serve``: the unmodified google-genai SDK and a raw WebSocket client against the server."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from helpers.lyria import (
    API_KEY,
    CHUNK_S,
    CONFIG,
    Received,
    backend_for,
    clean_env,
    client_ssl_context,
    collect,
    python,
    run,
    serving,
    start,
)
from helpers.proc import default_sigint
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from render.backends.base import AudioChunk
from render.backends.offline import OfflineBackend
from render.errors import UsageError
from render.server import FaultPlan, Server, load_fault_plans
from render.server.faults import plan_for_connection
from render.server.protocol import MIME_TYPE

MUSIC_PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"


def sdk_client(server: Server, api_key: str = API_KEY) -> genai.Client:
    return genai.Client(api_key=api_key, http_options={"api_version": "v1alpha", "base_url": server.base_url})


async def sdk_chunks(server: Server, steps: list[tuple[str, Any]], count: int) -> list[types.AudioChunk]:
    """Run SDK calls ``steps`` (method, argument), then PLAY, and gather ``count`` chunks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK's ExperimentalWarning
        connection = sdk_client(server).aio.live.music.connect(model="models/lyria-realtime-exp")
    chunks: list[types.AudioChunk] = []
    async with connection as session:
        for method, argument in steps:
            await getattr(session, method)(**argument)
        await session.play()
        async for message in session.receive():
            if message.server_content and message.server_content.audio_chunks:
                chunks.extend(message.server_content.audio_chunks)
            if len(chunks) >= count:
                break
    return chunks


def test_unmodified_sdk_streams_chunks_with_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = [types.WeightedPrompt(text="Latin Jazz", weight=2.0), types.WeightedPrompt(text="Piano", weight=-0.5)]
    config = types.LiveMusicGenerationConfig(bpm=120, scale="C_MAJOR_A_MINOR", mute_drums=True, brightness=0.8)
    with serving() as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_cert))
        chunks = run(sdk_chunks(server, [("set_weighted_prompts", {"prompts": prompts}),
                                         ("set_music_generation_config", {"config": config})], 3))
    assert [c.mime_type for c in chunks] == [MIME_TYPE] * 3
    assert all(len(c.data) == round(CHUNK_S * 48_000) * 4 for c in chunks)
    meta = chunks[-1].source_metadata
    assert [(p.text, p.weight) for p in meta.client_content.weighted_prompts] == [("Latin Jazz", 2.0), ("Piano", -0.5)]
    got = meta.music_generation_config
    assert (got.bpm, got.scale, got.mute_drums, got.brightness) == (120, types.Scale.C_MAJOR_A_MINOR, True, 0.8)


def test_config_update_replaces_the_whole_config(monkeypatch: pytest.MonkeyPatch) -> None:
    first = types.LiveMusicGenerationConfig(bpm=100, density=0.3, mute_bass=True)
    second = types.LiveMusicGenerationConfig(brightness=0.7)
    steps = [
        ("set_weighted_prompts", {"prompts": [types.WeightedPrompt(text="Techno", weight=1.0)]}),
        ("set_music_generation_config", {"config": first}),
        ("set_music_generation_config", {"config": second}),
    ]
    with serving() as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_cert))
        chunks = run(sdk_chunks(server, steps, 2))
    got = chunks[-1].source_metadata.music_generation_config
    assert got.brightness == 0.7
    assert (got.density, got.mute_bass) == (None, False), "fields left out must go back to defaults"
    assert got.guidance == 4.0 and got.top_k == 40


async def raw_exchange(server: Server, frames: list[str], *, path: str = MUSIC_PATH) -> tuple[list[dict], int, str]:
    """Send ``frames`` on a raw connection; return the JSON received and the close code/reason."""
    received: list[dict] = []
    headers = {"x-goog-api-key": API_KEY}
    async with ws_connect(f"wss://127.0.0.1:{server.port}{path}", ssl=client_ssl_context(server),
                          additional_headers=headers) as ws:
        for frame in frames:
            await ws.send(frame)
        try:
            while True:
                received.append(json.loads(await ws.recv()))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return received, closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("unreachable")


SETUP = json.dumps({"setup": {"model": "models/lyria-realtime-exp"}})


@pytest.mark.parametrize(
    ("frames", "fragment"),
    [
        ([json.dumps({"clientContent": {"weightedPrompts": [{"text": "a", "weight": 1}]}})], "first message must be setup"),
        ([SETUP, "{not json"], "Invalid JSON"),
        ([SETUP, json.dumps({"playbackControl": "REWIND"})], "playback_control"),
        ([SETUP, json.dumps({"clientContent": {"weightedPrompts": [{"text": "Piano", "weight": 0}]}})], "must not be 0"),
        ([SETUP, json.dumps({"musicGenerationConfig": {"bpm": 300}})], "bpm = 300"),
        ([SETUP, json.dumps({"musicGenerationConfig": {"tempo": 120}})], "Unknown name 'tempo'"),
        ([SETUP, SETUP], "already received"),
    ],
    ids=["content-before-setup", "bad-json", "unknown-control", "zero-weight", "bpm-range", "unknown-field", "setup-twice"],
)
def test_invalid_messages_close_1007_with_a_reason(frames: list[str], fragment: str) -> None:
    with serving() as server:
        received, code, reason = run(raw_exchange(server, frames))
    assert code == 1007
    assert fragment in reason
    assert all("serverContent" not in m for m in received)


def test_empty_prompt_list_gets_a_warning_not_a_close() -> None:
    async def body(server: Server) -> list[dict]:
        async with ws_connect(f"wss://127.0.0.1:{server.port}{MUSIC_PATH}", ssl=client_ssl_context(server),
                              additional_headers={"x-goog-api-key": API_KEY}) as ws:
            await ws.send(SETUP)
            first = json.loads(await ws.recv())
            await ws.send(json.dumps({"clientContent": {"weightedPrompts": []}}))
            await ws.send(json.dumps({"clientContent": {"weightedPrompts": [{"text": "Tabla", "weight": 1}]}}))
            await ws.send(json.dumps({"playbackControl": "PLAY"}))
            second, third = json.loads(await ws.recv()), json.loads(await ws.recv())
            return [first, second, third]

    with serving() as server:
        first, second, third = run(body(server))
    assert first == {"setupComplete": {}}
    assert "empty" in second["warning"]
    chunk = third["serverContent"]["audioChunks"][0]
    assert chunk["sourceMetadata"]["clientContent"]["weightedPrompts"] == [{"text": "Tabla", "weight": 1.0}]
    assert len(base64.b64decode(chunk["data"])) % 4 == 0


def test_other_paths_get_http_404() -> None:
    with serving() as server:
        with pytest.raises(InvalidStatus) as info:
            run(raw_exchange(server, [SETUP], path="/ws/other.Service"))
    assert info.value.response.status_code == 404
    assert b"BidiGenerateMusic" in info.value.response.body


def test_sdk_sees_close_codes_as_api_error(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = [("set_weighted_prompts", {"prompts": [types.WeightedPrompt(text="Funk", weight=1.0)]})]
    with serving(FaultPlan(session_limit_s=2 * CHUNK_S)) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_cert))
        with pytest.raises(genai_errors.APIError) as info:
            run(sdk_chunks(server, steps, 10))
    assert info.value.code == 1011
    assert "Session time limit" in str(info.value)


def test_fault_plans_file_and_merging(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults:\n  - drop_after_chunks: 3\n    only_connections: [1]\n"
                    "  - filter_words: [gore]\n  - filter_words: [violent]\n    first_connections: 2\n")
    plans = load_fault_plans(path)
    first, third = plan_for_connection(plans, 1), plan_for_connection(plans, 3)
    assert (first.drop_after_chunks, first.filter_words) == (3, ("gore", "violent"))
    assert (third.drop_after_chunks, third.filter_words) == (None, ("gore",))
    (tmp_path / "bad.json").write_text(json.dumps({"drop_after": 3}))
    with pytest.raises(UsageError, match="unknown fault setting.*drop_after"):
        load_fault_plans(tmp_path / "bad.json")
    with pytest.raises(UsageError, match="stall_s must be >= 0"):
        FaultPlan(stall_s=-1)


def test_cli_serve_writes_ready_file_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    command = [python(), "-m", "render", "serve", "--port", "0", "--pace", "fast", "--chunk-s", "0.5",
               "--state-dir", str(tmp_path / "state"), "--ready-file", str(ready), "--drop-after-chunks", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), text=True,
                            preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 15
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert info["host"] == "127.0.0.1" and info["ca_cert"] == str(tmp_path / "state" / "ca.pem")
        assert info["base_url"] == f"https://127.0.0.1:{info['port']}"
        received, code, _ = run(_raw_to(info, [SETUP, json.dumps({"clientContent": {"weightedPrompts": [{"text": "Koto"}]}}),
                                              json.dumps({"playbackControl": "PLAY"})]))
        assert received[0] == {"setupComplete": {}} and "serverContent" in received[1]
        assert code == 1006  # --drop-after-chunks 1: abrupt close
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130  # interrupted, like every command
    assert json.loads(out.strip().splitlines()[-1])["port"] == info["port"]
    assert "--ca-cert" in err and "stopped" in err and "Traceback" not in err


async def _raw_to(info: dict, frames: list[str]) -> tuple[list[dict], int, str]:
    import ssl

    received: list[dict] = []
    context = ssl.create_default_context(cafile=info["ca_cert"])
    async with ws_connect(info["ws_url"], ssl=context) as ws:
        for frame in frames:
            await ws.send(frame)
        try:
            while True:
                received.append(json.loads(await ws.recv()))
        except ConnectionClosed as closed:
            return received, closed.rcvd.code if closed.rcvd else 1006, ""
    raise AssertionError("unreachable")


def test_usage_errors_are_clear() -> None:
    with pytest.raises(UsageError, match="chunk_s"):
        Server(chunk_s=5.0)
    with pytest.raises(UsageError, match="--cert and --key"):
        with Server(port=0, cert=Path("/nonexistent.pem")):
            pass


def test_audio_and_reset_rules_pass_through_bit_exact() -> None:
    """Chunks equal the offline engine's own output for the same calls: the server forwards
    bpm changes without adding a reset (the engine keeps the old tempo until one), and the
    client's reset lands at a chunk boundary."""
    chunk_s, frames = 0.1, 4800
    base = CONFIG
    faster = CONFIG.replace(bpm=150)

    async def remote(server: Server) -> tuple[list[AudioChunk], int]:
        got = Received()
        async with backend_for(server).connect() as session:
            await start(session, config=base)
            await collect(session, chunks=2, into=got)
            await session.set_music_generation_config(faster)
            while got.chunks[-1].spans[0].config.bpm != 150:
                await collect(session, chunks=len(got.chunks) + 1, into=got)
            changed_at = len(got.chunks) - 1
            await session.reset_context()
            await collect(session, chunks=len(got.chunks) + 5, into=got)
        return got.chunks, changed_at

    async def reference(count: int, change_at: int, reset_at: int | None) -> list[bytes]:
        async with OfflineBackend(chunk_frames=frames).connect() as session:
            await start(session, config=base)
            await session.set_music_generation_config(faster, at_sample=change_at * frames)
            if reset_at is not None:
                await session.reset_context(at_sample=reset_at * frames)
            pcm = []
            async for chunk in session.receive():
                pcm.append(chunk.pcm)
                if len(pcm) == count:
                    return pcm
        raise AssertionError("unreachable")

    with serving(pace="realtime", chunk_s=chunk_s) as server:
        chunks, k = run(remote(server))
    received = [c.pcm for c in chunks]
    no_reset = run(reference(len(received), k, None))
    assert received[:k + 1] == no_reset[:k + 1], "the bpm change alone must not reset (pass-through)"
    j = next((i for i, (a, b) in enumerate(zip(received, no_reset)) if a != b), None)
    assert j is not None and j > k, "the reset must change the audio after the bpm change"
    assert received == run(reference(len(received), k, j)), "the reset lands exactly at chunk boundary j"
