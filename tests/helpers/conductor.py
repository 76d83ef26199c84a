"""Test-only backends for the conductor tests: a tiny deterministic fake and fault wrappers.

``FakeBackend`` mimics the offline engine's contract (lazy generation, exact
``at_sample`` changes reported as chunk spans) with PCM whose left sample is the
session frame number mod 32768, so tests can check that no audio was lost.
``FaultyBackend`` wraps any backend (the real offline one included) and injects drops,
stalls, refusals, auth errors, filtered prompts and warnings per connection.
"""

from __future__ import annotations

import asyncio
import bisect
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

from helpers.spool_child import pattern
from render.backends.base import AudioChunk, ControlSpan, FilteredPrompt, ServerWarning
from render.controls import GenerationConfig, WeightedPrompt
from render.errors import AuthError, TransientBackendError
from render.schedule import ControlMessage, EventTiming, Schedule
from render.spool.store import Spool, SpoolMeta, schedule_digest

SR = 48_000


def P(*texts: str) -> tuple[WeightedPrompt, ...]:
    return tuple(WeightedPrompt(text=t) for t in texts)


def make_schedule(duration_s: float = 3.0, lead_in_s: float = 0.5, tail_s: float = 0.25,
                  changes: Sequence[tuple[float, str, Any]] = ()) -> Schedule:
    """A schedule whose event i is ``changes[i]`` = (piece seconds, kind, value)."""
    msgs, events = [], []
    for i, (at_s, kind, value) in enumerate(changes):
        sample = round(at_s * SR)
        msgs.append(ControlMessage(sample=sample, kind=kind, event=i,
                                   prompts=value if kind == "prompts" else None,
                                   config=value if kind == "config" else None))
        events.append(EventTiming(index=i, sample=sample, written=f"{at_s}s"))
    return Schedule(duration_frames=round(duration_s * SR), lead_in_frames=round(lead_in_s * SR),
                    tail_frames=round(tail_s * SR), initial_prompts=P("Piano"),
                    initial_config=GenerationConfig(bpm=100, seed=7), messages=tuple(msgs), events=tuple(events))


def long_schedule() -> Schedule:
    return make_schedule(duration_s=40.0, changes=[(10.0, "prompts", P("Sitar")), (25.0, "prompts", P("Organ"))])


def make_spool(path: Path, schedule: Schedule) -> Spool:
    return Spool.create(path, SpoolMeta(name="t", timeline_sha256="0" * 64, schedule_digest=schedule_digest(schedule)),
                        fsync_interval_s=None)


def offline_backend(chunk_frames: int = 24_000) -> Any:
    try:
        from render.backends.offline import OfflineBackend
    except ImportError:
        return FakeBackend(chunk_frames=chunk_frames)
    return OfflineBackend(chunk_frames=chunk_frames)


