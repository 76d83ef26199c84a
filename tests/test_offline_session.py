"""The offline session honours Lyria's session protocol (chunks, positions, resets, refusals)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from helpers.offline import grid_alignment, prompts_of, render

from render.backends.base import AudioChunk, Backend, Session
from render.backends.offline import OfflineBackend, OfflineSession
from render.controls import GenerationConfig as G
from render.errors import ProtocolError, UsageError

POP = [("Indie Pop", 1.0)]


def _pcm(chunks) -> np.ndarray:
    return np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2").reshape(-1, 2)


def test_backend_describes_itself_honestly_and_satisfies_the_protocols():
    backend = OfflineBackend(chunk_frames=48_000)
    assert isinstance(backend, Backend)
    assert backend.name == "offline" and "procedural" in backend.model
    info = backend.describe()
    assert info["backend"] == "offline" and "procedural" in info["engine"] and "not neural" in info["engine"]
    with pytest.raises(UsageError, match="chunk_frames"):
        OfflineBackend(chunk_frames=0)


def test_chunks_are_contiguous_frames_with_spans_and_info():
    async def main():
        async with OfflineBackend(chunk_frames=30_000).connect() as session:
            assert isinstance(session, Session) and session.supports_at_sample
            await session.set_weighted_prompts(prompts_of([("Sitar", 2.0), ("zorblax", 1.0)]))
            await session.set_music_generation_config(G(bpm=120))
            await session.play()
            chunks = []
            async for event in session.receive():
                chunks.append(event)
                if len(chunks) == 3:
                    break
            return chunks

    chunks = asyncio.run(main())
    assert all(isinstance(c, AudioChunk) for c in chunks)
    assert [c.start_sample for c in chunks] == [0, 30_000, 60_000]
    assert all(c.frames == 30_000 and len(c.pcm) == 30_000 * 4 for c in chunks)
    first = chunks[0].spans[0]
    assert first.start_sample == 0 and first.epoch == 0
    assert first.prompts == tuple(prompts_of([("Sitar", 2.0), ("zorblax", 1.0)]))
    assert first.config == G(bpm=120)
    assert chunks[0].info["unmatched_words"] == ["zorblax"]
    assert "procedural" in chunks[0].info["engine"]


def test_weight_zero_is_refused_naming_the_prompt():
    async def main():
        async with OfflineBackend().connect() as session:
            with pytest.raises(ProtocolError, match="Sitar"):
                await session.set_weighted_prompts(prompts_of([("Piano", 1.0), ("Sitar", 0.0)]))
            with pytest.raises(ProtocolError, match="at_sample"):
                await session.reset_context(at_sample=-5)
            await session.set_weighted_prompts(prompts_of([("Piano", -1.0)]))  # negative is fine

    asyncio.run(main())


def test_nothing_before_play_pause_waits_and_play_resumes():
    async def main():
        async with OfflineBackend(chunk_frames=24_000).connect() as session:
            await session.set_weighted_prompts(prompts_of(POP))
            stream = session.receive().__aiter__()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(first := asyncio.ensure_future(stream.__anext__())), 0.05)
            await session.play()
            a = await first
            await session.pause()
            pending = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0.05)
            assert not pending.done()
            await session.play()
            b = await pending
            await session.close()
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()
            return a, b

    a, b = asyncio.run(main())
    assert (a.start_sample, b.start_sample) == (0, 24_000)


def test_changes_in_the_past_apply_at_the_next_frame_not_generated():
    async def main():
        async with OfflineBackend(chunk_frames=48_000).connect() as session:
            await session.set_weighted_prompts(prompts_of(POP))
            await session.play()
            stream = session.receive().__aiter__()
            await stream.__anext__()
            await session.set_music_generation_config(G(density=0.9), at_sample=10)
            second = await stream.__anext__()
            await session.set_weighted_prompts(prompts_of([("Harp", 1.0)]), at_sample=120_000)
            third = await stream.__anext__()
            return second, third

    second, third = asyncio.run(main())
    assert [s.start_sample for s in second.spans] == [48_000]
    assert second.spans[0].config == G(density=0.9)
    assert [s.start_sample for s in third.spans] == [96_000, 120_000]
    assert third.spans[1].prompts == tuple(prompts_of([("Harp", 1.0)]))


def test_bpm_change_waits_for_a_reset_then_starts_at_the_reset_sample():
    reset_at = 150_000
    base = G(bpm=100, density=0.7, seed=2)
    faster = G(bpm=150, density=0.7, seed=2)
    plain, _ = render(POP, base, 8)
    no_reset, _ = render(POP, base, 8, changes=[(60_000, "config", faster)])
    assert np.array_equal(plain, no_reset)  # bpm alone changes nothing without a reset
    with_reset, chunks = render(POP, base, 8, changes=[(60_000, "config", faster), (reset_at, "reset", None)])
    assert np.array_equal(plain[:reset_at], with_reset[:reset_at])
    assert not np.array_equal(plain[reset_at:], with_reset[reset_at:])
    spans = [s for c in chunks for s in c.spans]
    assert [(s.start_sample, s.epoch) for s in spans if s.start_sample in (60_000, reset_at)] == [(60_000, 0), (reset_at, 1)]
    after = with_reset[reset_at:]
    assert grid_alignment(after, 150) > 0.7 > grid_alignment(after, 100) + 0.2
    assert grid_alignment(plain[reset_at:], 100, start_frame=-reset_at) > 0.7


def test_a_config_update_replaces_the_whole_config():
    at = 96_000
    first = G(bpm=120, density=0.8, brightness=0.95, mute_drums=True, seed=3)
    second = G(bpm=120, density=0.8, seed=3)  # brightness back to "model decides", drums back on
    audio, chunks = render(POP, first, 4, changes=[(at, "config", second)])
    spans = [s for c in chunks for s in c.spans]
    assert spans[-1].start_sample == at and spans[-1].config == second and spans[-1].config.brightness is None
    before, after = audio[:at], audio[at + 4_800 :]
    from helpers.offline import band_energy

    assert band_energy(after, 6000, 20000) > 3 * band_energy(before, 6000, 20000)  # hats are back


def test_stop_then_play_starts_a_fresh_context_and_counts_on():
    async def main():
        async with OfflineBackend(chunk_frames=48_000).connect() as session:
            await session.set_weighted_prompts(prompts_of(POP))
            await session.play()
            stream = session.receive().__aiter__()
            a = await stream.__anext__()
            await session.stop()
            pending = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0.02)
            assert not pending.done()
            await session.play()
            b = await pending
            await session.reset_context(at_sample=b.end_sample + 1000)
            c = await stream.__anext__()
            return a, b, c

    a, b, c = asyncio.run(main())
    assert (a.start_sample, b.start_sample) == (0, 48_000)
    assert [s.epoch for s in a.spans] == [0]
    assert [(s.start_sample, s.epoch) for s in b.spans] == [(48_000, 1)]
    assert [(s.start_sample, s.epoch) for s in c.spans] == [(96_000, 1), (97_000, 2)]


def test_session_rejects_use_after_close():
    async def main():
        session = OfflineSession(chunk_frames=1000)
        await session.close()
        with pytest.raises(ProtocolError, match="closed"):
            await session.set_weighted_prompts(prompts_of(POP))
        assert [e async for e in session.receive()] == []

    asyncio.run(main())
