"""The offline backend and its session: Lyria's session protocol over the procedural engine.

Positions are frames at 48 kHz from the first frame of the session's stream. Generation
is lazy: each step of :meth:`OfflineSession.receive` renders the next chunk using every
change queued so far; a change at an ``at_sample`` not yet generated applies exactly at
that frame, anything else at the next frame not yet generated.
"""

from __future__ import annotations

import asyncio
import math
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import numpy as np

from render.audio import SAMPLE_RATE
from render.controls import GenerationConfig, WeightedPrompt

from ...errors import ProtocolError, UsageError
from ..base import AudioChunk, ControlSpan, ServerEvent

__all__ = ["OfflineBackend", "OfflineSession", "MODEL_NAME"]

MODEL_NAME = "lyria-render-procedural-1"


def _engine_version() -> str:
    from .engine import ENGINE_VERSION

    return ENGINE_VERSION


def to_pcm16(audio: np.ndarray) -> bytes:
    """(2, n) float audio in [-1, 1] -> interleaved 16-bit little-endian PCM bytes."""
    scaled = audio * np.float32(32767.0)
    np.clip(scaled, -32767.0, 32767.0, out=scaled)
    out = np.empty((audio.shape[1], 2), dtype="<i2")
    np.rint(scaled.T, out=out, casting="unsafe")
    return out.tobytes()


class OfflineSession:
    """A live session on the embedded procedural engine (implements ``Session``).

    Args:
        chunk_frames: frames per :class:`AudioChunk` (default 2 s, like Lyria).
    """

    def __init__(self, *, chunk_frames: int = 96_000, voices: Any = None) -> None:
        if chunk_frames <= 0:
            raise UsageError(f"chunk_frames={chunk_frames}: must be a positive number of frames", hint="use e.g. 96000 (2 s)")
        self.chunk_frames = int(chunk_frames)
        from .engine import Engine  # scipy-heavy: imported when a session opens, not to pick a backend

        self._engine = Engine(voices)
        self._next_frame = 0
        self._playing = False
        self._stopped = False
        self._closed = False
        self._wake = asyncio.Event()

    @property
    def supports_at_sample(self) -> bool:
        """Changes apply at exact frames."""
        return True

    @property
    def next_frame(self) -> int:
        """The first frame not yet generated."""
        return self._next_frame

    def _position(self, at_sample: int | None, what: str) -> int:
        if self._closed:
            raise ProtocolError(f"{what}: the session is closed", hint="open a new session with backend.connect()")
        if at_sample is None:
            return self._next_frame
        if isinstance(at_sample, bool) or not isinstance(at_sample, (int, np.integer)) or at_sample < 0:
            raise ProtocolError(f"{what}: at_sample={at_sample!r} must be a frame position >= 0 or None")
        return max(int(at_sample), self._next_frame)

    async def set_weighted_prompts(self, prompts: Sequence[WeightedPrompt], *, at_sample: int | None = None) -> None:
        """Replace the weighted prompts from ``at_sample`` on.

        Raises:
            ProtocolError: a weight is exactly 0 (the service refuses it) or not finite.
        """
        prompts = tuple(prompts)
        for i, p in enumerate(prompts):
            if not isinstance(p, WeightedPrompt):
                raise ProtocolError(f"prompts[{i}]={p!r}: expected a WeightedPrompt")
            if p.weight == 0:
                raise ProtocolError(f"prompts[{i}] {p.text!r}: weight 0 is refused (as by Lyria RealTime)", hint="remove the prompt or give it a non-zero weight")
            if not math.isfinite(p.weight):
                raise ProtocolError(f"prompts[{i}] {p.text!r}: weight {p.weight!r} is not a finite number")
        self._engine.schedule(self._position(at_sample, "set_weighted_prompts"), "prompts", prompts)

    async def set_music_generation_config(self, config: GenerationConfig, *, at_sample: int | None = None) -> None:
        """Replace the whole config from ``at_sample`` on (bpm/scale wait for a reset)."""
        if not isinstance(config, GenerationConfig):
            raise ProtocolError(f"config={config!r}: expected a GenerationConfig")
        self._engine.schedule(self._position(at_sample, "set_music_generation_config"), "config", config)

    async def reset_context(self, *, at_sample: int | None = None) -> None:
        """Start a fresh context (new phrase, current bpm and scale) at ``at_sample``."""
        self._engine.schedule(self._position(at_sample, "reset_context"), "reset")

    async def play(self) -> None:
        """Start or resume generation; after :meth:`stop`, start a fresh context."""
        if self._stopped:
            self._engine.schedule(self._position(None, "play"), "reset")
            self._stopped = False
        self._playing = True
        self._wake.set()

    async def pause(self) -> None:
        """Hold generation; :meth:`receive` waits until :meth:`play`."""
        self._playing = False
        self._wake.clear()

    async def stop(self) -> None:
        """Stop generation; the next :meth:`play` starts a fresh context."""
        self._playing = False
        self._stopped = self._next_frame > 0  # nothing generated yet: the context is already fresh
        self._wake.clear()

    async def close(self) -> None:
        """End the session; :meth:`receive` finishes."""
        self._closed = True
        self._wake.set()

    def render_chunk(self) -> AudioChunk:
        """Render the next chunk now (what :meth:`receive` does for each step)."""
        start = self._next_frame
        rendered = self._engine.render(start, self.chunk_frames)
        pcm = to_pcm16(rendered.audio)
        spans = tuple(ControlSpan(start_sample=s, prompts=p, config=c, epoch=e) for s, p, c, e in rendered.spans)
        self._next_frame = start + self.chunk_frames
        return AudioChunk(pcm=pcm, start_sample=start, spans=spans, info=rendered.info)

    async def receive(self) -> AsyncIterator[ServerEvent]:
        """Yield audio chunks while playing; wait while paused; end on :meth:`close`."""
        while not self._closed:
            if not self._playing:
                await self._wake.wait()
                continue
            chunk = self.render_chunk()
            yield chunk
            await asyncio.sleep(0)


class OfflineBackend:
    """The embedded procedural engine as a backend (no network, no model weights).

    Args:
        chunk_frames: frames per chunk its sessions deliver (default 96 000 = 2 s).
        soundfont: a SoundFont bank to play the instruments through (loaded and checked here).
    """

    name = "offline"
    model = MODEL_NAME

    def __init__(self, chunk_frames: int = 96_000, soundfont: str | Path | None = None) -> None:
        if chunk_frames <= 0:
            raise UsageError(f"chunk_frames={chunk_frames}: must be a positive number of frames", hint="use e.g. 96000 (2 s)")
        self.chunk_frames = int(chunk_frames)
        self.voices = None
        if soundfont is not None:  # SoundFont hook: bad banks fail here (exit 2), before any rendering
            from .bank_voices import open_voices

            self.voices = open_voices(soundfont)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[OfflineSession]:
        """Open a session; it is closed on exit."""
        session = OfflineSession(chunk_frames=self.chunk_frames, voices=self.voices)
        try:
            yield session
        finally:
            await session.close()

    def describe(self) -> dict[str, Any]:
        """What goes into a render manifest."""
        return {
            "backend": self.name,
            "model": self.model,
            "engine": "procedural (not neural): rule-based composition and synthesis in numpy",
            "version": _engine_version(),
            "sample_rate": SAMPLE_RATE,
            "chunk_frames": self.chunk_frames,
            **({"soundfont": self.voices.describe()} if self.voices is not None else {}),
        }
