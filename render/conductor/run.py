"""One run of the conductor: the receive/dispatch loop, sessions, rotation, faults.

Internal to :mod:`render.conductor` (see :mod:`render.conductor.conductor` for the model). ``_Run.events``
is the async generator behind :meth:`render.conductor.Conductor.run`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable

from render.audio import BYTES_PER_FRAME, SAMPLE_RATE
from render.backends.base import AudioChunk, ControlSpan, FilteredPrompt, ServerWarning
from render.errors import FilteredPromptError, ProtocolError, SpoolError, TransientBackendError
from render.schedule import ControlMessage
from render.spool import span_from_dict

from .events import (
    AudioProgress,
    ConductResult,
    EventEffective,
    Filtered,
    Finished,
    ProgressEvent,
    Reconnecting,
    Rotated,
    ServerWarned,
    SessionStarted,
)
from .legs import QUEUE_CHUNKS, Leg, LegEnded, SpoolWriter, close_leg, open_session, pump
from .options import Conducted
from .tracker import EventTracker

__all__: list[str] = []

_ASSUMED_LATENCY_FRAMES = 2 * SAMPLE_RATE  # one Lyria chunk


class _Run:
    """The state of one :meth:`Conductor.run`."""

    def __init__(self, c: Conducted, resume: bool) -> None:
        self.c, self.o, self.sched, self.spool = c, c.options, c.schedule, c.spool
        self.resume = resume
        self.total = self.sched.total_frames
        self.overlap = round(self.o.overlap_s * SAMPLE_RATE)
        self.limit = round(self.o.session_limit_s * SAMPLE_RATE)
        self.lead = round(self.o.control_lead_s * SAMPLE_RATE)
        self.inbox: asyncio.Queue[tuple[Leg, Any]] = asyncio.Queue(QUEUE_CHUNKS)
        self.writer = SpoolWriter()
        self.legs: list[Leg] = []
        self.current: Leg | None = None
        self.attempts = 0
        self.rotate_not_before = 0.0
        self.received_end = self.spool.received_end
        self.latency = _ASSUMED_LATENCY_FRAMES
        self.chunks = 0
        self.sessions: list[dict[str, Any]] = []
        self.seams: list[dict[str, Any]] = []
        self.filtered: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []
        self.positions = [self.sched.stream_sample(m.sample) for m in self.sched.messages]
        self.tracker = EventTracker.build(self.sched, self.spool.records("event"))
        self.getter: asyncio.Task[tuple[Leg, Any]] | None = None
        self.result: ConductResult | None = None

    # ----------------------------------------------------------------- main loop
    async def events(self) -> AsyncIterator[ProgressEvent]:
        t0 = time.monotonic()
        self._check_spool()
        self.writer.start()
        try:
            if self.received_end < self.total:
                if self.resume:
                    self._rescan_spool()
                start = self._rejoin_start() if self.resume else 0
                async for ev in self._open_or_retry(start, "resume" if self.resume else "start"):
                    yield ev
                while self.legs:
                    async for ev in self._step():
                        yield ev
            for ev in self.tracker.estimate_due(self.received_end, self.latency, final=True):
                yield await self._event_effective(ev)
            await self.writer.drain()
            self.result = self._make_result(time.monotonic() - t0)
            yield Finished(received_frames=self.received_end, total_frames=self.total, wall_s=self.result.wall_s)
        finally:
            await self._shutdown()

    def _check_spool(self) -> None:
        if not self.resume and self.spool.all_segments():
            raise SpoolError(f"spool {self.spool.path} already holds audio up to frame {self.received_end}",
                             hint="pass resume=True (--resume) to continue it, or create a fresh spool")

    def _rescan_spool(self) -> None:
        """Resolve events whose span reached the spool before a crash but whose record did not."""
        if not self.tracker.pending:
            return
        for j, q in enumerate(self.positions):
            self.tracker.note_sent(j, q - self.lead, exact=False)
        for chunk in self.spool.iter_chunks():
            for span in chunk.spans:
                for found in self.tracker.observe(span_from_dict(span)):
                    self.spool.record("event", found)
        self.tracker.forget_sends()

    async def _step(self) -> AsyncIterator[ProgressEvent]:
        if self.getter is None:
            self.getter = asyncio.ensure_future(self.inbox.get())
        done, _ = await asyncio.wait({self.getter}, timeout=self._timeout())
        if not done:
            async for ev in self._check_clock():
                yield ev
            return
        leg, item = self.getter.result()
        self.getter = None
        if leg not in self.legs:
            return  # left over from a session already closed
        if isinstance(item, AudioChunk):
            async for ev in self._on_chunk(leg, item):
                yield ev
        elif isinstance(item, LegEnded):
            error = item.error or TransientBackendError(
                f"session {leg.segment} ended early at stream frame {leg.end}")
            async for ev in self._on_failure(leg, error):
                yield ev
        elif isinstance(item, FilteredPrompt):
            yield await self._on_filtered(leg, item)
        elif isinstance(item, ServerWarning):
            data = {"message": item.message, "session": leg.segment, "at_frame": leg.end}
            self.warnings.append(data)
            await self.writer.submit(self.spool.record, "warning", data)
            yield ServerWarned(**data)

    def _timeout(self) -> float:
        now = time.monotonic()
        deadlines = [leg.last_event_wall + self.o.stall_timeout_s for leg in self.legs if leg.wants_audio()]
        cur = self.current
        if cur is not None and cur in self.legs and self.total - cur.end > self.overlap:
            deadlines.append(max(cur.opened_wall + self.o.session_limit_s, self.rotate_not_before))
        return max(0.0, min(deadlines, default=now + 1.0) - now) + 0.001

    async def _check_clock(self) -> AsyncIterator[ProgressEvent]:
        now = time.monotonic()
        for leg in list(self.legs):
            if leg in self.legs and leg.wants_audio() and now - leg.last_event_wall >= self.o.stall_timeout_s:
                stall = TransientBackendError(
                    f"session {leg.segment} stalled: no message for {self.o.stall_timeout_s:g} s "
                    f"at stream frame {leg.end}")
                async for ev in self._on_failure(leg, stall):
                    yield ev
        if self.current is not None and self.current in self.legs and self._rotation_due(self.current):
            async for ev in self._rotate():
                yield ev

    # ----------------------------------------------------------------- audio
    async def _on_chunk(self, leg: Leg, chunk: AudioChunk) -> AsyncIterator[ProgressEvent]:
        if len(chunk.pcm) % 4:
            raise ProtocolError(f"session {leg.segment} sent a chunk of {len(chunk.pcm)} bytes, "
                                "not whole 16-bit stereo frames")
        start, frames = leg.end, len(chunk.pcm) // BYTES_PER_FRAME
        keep = min(frames, leg.stop_at - start)
        if keep <= 0:
            return
        spans = self._global_spans(leg, chunk, start + keep)
        pcm = chunk.pcm if keep == frames else chunk.pcm[: keep * BYTES_PER_FRAME]
        await self.writer.submit(self.spool.append, pcm, start, spans, dict(chunk.info),
                                 segment=leg.segment)
        leg.frames += keep
        self.chunks += 1
        self.latency = frames
        self.received_end = max(self.received_end, leg.end)
        found = [f for s in spans for f in self.tracker.observe(s)]
        found += self.tracker.estimate_due(leg.end, self.latency)
        for f in found:
            yield await self._event_effective(f)
        if not leg.healthy and leg.frames >= self.o.healthy_after_s * SAMPLE_RATE:
            leg.healthy, self.attempts = True, 0
        if leg is self.current:
            yield AudioProgress(received_frames=self.received_end, total_frames=self.total, session=leg.segment)
        if leg.end >= leg.stop_at:
            await self._retire(leg, "finished" if leg.stop_at >= self.total else "handed over")
        elif leg is self.current and self._rotation_due(leg):
            async for ev in self._rotate():
                yield ev

    def _global_spans(self, leg: Leg, chunk: AudioChunk, end: int) -> list[ControlSpan]:
        out = []
        for s in chunk.spans:
            start = leg.stream_start + s.start_sample
            if start < end:
                epoch = None if s.epoch is None else leg.base_epoch + s.epoch
                out.append(ControlSpan(start_sample=start, prompts=s.prompts, config=s.config, epoch=epoch))
        return out

    async def _event_effective(self, found: dict[str, Any]) -> EventEffective:
        await self.writer.submit(self.spool.record, "event", found)
        return EventEffective(index=found["index"], requested_sample=found["requested_sample"],
                              effective_sample=found["effective_sample"], estimated=found["estimated"])

    async def _on_filtered(self, leg: Leg, item: FilteredPrompt) -> Filtered:
        data = {"text": item.text, "reason": item.reason, "session": leg.segment, "at_frame": leg.end}
        self.filtered.append(data)
        await self.writer.submit(self.spool.record, "filtered", data)
        if self.o.strict:
            await self.writer.drain()
            raise FilteredPromptError(
                f"the service filtered the prompt {item.text!r} ({item.reason or 'no reason given'}) "
                f"at stream frame {leg.end}",
                hint="reword the prompt, or render without --strict to continue without it")
        return Filtered(**data)

    # ----------------------------------------------------------------- sessions
    async def _open_or_retry(self, start: int, reason: str) -> AsyncIterator[ProgressEvent]:
        """Open a session at ``start``; on transient failures back off and retry (reconnect)."""
        try:
            async for ev in self._open_leg(lambda: start, reason):
                yield ev
            return
        except TransientBackendError as exc:
            failure = str(exc)
        async for ev in self._reconnect(failure, reason):
            yield ev

    async def _reconnect(self, reason: str, first: str | None = None) -> AsyncIterator[ProgressEvent]:
        """Back off, then open a session at ``received_end - overlap``; ``first`` keeps a start/resume reason."""
        while True:
            delay = self._next_attempt(reason)
            yield Reconnecting(attempt=self.attempts, delay_s=delay, reason=reason)
            await asyncio.sleep(delay)
            start = self._rejoin_start()
            try:
                async for ev in self._open_leg(lambda: start, first or "reconnect"):
                    yield ev
                return
            except TransientBackendError as exc:
                reason = str(exc)

    def _rejoin_start(self) -> int:
        """Where a replacement session starts: ``overlap`` before the received end, but never
        before the middle of the last segment, so the audio of a short leg is kept (joined
        at a seam) rather than wholly replaced."""
        floor = 0
        filled = [seg for seg in self.spool.all_segments() if seg.frames]
        if filled:
            last = max(filled, key=lambda seg: seg.end)
            floor = last.start + last.frames // 2
        return max(0, floor, self.received_end - self.overlap)

    def _next_attempt(self, reason: str) -> float:
        self.attempts += 1
        if self.attempts > self.o.max_reconnects:
            done_s, total_s = self.received_end / SAMPLE_RATE, self.total / SAMPLE_RATE
            raise TransientBackendError(
                f"gave up after {self.o.max_reconnects} reconnect attempts; last failure: {reason}",
                hint=(f"the {done_s:.1f} s of {total_s:.1f} s received so far are kept in the spool "
                      f"{self.spool.path}; run the same command again with --resume to continue from there"))
        cap = min(self.o.backoff_max_s, self.o.backoff_base_s * 2 ** (self.attempts - 1))
        return self.c.rng.uniform(0.0, cap)

    async def _open_leg(self, start_of: Callable[[], int], reason: str) -> AsyncIterator[ProgressEvent]:
        """Connect, send the state at the start position and queue/schedule messages, play."""
        holding = self.o.gate_timeout_s if self.legs else None
        session, stack = await open_session(self.c.backend, self.c.session_gate, self.o.stall_timeout_s, holding)
        segments = self.spool.all_segments()
        previous = self.current.segment if self.current else (segments[-1].id if segments else None)
        try:
            start = start_of()
            prompts, config, epoch = self.sched.state_at(start - self.sched.lead_in_frames)
            at = bool(session.supports_at_sample)
            await session.set_weighted_prompts(prompts)
            await session.set_music_generation_config(config)
            future = [(j, m, q) for j, (m, q) in enumerate(zip(self.sched.messages, self.positions)) if q > start]
            for j, q in enumerate(self.positions):
                if q <= start:  # in the state just sent: applies from the start
                    self.tracker.note_sent(j, start, exact=at)
            if at:
                for j, m, q in future:
                    await _send(session, m, q - start)
                    self.tracker.note_sent(j, q, exact=True)
            await session.play()
            segment = await self.writer.call(self.spool.begin_segment, start, reason)
        except BaseException:
            await stack.aclose()
            raise
        leg = Leg(segment=segment, reason=reason, stream_start=start, base_epoch=epoch, session=session,
                  stack=stack, at_sample=at, stop_at=self.total)
        leg.pending.extend([] if at else future)
        self.legs.append(leg)
        self.current = leg
        leg.task = asyncio.create_task(pump(leg, self.inbox, self._send_due))
        yield SessionStarted(session=segment, start_frame=start, reason=reason)
        if reason != "start" and (reason != "resume" or self.received_end > 0):
            seam = {"reason": reason, "session": segment, "previous_session": previous, "at_frame": start,
                    "overlap_frames": max(0, self.received_end - start)}
            if reason == "rotation":
                seam["overlap_frames"] = min(self.overlap, self.total - start)
            self.seams.append(seam)
            await self.writer.submit(self.spool.record, "seam", seam)

    async def _send_due(self, leg: Leg) -> None:
        """For a backend without ``at_sample``: send what the audio received has reached.

        Runs in the leg's pump right after each chunk arrives (and once at the start).
        """
        while leg.pending and leg.pending[0][2] - self.lead <= leg.received_end:
            j, msg, _ = leg.pending.popleft()
            await _send(leg.session, msg, None)
            self.tracker.note_sent(j, leg.received_end, exact=False)

    def _rotation_due(self, leg: Leg) -> bool:
        aged = time.monotonic() - leg.opened_wall >= self.o.session_limit_s
        return ((leg.frames >= self.limit or aged) and self.total - leg.end > self.overlap
                and time.monotonic() >= self.rotate_not_before)

    async def _rotate(self) -> AsyncIterator[ProgressEvent]:
        old = self.current
        assert old is not None
        try:
            async for ev in self._open_leg(lambda: old.end, "rotation"):
                yield ev
        except TransientBackendError as exc:  # the old session streams on; try again after a backoff
            delay = self._next_attempt(f"rotation failed: {exc}")
            self.rotate_not_before = time.monotonic() + delay
            yield Reconnecting(attempt=self.attempts, delay_s=delay, reason=f"rotation failed: {exc}")
            return
        new = self.current
        assert new is not None
        old.set_stop(min(self.total, new.stream_start + self.overlap))
        yield Rotated(from_session=old.segment, to_session=new.segment, at_frame=new.stream_start,
                      overlap_frames=old.stop_at - new.stream_start)
        if old.end >= old.stop_at:
            await self._retire(old, "handed over")

    async def _on_failure(self, leg: Leg, error: BaseException) -> AsyncIterator[ProgressEvent]:
        """Close a failed session; replace it unless another session carries the stream."""
        if not isinstance(error, TransientBackendError):
            raise error
        await self._retire(leg, f"failed: {error}")
        if leg is not self.current:
            return  # an old session died during its handover: the new one carries on
        if self.legs:  # the new session died during a handover: the old one carries on, rotation retried
            old = self.legs[-1]
            old.set_stop(self.total)
            self.current = old
            delay = self._next_attempt(str(error))
            self.rotate_not_before = time.monotonic() + delay
            yield Reconnecting(attempt=self.attempts, delay_s=delay, reason=str(error))
            return
        async for ev in self._reconnect(str(error)):
            yield ev

    async def _retire(self, leg: Leg, ended: str) -> None:
        if leg not in self.legs:
            return
        self.legs.remove(leg)
        errors = await close_leg(leg, stop=not ended.startswith("failed"))
        info = {"index": leg.segment, "start_frame": leg.stream_start, "frames": leg.frames,
                "reason": leg.reason, "ended": ended}
        if errors:
            info["close_errors"] = errors
        self.sessions.append(info)
        await self.writer.submit(self.spool.record, "session", info)

    async def _shutdown(self) -> None:
        """Close every session and flush the writer; best effort, never masks the error in flight."""
        if self.getter is not None:
            self.getter.cancel()
        for leg in list(self.legs):
            try:
                await self._retire(leg, "aborted")
            except Exception:  # noqa: BLE001 - e.g. the spool writer already failed
                await close_leg(leg)
        await self.writer.close()

    def _make_result(self, wall_s: float) -> ConductResult:
        recorded = {s["index"]: s for s in self.spool.records("session")}
        killed = [{"index": s.id, "start_frame": s.start, "frames": s.frames, "reason": s.reason,
                   "ended": "interrupted"} for s in self.spool.all_segments() if s.id not in recorded]
        return ConductResult(
            segments=tuple(self.spool.segments()), events=tuple(self.tracker.results()),
            sessions=tuple(sorted([*recorded.values(), *killed], key=lambda s: s["index"])),
            seams=tuple(self.spool.records("seam")), filtered=tuple(self.spool.records("filtered")),
            warnings=tuple(self.spool.records("warning")), chunks=self.chunks, wall_s=wall_s,
            total_frames=self.total, received_frames=self.received_end, resumed=self.resume)


async def _send(session: Any, msg: ControlMessage, at_sample: int | None) -> None:
    kwargs = {} if at_sample is None else {"at_sample": at_sample}
    if msg.kind == "prompts" and msg.prompts is not None:
        await session.set_weighted_prompts(msg.prompts, **kwargs)
    elif msg.kind == "config" and msg.config is not None:
        await session.set_music_generation_config(msg.config, **kwargs)
    elif msg.kind == "reset":
        await session.reset_context(**kwargs)
