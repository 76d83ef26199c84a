"""Issue 11: ``serve --profile measured`` and its parts, each settable alone, plus snake_case keys."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time

import pytest
from helpers.lyria import (
    API_KEY,
    Received,
    backend_for,
    client_ssl_context,
    collect,
    run,
    serving,
    start,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from render.backends.base import FilteredPrompt
from render.backends.lyria import LyriaBackend
from render.errors import TransientBackendError, UsageError
from render.server import FaultPlan
from render.server.engine import tone_engine_factory
from render.server.profile import MEASURED, Pacer, Realism, profile_plan, realism_for

MUSIC_PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"


def test_measured_profile_has_the_measured_values() -> None:
    r = realism_for("measured")
    assert (r.start_latency_median_s, r.start_latency_max_s, r.pace_min, r.pace_max, r.gap_max_s) == (
        2.9, 10.9, 0.77, 1.03, 17.0)
    assert r.stagger_s == 10.0 and r.binary_frames and r.idle_timeout_s > 300 and r.max_connections
    plan = profile_plan("measured", 2.0)
    assert plan is not None and plan.session_limit_s == 600.0 and plan.change_latency_s == 2.0
    assert realism_for("measured", binary_frames=False, stagger_s=None).binary_frames is False  # one part alone
    assert realism_for("none") == Realism() and profile_plan("none", 2.0) is None
    with pytest.raises(UsageError):
        realism_for("loud")


def test_start_latency_has_a_median_near_2_9_s_and_a_long_tail() -> None:
    rng = random.Random(1)
    draws = [MEASURED.start_latency_s(rng) for _ in range(4000)]
    assert 2.6 < statistics.median(draws) < 3.2 and max(draws) <= 10.9 and max(draws) > 7


def test_pacing_stays_within_the_measured_range_with_gaps() -> None:
    pacer = Pacer(MEASURED, random.Random(2))
    minute, gaps, sent, rates = 60 * 48_000, [], 0, []
    for _ in range(120):  # two hours of 2 s chunks, 30 per minute
        wall0 = pacer.wall_s
        for _ in range(30):
            gap = pacer.advance(96_000, sent)
            sent += 96_000
            if gap:
                gaps.append(gap)
        rates.append(60.0 / (pacer.wall_s - wall0))
    assert 0.77 <= min(rates) and max(rates) <= 1.03 and max(rates) - min(rates) > 0.15
    assert gaps and all(5.0 <= g <= 17.0 for g in gaps) and sent == 120 * minute


def test_time_scale_keeps_the_proportions() -> None:
    fast = Pacer(Realism(pace_min=0.8, pace_max=0.8, time_scale=0.01), random.Random(0))
    fast.advance(96_000, 0)
    assert fast.wall_s == pytest.approx(2.0 / 0.8 * 0.01)


def test_paced_stream_through_the_sdk_keeps_scaled_realtime() -> None:
    realism = Realism(pace_min=0.8, pace_max=0.8, time_scale=0.1)

    async def body(backend: LyriaBackend) -> tuple[float, Received]:
        async with backend.connect() as session:
            began = time.monotonic()
            await start(session)
            return began, await collect(session, chunks=13)

    with serving(realism=realism, engine_factory=tone_engine_factory) as server:  # an engine faster than the pace
        began, got = run(body(backend_for(server)))
    wall = got.chunk_times_s()[-1] - began  # chunk 13 is due 12 x 0.25 s / 0.8 x 0.1 = 0.375 s after PLAY
    assert 0.375 <= wall < 10.0


def test_stagger_filter_a_session_started_too_soon_gets_filtered_and_no_audio() -> None:
    async def two(server_backend: LyriaBackend) -> tuple[Received, Received]:
        async with server_backend.connect() as first:
            await start(first)
            got1 = await collect(first, chunks=1)
            async with server_backend.connect() as second:
                await start(second)
                got2 = Received()
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(collect(second, chunks=1, into=got2), 1.0)
        return got1, got2

    with serving(realism=Realism(stagger_s=10.0)) as server:
        got1, got2 = run(two(backend_for(server)))
    assert len(got1.chunks) == 1 and not got2.chunks
    filtered = [e for e in got2.events if isinstance(e, FilteredPrompt)]
    assert filtered and "too soon" in filtered[0].reason


async def _raw(server, frames: list[dict], *, wait_s: float = 3.0) -> tuple[list, int | None, str]:  # noqa: ANN001
    received: list = []
    async with ws_connect(f"wss://127.0.0.1:{server.port}{MUSIC_PATH}", ssl=client_ssl_context(server),
                          additional_headers={"x-goog-api-key": API_KEY}) as ws:
        for frame in frames:
            await ws.send(json.dumps(frame))
        try:
            while True:
                received.append(await asyncio.wait_for(ws.recv(), wait_s))
                if len(received) >= 3:
                    break
        except (ConnectionClosed, TimeoutError):
            pass
        return received, ws.close_code, ws.close_reason or ""


def test_snake_case_client_keys_are_accepted_and_binary_frames_sent() -> None:
    frames = [{"setup": {"model": "models/lyria-realtime-exp"}},
              {"client_content": {"weighted_prompts": [{"text": "Tabla", "weight": 1}]}},
              {"music_generation_config": {"bpm": 90, "mute_drums": True, "top_k": 30}},
              {"playback_control": "PLAY"}]
    with serving(realism=Realism(binary_frames=True)) as server:
        received, code, _ = run(_raw(server, frames))
    assert code is None and len(received) == 3 and all(isinstance(m, bytes) for m in received)
    chunk = json.loads(received[1])["serverContent"]["audioChunks"][0]
    assert chunk["sourceMetadata"]["musicGenerationConfig"]["muteDrums"] is True
    assert chunk["sourceMetadata"]["musicGenerationConfig"]["topK"] == 30


def test_idle_session_is_closed_after_the_timeout() -> None:
    frames = [{"setup": {"model": "models/lyria-realtime-exp"}}]
    with serving(realism=Realism(idle_timeout_s=0.5)) as server:
        began = time.monotonic()
        received, code, reason = run(_raw(server, frames))
    assert code == 1000 and "idle" in reason and time.monotonic() - began < 3


def test_connection_cap_refuses_extra_sessions_as_transient() -> None:
    async def body(backend: LyriaBackend) -> None:
        async with backend.connect() as first:
            await start(first)
            await collect(first, chunks=1)
            async with backend.connect() as second:
                await start(second)
                await collect(second, chunks=1)

    with serving(realism=Realism(max_connections=1)) as server:
        with pytest.raises(TransientBackendError, match="1013.*Too many concurrent sessions"):
            run(body(backend_for(server)))


def test_session_limit_closes_1011_without_warning() -> None:
    async def body(backend: LyriaBackend) -> Received:
        got = Received()
        async with backend.connect() as session:
            await start(session)
            with pytest.raises(TransientBackendError, match="1011.*Internal error encountered"):
                await collect(session, chunks=100, into=got)
        return got

    plan = profile_plan("measured", 0.25)
    assert plan is not None
    with serving(FaultPlan(session_limit_s=1.0, session_limit_reason=plan.session_limit_reason)) as server:
        got = run(body(backend_for(server)))
    assert sum(c.frames for c in got.chunks) == 48_000 and len(got.events) == len(got.chunks)


def test_cli_profile_flags_are_checked() -> None:
    from typer.testing import CliRunner

    from render.cli import app

    result = CliRunner().invoke(app, ["serve", "--profile", "measured", "--time-scale", "-1"])
    assert result.exit_code == 2 and "time_scale" in result.output
