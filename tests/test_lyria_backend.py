"""LyriaBackend: the real google-genai SDK over real TLS WebSockets against ``serve``.

Every fault of the server is observed through our session, as the conductor sees it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from helpers.lyria import API_KEY, CHUNK_S, CONFIG, PROMPTS, Received, backend_for, collect, run, serving, start

from render.backends.base import AudioChunk, FilteredPrompt, ServerWarning, Session
from render.backends.lyria import LyriaBackend, redact, resolve_api_key
from render.controls import WeightedPrompt
from render.errors import AuthError, BackendError, ProtocolError, TransientBackendError
from render.server import FaultPlan

FRAMES_PER_CHUNK = round(CHUNK_S * 48_000)


def test_session_streams_whole_frames_with_source_metadata() -> None:
    async def body(backend: LyriaBackend) -> Received:
        async with backend.connect() as session:
            assert isinstance(session, Session) and session.supports_at_sample is False
            await start(session)
            got = await collect(session, chunks=4)
            await session.close()
            return got

    with serving() as server:
        backend = backend_for(server)
        got = run(body(backend))
    chunks = got.chunks
    assert [c.start_sample for c in chunks] == [i * FRAMES_PER_CHUNK for i in range(4)]
    assert all(c.frames == FRAMES_PER_CHUNK and len(c.pcm) == 4 * c.frames for c in chunks)
    span = chunks[-1].spans[0]
    assert span.start_sample == chunks[-1].start_sample and span.epoch is None
    assert span.prompts == PROMPTS
    assert span.config == CONFIG
    assert any(c.pcm.count(0) < len(c.pcm) for c in chunks), "all chunks are digital silence"
    described = backend.describe()
    assert described["name"] == "lyria" and described["base_url"] == server.base_url
    assert API_KEY not in repr(described) + repr(backend)


def test_close_we_initiate_ends_receive_cleanly() -> None:
    async def body(backend: LyriaBackend) -> int:
        async with backend.connect() as session:
            await start(session)
            count = 0
            async for event in session.receive():
                count += isinstance(event, AudioChunk)
                if count == 2:
                    await session.close()
            return count

    with serving() as server:
        assert run(body(backend_for(server))) >= 2


@pytest.mark.parametrize(
    ("plan", "code", "chunks"),
    [
        (FaultPlan(session_limit_s=4 * CHUNK_S), "1011", 4),
        (FaultPlan(session_limit_s=0.5, session_limit_clock="wall"), "1011", None),
        (FaultPlan(drop_after_chunks=3), "1006", 3),
        (FaultPlan(drop_after_chunks=3, drop_code=1011), "1011", 3),
        (FaultPlan(drop_after_chunks=3, drop_code=1000), "1000", 3),
    ],
    ids=["session-limit-audio", "session-limit-wall", "drop-abrupt", "drop-1011", "unasked-normal-close"],
)
def test_server_ending_the_session_is_transient(plan: FaultPlan, code: str, chunks: int | None) -> None:
    got = Received()

    async def body(backend: LyriaBackend) -> None:
        async with backend.connect() as session:
            await start(session)
            await collect(session, chunks=10_000, into=got)

    with serving(plan) as server:
        began = time.monotonic()
        with pytest.raises(TransientBackendError) as info:
            run(body(backend_for(server)))
        took_s = time.monotonic() - began
    assert f"code {code}" in str(info.value)
    if chunks is not None:
        assert len(got.chunks) == chunks
    else:
        assert took_s >= 0.5 and got.chunks, (took_s, len(got.chunks))


def test_stall_leaves_a_gap_then_resumes() -> None:
    stall_s = 0.8

    async def body(backend: LyriaBackend) -> Received:
        async with backend.connect() as session:
            await start(session)
            return await collect(session, chunks=5)

    with serving(FaultPlan(stall_after_chunks=2, stall_s=stall_s)) as server:
        got = run(body(backend_for(server)))
    times = got.chunk_times_s()
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[1] >= stall_s * 0.9, gaps
    assert max(gaps[:1] + gaps[2:]) < stall_s * 0.9, gaps


def test_non_pcm_audio_is_a_protocol_error() -> None:
    got = Received()

    async def body(backend: LyriaBackend) -> None:
        async with backend.connect() as session:
            await start(session)
            await collect(session, chunks=10, into=got)

    with serving(FaultPlan(bad_chunk_at=3, bad_chunk="wrong_mime")) as server:
        with pytest.raises(ProtocolError, match="audio/mpeg.*not PCM"):
            run(body(backend_for(server)))
    assert len(got.chunks) == 2


def test_partial_frame_is_trimmed_and_the_stream_stays_aligned() -> None:
    async def body(backend: LyriaBackend) -> Received:
        async with backend.connect() as session:
            await start(session)
            return await collect(session, chunks=5)

    with serving(FaultPlan(bad_chunk_at=3, bad_chunk="partial_frame")) as server:
        got = run(body(backend_for(server)))
    frames = [c.frames for c in got.chunks]
    assert frames[2] == frames[0] - 1 and frames[3] == frames[0]  # one frame lost, later chunks whole
    assert got.chunks[2].info["received"]["dropped_bytes"] == 3
    assert all(len(c.pcm) % 4 == 0 for c in got.chunks)


def test_filtered_prompt_is_reported_and_ignored() -> None:
    prompts = (PROMPTS[0], WeightedPrompt(text="Ominous Drone", weight=1.0))

    async def body(backend: LyriaBackend) -> Received:
        async with backend.connect() as session:
            await start(session, prompts=prompts)
            return await collect(session, chunks=2)

    with serving(FaultPlan(filter_words=("ominous",))) as server:
        got = run(body(backend_for(server)))
    filtered = [e for e in got.events if isinstance(e, FilteredPrompt)]
    assert [f.text for f in filtered] == ["Ominous Drone"]
    assert "ominous" in filtered[0].reason
    assert got.chunks[-1].spans[0].prompts == (PROMPTS[0],)


def test_play_before_prompts_yields_server_warning() -> None:
    async def body(backend: LyriaBackend) -> Received:
        async with backend.connect() as session:
            await session.play()
            got = Received()
            async for event in session.receive():
                got.events.append(event)
                if isinstance(event, ServerWarning):
                    await session.set_weighted_prompts(list(PROMPTS))
                if isinstance(event, AudioChunk):
                    return got
            return got

    with serving() as server:
        got = run(body(backend_for(server)))
    assert isinstance(got.events[0], ServerWarning)
    assert isinstance(got.events[-1], AudioChunk)


@pytest.mark.parametrize(
    ("plan", "api_key", "fragment"),
    [
        (FaultPlan(refuse_setup=True), API_KEY, "Quota exceeded"),
        (FaultPlan(), "wrong-key-0123456789", "API key not valid"),
    ],
    ids=["quota", "wrong-key"],
)
def test_refusal_is_auth_error_without_the_key(
    plan: FaultPlan, api_key: str, fragment: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def body(backend: LyriaBackend) -> None:
        async with backend.connect() as session:
            await start(session)

    with serving(plan) as server:
        began = time.monotonic()
        with pytest.raises(AuthError) as info:
            run(body(backend_for(server, api_key=api_key)))
        took_s = time.monotonic() - began
    text = str(info.value)
    assert "1008" in text and fragment in text and "API key" in text
    assert api_key not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert api_key not in caplog.text
    assert "x-goog-api-key: ***" in caplog.text  # websockets logged the header, scrubbed
    assert took_s < 5


def test_quota_after_n_connections_lets_the_first_through() -> None:
    async def one(backend: LyriaBackend) -> int:
        async with backend.connect() as session:
            await start(session)
            return len((await collect(session, chunks=1)).chunks)

    with serving(FaultPlan(refuse_after_connections=1)) as server:
        backend = backend_for(server)
        assert run(one(backend)) == 1
        with pytest.raises(AuthError, match="Quota"):
            run(one(backend))


def test_fault_targets_only_the_first_connection() -> None:
    async def one(backend: LyriaBackend) -> int:
        async with backend.connect() as session:
            await start(session)
            return len((await collect(session, chunks=4)).chunks)

    with serving(FaultPlan(drop_after_chunks=1, only_connections=(1,))) as server:
        backend = backend_for(server)
        with pytest.raises(TransientBackendError):
            run(one(backend))
        assert run(one(backend)) == 4


def test_start_latency_delays_first_audio() -> None:
    latency_s = 0.5

    async def body(backend: LyriaBackend) -> float:
        async with backend.connect() as session:
            await session.set_weighted_prompts(list(PROMPTS))
            began = time.monotonic()
            await session.play()
            got = await collect(session, chunks=1)
            return got.chunk_times_s()[0] - began

    with serving(FaultPlan(start_latency_s=latency_s)) as server:
        assert run(body(backend_for(server))) >= latency_s * 0.95


def test_change_latency_delays_prompt_changes() -> None:
    latency_s = 0.5
    new = (WeightedPrompt(text="Bagpipes", weight=1.0),)

    async def body(backend: LyriaBackend) -> float:
        async with backend.connect() as session:
            await start(session)
            await collect(session, chunks=1)
            began = time.monotonic()
            await session.set_weighted_prompts(list(new))
            async for event in session.receive():
                if isinstance(event, AudioChunk) and event.spans[0].prompts == new:
                    return time.monotonic() - began
            raise AssertionError("the new prompts never arrived")

    with serving(FaultPlan(change_latency_s=latency_s), pace="realtime") as server:
        assert run(body(backend_for(server))) >= latency_s


def test_concurrent_sessions_each_get_their_own_stream() -> None:
    async def one(backend: LyriaBackend, text: str) -> Received:
        async with backend.connect() as session:
            await start(session, prompts=(WeightedPrompt(text=text, weight=1.0),))
            return await collect(session, chunks=3)

    async def body(backend: LyriaBackend) -> list[Received]:
        return await asyncio.gather(*(one(backend, t) for t in ("Piano", "Sitar", "Tuba")))

    with serving() as server:
        results = run(body(backend_for(server)))
        assert server.connections == 3
    for text, got in zip(("Piano", "Sitar", "Tuba"), results):
        assert [c.start_sample for c in got.chunks] == [0, FRAMES_PER_CHUNK, 2 * FRAMES_PER_CHUNK]
        assert got.chunks[-1].spans[0].prompts[0].text == text


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = LyriaBackend(api_key=API_KEY, base_url=f"https://127.0.0.1:{port}")

    async def body() -> None:
        async with backend.connect():
            pass

    with pytest.raises(TransientBackendError, match="connecting"):
        run(body())


def test_untrusted_certificate_and_wrong_path_are_not_retryable() -> None:
    async def body(backend: LyriaBackend) -> None:
        async with backend.connect():
            pass

    with serving() as server:
        with pytest.raises(BackendError, match="--ca-cert") as untrusted:
            run(body(LyriaBackend(api_key=API_KEY, base_url=server.base_url)))
        with pytest.raises(BackendError, match="404") as missing:
            run(body(backend_for(server, api_version="v9")))
    for info in (untrusted, missing):
        assert not isinstance(info.value, TransientBackendError)


def test_resolve_api_key_prefers_file_then_gemini_then_google(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    key_file = tmp_path / "key.txt"
    key_file.write_text("  file-key\n")
    assert resolve_api_key(key_file) == "file-key"
    assert resolve_api_key() == "gemini-key"
    monkeypatch.delenv("GEMINI_API_KEY")
    assert resolve_api_key() == "google-key"
    monkeypatch.delenv("GOOGLE_API_KEY")
    assert resolve_api_key() is None
    assert redact("bad key abc123 was abc123", "abc123") == "bad key *** was ***"
    with pytest.raises(AuthError):
        LyriaBackend(api_key="")
