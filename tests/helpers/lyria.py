"""Shared helpers for the serve / Lyria backend tests: a real server, the real SDK, real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Iterator, TypeVar

from render.backends.base import AudioChunk, ServerEvent, Session
from render.backends.lyria import LyriaBackend
from render.controls import GenerationConfig, WeightedPrompt
from render.server import FaultPlan, Server

T = TypeVar("T")

API_KEY = "test-key-7f3a9c1e5b"
CHUNK_S = 0.25
PROMPTS = (WeightedPrompt(text="Warm Acoustic Guitar", weight=1.0), WeightedPrompt(text="Chill", weight=0.5))
CONFIG = GenerationConfig(bpm=96, scale="D_MAJOR_B_MINOR", density=0.4, seed=7)


def run(coro: Awaitable[T], timeout_s: float = 20.0) -> T:
    """Run ``coro`` on a fresh event loop, failing after ``timeout_s``."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))  # type: ignore[arg-type]


@contextlib.contextmanager
def serving(*faults: FaultPlan, **options: Any) -> Iterator[Server]:
    """A ``serve`` instance on a free loopback port in a background thread (fast, 0.25 s chunks)."""
    options.setdefault("pace", "fast")
    options.setdefault("chunk_s", CHUNK_S)
    options.setdefault("require_key", API_KEY)
    with Server(port=0, faults=tuple(faults), **options) as server:
        yield server


def backend_for(server: Server, *, api_key: str = API_KEY, **kwargs: Any) -> LyriaBackend:
    return LyriaBackend(api_key=api_key, base_url=server.base_url, ca_cert=server.ca_cert, **kwargs)


async def start(session: Session, prompts: tuple[WeightedPrompt, ...] = PROMPTS, config: GenerationConfig = CONFIG) -> None:
    await session.set_weighted_prompts(list(prompts))
    await session.set_music_generation_config(config)
    await session.play()


@dataclass
class Received:
    """Events with their arrival times (``time.monotonic()``)."""

    events: list[ServerEvent] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)

    @property
    def chunks(self) -> list[AudioChunk]:
        return [e for e in self.events if isinstance(e, AudioChunk)]

    def chunk_times_s(self) -> list[float]:
        return [t for e, t in zip(self.events, self.times_s) if isinstance(e, AudioChunk)]


async def collect(session: Session, *, chunks: int, into: Received | None = None) -> Received:
    """Receive until ``chunks`` audio chunks arrived (or the stream ends); errors propagate."""
    got = into if into is not None else Received()
    async for event in session.receive():
        got.events.append(event)
        got.times_s.append(time.monotonic())
        if len(got.chunks) >= chunks:
            break
    return got


def client_ssl_context(server: Server) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.ca_cert))


def python() -> str:
    return sys.executable


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("SSL_CERT_FILE", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(name, None)
    return env


def tone_server(*faults: FaultPlan, chunk_s: float = 1.0, **options: Any) -> Server:
    """A ``serve`` (not yet started) on the cheap tone engine, for render-level tests (fast pace)."""
    from render.server.engine import tone_engine_factory

    options.setdefault("pace", "fast")
    options.setdefault("require_key", API_KEY)
    return Server(port=0, chunk_s=chunk_s, faults=tuple(faults), engine_factory=tone_engine_factory, **options)


def lyria_render_options(server: Server, **kw: Any) -> Any:
    """RenderOptions for ``--backend lyria`` against ``server`` (set GEMINI_API_KEY=API_KEY first)."""
    from render import RenderOptions
    from render.backends import LyriaSettings

    settings = LyriaSettings(base_url=server.base_url, ca_cert=server.ca_cert)
    kw.setdefault("stall_timeout_s", 5.0)
    return RenderOptions(backend="lyria", lyria=settings, **kw)


def dominant_hz(path: Any, start_s: float, length_s: float = 0.4) -> float:
    """The strongest frequency of a stretch of an audio file (the tone engine's pitch)."""
    import numpy as np
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        f.seek(int(start_s * f.samplerate))
        data = f.read(int(length_s * f.samplerate), always_2d=True)[:, 0]
        rate = f.samplerate
    spectrum = np.abs(np.fft.rfft(data * np.hanning(len(data))))
    return float(np.argmax(spectrum) * rate / len(data))
