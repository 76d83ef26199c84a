"""The session protocol every backend implements.

It mirrors Lyria RealTime's ``AsyncMusicSession`` so that nothing above the backends
knows which generator it talks to:

    async with backend.connect() as session:
        await session.set_weighted_prompts([...])
        await session.set_music_generation_config(config)
        await session.play()
        async for event in session.receive():
            if isinstance(event, AudioChunk): ...

Positions (``start_sample``, ``at_sample``) count frames at 48 kHz from the first
audio frame of *this session's* stream. A backend that can apply a change at an exact
frame (``supports_at_sample``) honours ``at_sample``; others apply changes as soon as
they can and ignore it.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping, Protocol, Sequence, runtime_checkable

from render.audio import CHANNELS, SAMPLE_RATE
from render.controls import GenerationConfig, WeightedPrompt

__all__ = [
    "ControlSpan",
    "AudioChunk",
    "FilteredPrompt",
    "ServerWarning",
    "ServerEvent",
    "Session",
    "Backend",
]

@dataclass(frozen=True, kw_only=True)
class ControlSpan:
    """The controls in force from ``start_sample`` (stream position) onward.

    ``epoch`` counts context resets (0 before the first); ``None`` when the backend
    cannot tell. ``prompts``/``config`` are ``None`` when the backend did not say
    (Lyria's ``sourceMetadata`` is optional). ``config_fields`` names the config fields
    the backend actually reported (``None``: all of them); the others hold defaults.
    """

    start_sample: int
    prompts: tuple[WeightedPrompt, ...] | None = None
    config: GenerationConfig | None = None
    epoch: int | None = None
    config_fields: frozenset[str] | None = None


@dataclass(frozen=True, kw_only=True)
class AudioChunk:
    """One chunk of 48 kHz stereo 16-bit little-endian interleaved PCM.

    ``spans`` describe what the chunk was generated from (like ``sourceMetadata``);
    an offline chunk that contains a sample-exact change has two or more spans.
    ``info`` holds backend extras, e.g. ``{"unmatched_words": [...]}`` offline.
    """

    pcm: bytes
    start_sample: int
    spans: tuple[ControlSpan, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)
    sample_rate: int = SAMPLE_RATE
    channels: int = CHANNELS

    @property
    def frames(self) -> int:
        return len(self.pcm) // (2 * self.channels)

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.frames


@dataclass(frozen=True, kw_only=True)
class FilteredPrompt:
    """The service ignored a prompt (``filteredPrompt`` on the wire)."""

    text: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ServerWarning:
    """A warning from the server (or an all-empty message the SDK could not parse)."""

    message: str


ServerEvent = AudioChunk | FilteredPrompt | ServerWarning


@runtime_checkable
class Session(Protocol):
    """A live generation session (see module docstring)."""

    @property
    def supports_at_sample(self) -> bool: ...

    async def set_weighted_prompts(
        self, prompts: Sequence[WeightedPrompt], *, at_sample: int | None = None
    ) -> None: ...

    async def set_music_generation_config(
        self, config: GenerationConfig, *, at_sample: int | None = None
    ) -> None: ...

    async def play(self) -> None: ...

    async def pause(self) -> None: ...

    async def stop(self) -> None: ...

    async def reset_context(self, *, at_sample: int | None = None) -> None: ...

    def receive(self) -> AsyncIterator[ServerEvent]: ...

    async def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """A factory of sessions. ``name`` is ``"offline"`` or ``"lyria"``; ``model`` names the generator."""

    name: str
    model: str

    def connect(self) -> AbstractAsyncContextManager[Session]: ...

    def describe(self) -> dict[str, Any]:
        """What goes into the manifest (never secrets)."""
        ...
