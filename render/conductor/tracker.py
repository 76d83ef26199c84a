"""Which sample each timeline event became effective at, from the spans the audio carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from render.backends.base import ControlSpan
from render.controls import GenerationConfig, WeightedPrompt, normalised_weights
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
    targets: list[Any] = field(default_factory=list)  # the states the event's own messages produce
    sent_frame: int | None = None
    exact: bool = False


@dataclass(kw_only=True)
class EventTracker:
    """Finds the effective sample of every timeline event.

    An event is confirmed at the first span, starting at or after the position its first
    message was sent for, whose prompts (or config) equal a state the event's own messages
    produce (any step of a ramp) and not the state before it; only the fields the span
    reports are compared, prompts by normalised weight. For a reset, the span's epoch
    must reach the new count. An event no span confirms is estimated: the send position
    plus one chunk of latency, or "not applied" when the render ended before that.
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
        produced: dict[int, list[Any]] = {}
        for j, msg in enumerate(schedule.messages):
            after = epoch + (1 if msg.kind == "reset" else 0)
            if msg.event is not None and msg.event not in first:
                first[msg.event] = (j, msg, prompts, config, after)
            if msg.kind == "prompts" and msg.prompts is not None:
                prompts = msg.prompts
            elif msg.kind == "config" and msg.config is not None:
                config = msg.config
            epoch = after
            if msg.event is not None and msg.kind == first[msg.event][1].kind:
                produced.setdefault(msg.event, []).append(prompts if msg.kind == "prompts" else config)
        for ev in schedule.events:
            if ev.index in tracker.done:
                continue
            if ev.index not in first:
                tracker.done[ev.index] = _result(ev.index, ev.sample, ev.sample, False, "no-change")
                continue
            j, msg, pre_p, pre_c, post_e = first[ev.index]
            tracker.pending[ev.index] = _Pending(
                index=ev.index, requested=ev.sample, msg=msg, stream_frame=schedule.stream_sample(msg.sample),
                pre_prompts=pre_p, pre_config=pre_c, post_epoch=post_e, targets=produced.get(ev.index, []))
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

    def estimate_due(self, stream_end: int, latency_frames: int, *, final: bool = False,
                     spans_seen: bool = False) -> list[dict[str, Any]]:
        """Estimate events no span confirmed within four latencies of audio (all of them when ``final``).

        ``spans_seen``: the audio carries spans, so an event may still be confirmed later;
        then only ``final`` estimates. An estimate at or past ``stream_end`` (when ``final``)
        is recorded as not applied.
        """
        found = []
        for p in list(self.pending.values()):
            base = p.sent_frame if p.sent_frame is not None else p.stream_frame
            due = p.sent_frame is not None and stream_end >= base + 4 * latency_frames and not spans_seen
            if final or due:
                effective = base if p.exact else base + latency_frames
                if final and effective >= stream_end and not p.exact:
                    found.append(self._finish(p, None, estimated=True, basis="not-applied"))
                else:
                    found.append(self._finish(p, effective, estimated=True, basis="estimate"))
        return found

    def _finish(self, p: _Pending, stream_frame: int | None, *, estimated: bool, basis: str) -> dict[str, Any]:
        del self.pending[p.index]
        piece = None if stream_frame is None else stream_frame - self.schedule.lead_in_frames
        self.done[p.index] = _result(p.index, p.requested, piece, estimated, basis)
        return self.done[p.index]

    def results(self) -> list[dict[str, Any]]:
        return [self.done[i] for i in sorted(self.done)]


def _result(index: int, requested: int, effective: int | None, estimated: bool, basis: str) -> dict[str, Any]:
    out = {"index": index, "requested_sample": requested, "effective_sample": effective,
           "estimated": estimated, "basis": basis}
    if effective is None:
        out["applied"] = False
    return out


def _matches(p: _Pending, span: ControlSpan) -> bool:
    kind = p.msg.kind
    if kind == "prompts":
        return (span.prompts is not None and not _same_prompts(span.prompts, p.pre_prompts)
                and any(_same_prompts(span.prompts, t) for t in p.targets))
    if kind == "config":
        fields = span.config_fields
        return (span.config is not None and not _same_config(span.config, p.pre_config, fields)
                and any(_same_config(span.config, t, fields) for t in p.targets))
    return span.epoch is not None and span.epoch >= p.post_epoch


def _same_prompts(a: Sequence[WeightedPrompt], b: Sequence[WeightedPrompt], tol: float = 1e-3) -> bool:
    """Equal as ``{text: normalised weight}`` (the service normalises weights)."""
    def table(prompts: Sequence[WeightedPrompt]) -> dict[str, float]:
        out: dict[str, float] = {}
        for p, w in zip(prompts, normalised_weights(prompts)):
            out[p.text] = out.get(p.text, 0.0) + w
        return out

    ta, tb = table(a), table(b)
    return ta.keys() == tb.keys() and all(abs(ta[k] - tb[k]) <= tol for k in ta)


def _same_config(a: GenerationConfig, b: GenerationConfig, fields: frozenset[str] | None) -> bool:
    """Equal in ``fields`` (all when None); floats within 1e-6."""
    for name in fields if fields is not None else GenerationConfig.field_names():
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, float) and isinstance(y, (int, float)) and not isinstance(y, bool):
            if abs(x - y) > 1e-6:
                return False
        elif x != y:
            return False
    return True
