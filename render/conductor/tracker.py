"""Which sample each timeline event became effective at, from the spans the audio carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from render.backends.base import ControlSpan
from render.controls import GenerationConfig, WeightedPrompt
from render.schedule import ControlMessage, Schedule

__all__ = ["EventTracker"]


@dataclass(kw_only=True)
class _Pending:
    index: int
    requested: int
    msg: ControlMessage
    stream_frame: int
    pre_prompts: tuple[WeightedPrompt, ...]
    pre_config: GenerationConfig
    post_epoch: int
    sent_frame: int | None = None
    exact: bool = False


@dataclass(kw_only=True)
class EventTracker:
    """Finds the effective sample of every timeline event.

    An event is effective at the first span, starting at or after the position its first
    message was sent for, whose prompts (or config) equal the new ones or differ from
    those before it; for a reset, whose epoch reached the new count. Without such spans
    it is estimated: the send position plus one chunk of latency.
    """

    schedule: Schedule
    done: dict[int, dict[str, Any]] = field(default_factory=dict)
    pending: dict[int, _Pending] = field(default_factory=dict)
    by_message: dict[int, int] = field(default_factory=dict)

    @classmethod
    def build(cls, schedule: Schedule, done: Iterable[Mapping[str, Any]] = ()) -> "EventTracker":
        """Track ``schedule.events``, skipping those already in ``done`` (from a spool)."""
        tracker = cls(schedule=schedule, done={int(d["index"]): dict(d) for d in done})
        prompts, config, epoch = schedule.initial_prompts, schedule.initial_config, 0
        first: dict[int, tuple[int, ControlMessage, tuple, GenerationConfig, int]] = {}
        for j, msg in enumerate(schedule.messages):
            after = epoch + (1 if msg.kind == "reset" else 0)
            if msg.event is not None and msg.event not in first:
                first[msg.event] = (j, msg, prompts, config, after)
            if msg.kind == "prompts" and msg.prompts is not None:
                prompts = msg.prompts
            elif msg.kind == "config" and msg.config is not None:
                config = msg.config
            epoch = after
        for ev in schedule.events:
            if ev.index in tracker.done:
                continue
            if ev.index not in first:
                tracker.done[ev.index] = _result(ev.index, ev.sample, ev.sample, False, "no-change")
                continue
            j, msg, pre_p, pre_c, post_e = first[ev.index]
            tracker.pending[ev.index] = _Pending(
                index=ev.index, requested=ev.sample, msg=msg, stream_frame=schedule.stream_sample(msg.sample),
                pre_prompts=pre_p, pre_config=pre_c, post_epoch=post_e)
            tracker.by_message[j] = ev.index
        return tracker

    def note_sent(self, message_index: int, stream_frame: int, *, exact: bool) -> None:
        """Message ``message_index`` was sent to apply from ``stream_frame`` (exactly when ``exact``)."""
        event = self.by_message.get(message_index)
        if event is not None and event in self.pending:
            p = self.pending[event]
            if p.sent_frame is None or stream_frame < p.sent_frame:
                p.sent_frame, p.exact = stream_frame, exact

    def forget_sends(self) -> None:
        """Clear the send positions of pending events (after rescanning a spool)."""
        for p in self.pending.values():
            p.sent_frame, p.exact = None, False

    def observe(self, span: ControlSpan) -> list[dict[str, Any]]:
        """Check a span (stream frames, global epoch) against pending events; return the newly effective."""
        found = []
        for p in list(self.pending.values()):
            if p.sent_frame is None or span.start_sample < p.sent_frame or not _matches(p, span):
                continue
            found.append(self._finish(p, span.start_sample, estimated=False, basis="span"))
        return found

    def estimate_due(self, stream_end: int, latency_frames: int, *, final: bool = False) -> list[dict[str, Any]]:
        """Estimate events no span confirmed within four latencies of audio (all of them when ``final``)."""
        found = []
        for p in list(self.pending.values()):
            base = p.sent_frame if p.sent_frame is not None else p.stream_frame
            if final or (p.sent_frame is not None and stream_end >= base + 4 * latency_frames):
                effective = base if p.exact else base + latency_frames
                found.append(self._finish(p, effective, estimated=True, basis="estimate"))
        return found

    def _finish(self, p: _Pending, stream_frame: int, *, estimated: bool, basis: str) -> dict[str, Any]:
        del self.pending[p.index]
        piece = stream_frame - self.schedule.lead_in_frames
        self.done[p.index] = _result(p.index, p.requested, piece, estimated, basis)
        return self.done[p.index]

    def results(self) -> list[dict[str, Any]]:
        return [self.done[i] for i in sorted(self.done)]


def _result(index: int, requested: int, effective: int, estimated: bool, basis: str) -> dict[str, Any]:
    return {"index": index, "requested_sample": requested, "effective_sample": effective,
            "estimated": estimated, "basis": basis}


def _matches(p: _Pending, span: ControlSpan) -> bool:
    kind = p.msg.kind
    if kind == "prompts":
        return span.prompts is not None and (span.prompts == p.msg.prompts or span.prompts != p.pre_prompts)
    if kind == "config":
        return span.config is not None and (span.config == p.msg.config or span.config != p.pre_config)
    return span.epoch is not None and span.epoch >= p.post_epoch