@dataclass(kw_only=True)
class FakeSession:
    """Lazy, deterministic; with ``at_sample`` a change applies exactly there, else at the next chunk."""

    chunk_frames: int
    at_sample: bool = True
    pace_s: float = 0.0
    pos: int = 0
    prompts: tuple[WeightedPrompt, ...] | None = None
    config: GenerationConfig | None = None
    epoch: int = 0
    queue: list[tuple[int, int, str, Any]] = field(default_factory=list)
    log: list[tuple[str, Any, int | None]] = field(default_factory=list)
    playing: bool = False
    closed: bool = False
    spans: bool = True

    @property
    def supports_at_sample(self) -> bool:
        return self.at_sample

    def _change(self, kind: str, value: Any, at_sample: int | None) -> None:
        self.log.append((kind, value, at_sample))
        at = self.pos if at_sample is None or not self.at_sample else max(at_sample, self.pos)
        bisect.insort(self.queue, (at, len(self.log), kind, value))

    async def set_weighted_prompts(self, prompts: Sequence[WeightedPrompt], *, at_sample: int | None = None) -> None:
        self._change("prompts", tuple(prompts), at_sample)

    async def set_music_generation_config(self, config: GenerationConfig, *, at_sample: int | None = None) -> None:
        self._change("config", config, at_sample)

    async def reset_context(self, *, at_sample: int | None = None) -> None:
        self._change("reset", None, at_sample)

    async def play(self) -> None:
        self.log.append(("play", None, None))
        self.playing = True

    async def pause(self) -> None:
        self.playing = False

    async def stop(self) -> None:
        self.log.append(("stop", None, None))
        self.playing = False

    async def close(self) -> None:
        self.log.append(("close", None, None))
        self.closed = True

    def _apply(self, upto: int) -> None:
        while self.queue and self.queue[0][0] <= upto:
            _, _, kind, value = self.queue.pop(0)
            if kind == "prompts":
                self.prompts = value
            elif kind == "config":
                self.config = value
            else:
                self.epoch += 1

    def _span(self, start: int) -> ControlSpan:
        return ControlSpan(start_sample=start, prompts=self.prompts, config=self.config, epoch=self.epoch)

    async def receive(self) -> AsyncIterator[Any]:
        while not self.closed:
            if not self.playing:
                await asyncio.sleep(0.001)
                continue
            start, end = self.pos, self.pos + self.chunk_frames
            self._apply(start)
            spans = [self._span(start)]
            while self.queue and self.queue[0][0] < end:
                at = self.queue[0][0]
                self._apply(at)
                spans.append(self._span(at))
            self.pos = end
            await asyncio.sleep(self.pace_s)
            yield AudioChunk(pcm=pattern(start, self.chunk_frames), start_sample=start,
                             spans=tuple(spans) if self.spans else ())


@dataclass(kw_only=True)
class FakeBackend:
    chunk_frames: int = 4_800
    at_sample: bool = True
    spans: bool = True
    pace_s: float = 0.0
    name: str = "fake"
    model: str = "fake-1"
    sessions: list[FakeSession] = field(default_factory=list)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[FakeSession]:
        session = FakeSession(chunk_frames=self.chunk_frames, at_sample=self.at_sample, spans=self.spans,
                              pace_s=self.pace_s)
        self.sessions.append(session)
        try:
            yield session
        finally:
            session.closed = True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(kw_only=True)
class Fault:
    """What one connection does: ``refuse``/``auth`` at connect, or after ``after`` chunks
    ``drop`` (TransientBackendError), ``auth``, ``stall``, ``filter`` or ``warn``."""

    kind: str = "ok"
    after: int = 0


class FaultySession:
    def __init__(self, inner: Any, fault: Fault) -> None:
        self.inner, self.fault = inner, fault

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def supports_at_sample(self) -> bool:
        return self.inner.supports_at_sample

    async def receive(self) -> AsyncIterator[Any]:
        n, kind = 0, self.fault.kind
        async for event in self.inner.receive():
            if isinstance(event, AudioChunk):
                if n == self.fault.after:
                    if kind == "drop":
                        raise TransientBackendError("websocket closed with 1011 (injected)")
                    if kind == "auth":
                        raise AuthError("1008: API key not valid (injected)")
                    if kind == "stall":
                        await asyncio.sleep(3600)
                    if kind == "filter":
                        yield FilteredPrompt(text="forbidden words", reason="injected")
                    if kind == "warn":
                        yield ServerWarning(message="slow down (injected)")
                    if kind == "partial":
                        yield AudioChunk(pcm=b"\x00" * 6, start_sample=event.start_sample)
                n += 1
            yield event


@dataclass(kw_only=True)
class FaultyBackend:
    inner: Any
    plan: list[Fault] = field(default_factory=list)
    connects: int = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def model(self) -> str:
        return self.inner.model

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Any]:
        self.connects += 1
        fault = self.plan.pop(0) if self.plan else Fault()
        if fault.kind == "refuse":
            raise TransientBackendError("connection refused with 1011 (injected)")
        if fault.kind == "auth" and fault.after < 0:
            raise AuthError("1008: API key not valid (injected)")
        async with self.inner.connect() as session:
            yield FaultySession(session, fault)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()
