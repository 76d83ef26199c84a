"""``serve --engine tone``: a cheap stand-in engine for long load tests and benches.

It makes a quiet sine per chunk (its pitch follows the prompts) in microseconds, where
the offline engine needs tens of milliseconds per second of music, and reports spans
like the offline engine, so event timing and rotation work the same. Not music.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from typing import Any, AsyncIterator, Sequence

from render.audio import CHANNELS, SAMPLE_RATE
from render.backends.base import AudioChunk, ControlSpan, ServerEvent
from render.controls import GenerationConfig, WeightedPrompt

__all__ = ["ToneBackend"]


class ToneBackend:
    """Backend of :class:`ToneSession` sessions making ``chunk_frames``-frame chunks."""

    name = "tone"
    model = "tone"

    def __init__(self, chunk_frames: int) -> None:
        self.chunk_frames = chunk_frames

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model}

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator["ToneSession"]:
        yield ToneSession(self.chunk_frames)


class ToneSession:
    """A session of :class:`ToneBackend` (the :class:`render.backends.base.Session` protocol)."""

    supports_at_sample = False

    def __init__(self, chunk_frames: int) -> None:
        self._chunk = chunk_frames
        self._prompts: tuple[WeightedPrompt, ...] = ()
        self._config = GenerationConfig()
        self._epoch = 0
        self._frames = 0
        self._playing = asyncio.Event()
        self._closed = False

    async def set_weighted_prompts(self, prompts: Sequence[WeightedPrompt], *, at_sample: int | None = None) -> None:
        self._prompts = tuple(prompts)

    async def set_music_generation_config(self, config: GenerationConfig, *, at_sample: int | None = None) -> None:
        self._config = config

    async def play(self) -> None:
        self._playing.set()

    async def pause(self) -> None:
        self._playing.clear()

    async def stop(self) -> None:
        self._playing.clear()

    async def reset_context(self, *, at_sample: int | None = None) -> None:
        self._epoch += 1

    async def close(self) -> None:
        self._closed = True

    async def receive(self) -> AsyncIterator[ServerEvent]:
        import numpy as np

        while not self._closed:
            await self._playing.wait()
            key = "|".join(f"{p.text}:{p.weight:g}" for p in self._prompts)
            hz = 110.0 + zlib.crc32(key.encode()) % 660
            t = (self._frames + np.arange(self._chunk)) / SAMPLE_RATE
            mono = (2000.0 * np.sin(2 * np.pi * hz * t)).astype("<i2")
            pcm = np.repeat(mono, CHANNELS).tobytes()
            span = ControlSpan(start_sample=self._frames, prompts=self._prompts, config=self._config,
                               epoch=self._epoch)
            chunk = AudioChunk(pcm=pcm, start_sample=self._frames, spans=(span,))
            self._frames += self._chunk
            yield chunk
            await asyncio.sleep(0)
