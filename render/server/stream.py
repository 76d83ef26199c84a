"""The engine -> client half of a ``serve`` connection: paced chunks, faults, the profile.

:class:`Streaming` is a mixin of :class:`render.server.connection.MusicConnection` (it
uses that class's state); kept apart so each module stays small.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from render.audio import BYTES_PER_FRAME, SAMPLE_RATE
from render.backends.base import AudioChunk, FilteredPrompt, ServerWarning
from render.controls import GenerationConfig, WeightedPrompt

from . import protocol as wire
from .profile import CLOSE_IDLE, Pacer

__all__ = ["Streaming", "BAD_MIME"]

log = logging.getLogger("render.server")

BAD_MIME = "audio/mpeg"  # the wrong_mime fault: audio that is not PCM at all


class Streaming:
    """Chunks from the engine to the client (see module docstring)."""

    _ws: Any
    _plan: Any
    _settings: Any
    _engine: Any
    _loop: asyncio.AbstractEventLoop
    _number: int
    _playing: asyncio.Event
    _has_prompts: asyncio.Event
    _too_soon: bool
    _stop_epoch: int
    _pacer: Pacer | None
    _encoder: Any
    _origin_s: float
    _not_before_s: float
    _last_client_s: float
    _sent_frames: int
    _sent_chunks: int
    _prompts: tuple[WeightedPrompt, ...]
    _config: GenerationConfig

    _close: Callable[[int, str], Awaitable[None]]  # MusicConnection's: close with a code and reason

    async def _send(self, text: str) -> None:
        """Send a server message, as a binary frame when the profile says so."""
        await self._ws.send(text.encode("utf-8") if self._settings.realism.binary_frames else text)

    async def _stream_loop(self) -> None:
        assert self._engine is not None
        warned = False
        while True:
            await self._playing.wait()
            if await self._end_by_fault():
                return
            if not self._has_prompts.is_set():
                if not warned:
                    warned = True
                    await self._send(wire.warning_message("PLAY received before any weightedPrompts: "
                                                          "waiting for prompts"))
                await self._has_prompts.wait()
            if self._too_soon or self._plan.no_audio:
                await asyncio.Event().wait()  # the stagger filter / fault: never any audio
            epoch = self._stop_epoch
            event = await self._engine.next_event()
            if isinstance(event, FilteredPrompt):
                await self._send(wire.filtered_prompt_message(event.text, event.reason))
            elif isinstance(event, ServerWarning):
                await self._send(wire.warning_message(event.message))
            elif await self._wait_due(event) and epoch == self._stop_epoch:
                await self._send_chunk(event)
                await self._stall_if_due()

    async def _wait_due(self, chunk: AudioChunk) -> bool:
        """Wait until ``chunk`` is due (pausing holds it); ``False`` if it went stale."""
        epoch = self._stop_epoch
        pacer = self._pacer
        at_s = pacer.wall_s if pacer is not None else 0.0  # the chunk's start on the scaled wall clock
        gap = pacer.advance(chunk.frames, self._sent_frames) if pacer is not None else 0.0
        if gap > 0:
            log.info("connection %d: a %.2f s gap before chunk %d", self._number, gap, self._sent_chunks + 1)
            self._origin_s += gap
        while True:
            await self._playing.wait()
            if epoch != self._stop_epoch:
                return False
            due_s = self._not_before_s
            if pacer is not None:
                due_s = max(due_s, self._origin_s + at_s)
            elif self._settings.pace == "realtime":
                due_s = max(due_s, self._origin_s + self._sent_frames / SAMPLE_RATE)
            delay = due_s - self._loop.time()
            if delay <= 0:
                return True
            await asyncio.sleep(delay)  # then re-check: a pause/play may have moved the clock

    async def _send_chunk(self, chunk: AudioChunk) -> None:
        plan = self._plan
        pcm, mime = chunk.pcm, plan.send_format or wire.MIME_TYPE
        if plan.send_format:
            pcm = self._encoder.encode(pcm)
        if plan.bad_chunk_at == self._sent_chunks + 1:
            if plan.bad_chunk == "wrong_mime":
                mime = BAD_MIME
            else:
                pcm = pcm[:-1]
        prompts, config = self._metadata_for(chunk)
        await self._send(wire.audio_chunk_message(pcm, prompts=prompts, config=config, mime_type=mime))
        self._sent_chunks += 1
        self._sent_frames += len(chunk.pcm) // BYTES_PER_FRAME

    def _metadata_for(self, chunk: AudioChunk) -> tuple[tuple[WeightedPrompt, ...], GenerationConfig]:
        """The prompts and config the chunk was made from: the span covering most of it."""
        if not chunk.spans:
            return self._prompts, self._config
        bounds = [s.start_sample for s in chunk.spans[1:]] + [chunk.end_sample]
        lengths = [end - max(s.start_sample, chunk.start_sample) for s, end in zip(chunk.spans, bounds)]
        span = chunk.spans[lengths.index(max(lengths))]
        prompts = span.prompts if span.prompts is not None else self._prompts
        return prompts, span.config if span.config is not None else self._config

    async def _stall_if_due(self) -> None:
        plan = self._plan
        if plan.stall_after_chunks is not None and plan.stall_after_chunks == self._sent_chunks and plan.stall_s > 0:
            log.info("connection %d: stalling %.2f s after chunk %d", self._number, plan.stall_s, self._sent_chunks)
            await asyncio.sleep(plan.stall_s)
            self._origin_s += plan.stall_s

    async def _end_by_fault(self) -> bool:
        plan = self._plan
        if plan.drop_after_chunks is not None and self._sent_chunks >= plan.drop_after_chunks:
            log.info("connection %d: dropping after %d chunks", self._number, self._sent_chunks)
            if plan.drop_code is None:
                self._ws.transport.abort()
            else:
                await self._fault_close(plan.drop_code, plan.drop_reason)
            return True
        limit_s = plan.session_limit_s
        if limit_s is not None and plan.session_limit_clock == "audio" and self._sent_frames >= limit_s * SAMPLE_RATE:
            await self._fault_close(wire.CLOSE_SERVER_ERROR, plan.session_limit_reason)
            return True
        return False

    async def _wall_limit(self, limit_s: float) -> None:
        await asyncio.sleep(limit_s)
        await self._fault_close(wire.CLOSE_SERVER_ERROR, self._plan.session_limit_reason)

    async def _fault_close(self, code: int, reason: str) -> None:
        """Close for a fault, after an ``{"error": …}`` message when the plan says so."""
        if self._plan.error_before_close:
            await self._send(wire.error_message(code, reason))
        await self._close(code, reason)

    async def _warn_loop(self, every_s: float) -> None:
        """The ``warn_every_s`` fault: a warning every ``every_s`` seconds, forever."""
        n = 0
        while True:
            await asyncio.sleep(every_s)
            n += 1
            await self._send(wire.warning_message(f"Still working on it ({n}) (serve fault injection)"))

    async def _idle_loop(self, idle_s: float) -> None:
        """Close a session that is not playing and hears nothing from the client for ``idle_s``."""
        while True:
            wait = self._last_client_s + idle_s - self._loop.time()
            if wait <= 0 and not self._playing.is_set():
                await self._close(CLOSE_IDLE, f"Session closed after {idle_s:g} s idle")
                return
            await asyncio.sleep(max(wait, idle_s / 4))
