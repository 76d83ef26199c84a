"""The schedule: a timeline resolved into control messages at exact sample positions.

Positions are frames at 48 kHz. *Piece* positions count from the first frame of the
finished piece (after the trimmed lead-in). *Stream* positions count from the first
frame the generator produces: ``stream = lead_in_frames + piece``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .controls import SAMPLE_RATE, GenerationConfig, WeightedPrompt

__all__ = ["ControlMessage", "EventTiming", "Schedule"]

MessageKind = Literal["prompts", "config", "reset"]


@dataclass(frozen=True, kw_only=True)
class ControlMessage:
    """One message a session must receive.

    ``prompts`` is the complete weighted set (kind ``prompts``); ``config`` is the
    complete config (kind ``config``); a ``reset`` carries neither. ``event`` is the
    index of the timeline event it comes from.
    """

    sample: int
    kind: MessageKind
    prompts: tuple[WeightedPrompt, ...] | None = None
    config: GenerationConfig | None = None
    event: int | None = None
    note: str = ""

    @property
    def at_s(self) -> float:
        return self.sample / SAMPLE_RATE


@dataclass(frozen=True, kw_only=True)
class EventTiming:
    """Where a timeline event lands: its piece sample, and its label as written."""

    index: int
    sample: int
    written: str
    bar_beat: str | None = None
    ramp_frames: int = 0


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """The resolved schedule of one timeline. Built by :func:`plan`."""

    duration_frames: int
    lead_in_frames: int
    tail_frames: int
    initial_prompts: tuple[WeightedPrompt, ...]
    initial_config: GenerationConfig
    messages: tuple[ControlMessage, ...]
    events: tuple[EventTiming, ...] = ()
    control_interval_frames: int = SAMPLE_RATE // 2
    sample_rate: int = SAMPLE_RATE
    warnings: tuple[str, ...] = field(default=())

    @property
    def total_frames(self) -> int:
        """Frames the generator must deliver: lead-in + piece + tail."""
        return self.lead_in_frames + self.duration_frames + self.tail_frames

    def stream_sample(self, piece_sample: int) -> int:
        return self.lead_in_frames + piece_sample

    def state_at(self, piece_sample: int) -> tuple[tuple[WeightedPrompt, ...], GenerationConfig, int]:
        """(prompts, config, resets so far) in force at ``piece_sample``.

        Messages at exactly ``piece_sample`` count as applied. Negative positions
        (inside the lead-in) give the initial state.
        """
        prompts, config, epoch = self.initial_prompts, self.initial_config, 0
        for msg in self.messages:
            if msg.sample > piece_sample:
                break
            if msg.kind == "prompts" and msg.prompts is not None:
                prompts = msg.prompts
            elif msg.kind == "config" and msg.config is not None:
                config = msg.config
            elif msg.kind == "reset":
                epoch += 1
        return prompts, config, epoch
