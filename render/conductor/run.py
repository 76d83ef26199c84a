"""One run of the conductor: the receive/dispatch loop, sessions, rotation, faults.

Internal to :mod:`render.conductor` (see :mod:`render.conductor.conductor` for the model). ``_Run.events``
is the async generator behind :meth:`render.conductor.Conductor.run`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

from render.audio import BYTES_PER_FRAME, SAMPLE_RATE
from render.backends.base import AudioChunk, ControlSpan, FilteredPrompt, ServerWarning
from render.errors import FilteredPromptError, ProtocolError, SpoolError, TransientBackendError
from render.spool import span_from_dict

from .events import (
    AudioProgress,
    ConductResult,
    EventEffective,
    Filtered,
    Finished,
    ProgressEvent,
    ServerWarned,
)
from .legs import QUEUE_CHUNKS, Leg, LegEnded, SpoolWriter, close_leg
from .options import Conducted
from .sessions import SessionOps
from .tracker import EventTracker

__all__: list[str] = []

_ASSUMED_LATENCY_FRAMES = 2 * SAMPLE_RATE  # one Lyria chunk


class _Run(SessionOps):
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
        self.attempts = 0  # consecutive failures without new audio
        self.progress_mark = self.spool.received_end  # received_end at the last failure
        self.received_formats: dict[str, dict[str, Any]] = {}
        self.pending_seams: dict[int, dict[str, Any]] = {}  # rotation seams, recorded when the old leg retires
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
        if not self.resume and self.spool.received_end > 0:
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
        deadlines = [leg.last_audio_wall + self.o.stall_timeout_s for leg in self.legs if leg.wants_audio()]
        cur = self.current
        if cur is not None and cur in self.legs and self.total - cur.end > self.overlap:
            deadlines.append(max(cur.opened_wall + self.o.session_limit_s, self.rotate_not_before))
        return max(0.0, min(deadlines, default=now + 1.0) - now) + 0.001

    async def _check_clock(self) -> AsyncIterator[ProgressEvent]:
        now = time.monotonic()
        for leg in list(self.legs):
            if leg in self.legs and leg.wants_audio() and now - leg.last_audio_wall >= self.o.stall_timeout_s:
                async for ev in self._on_failure(leg, self._stall_error(leg)):
                    yield ev
        if self.current is not None and self.current in self.legs and self._rotation_due(self.current):
            async for ev in self._rotate():
                yield ev

    def _stall_error(self, leg: Leg) -> TransientBackendError:
        if leg.filtered and leg.frames == 0:
            return TransientBackendError(
                f"session {leg.segment}: the service filtered every prompt ({'; '.join(leg.filtered)}) and sent "
                f"no audio for {self.o.stall_timeout_s:g} s", hint="reword the prompts if this persists")
        return TransientBackendError(f"session {leg.segment} stalled: no audio for {self.o.stall_timeout_s:g} s "
                                     f"at stream frame {leg.end}")

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
        leg.filtered.clear()
        self.chunks += 1
        self.latency = frames
        self._count_format(chunk)
        self.received_end = max(self.received_end, leg.end)
        found = [f for s in spans for f in self.tracker.observe(s)]
        found += self.tracker.estimate_due(leg.end, self.latency, spans_seen=bool(chunk.spans))
        for f in found:
            yield await self._event_effective(f)
        if self.received_end > self.progress_mark:  # new audio: the failure count starts again
            self.attempts, self.progress_mark = 0, self.received_end
        if leg is self.current:
            yield AudioProgress(received_frames=self.received_end, total_frames=self.total, session=leg.segment)
        if leg.end >= leg.stop_at:
            await self._retire(leg, "finished" if leg.stop_at >= self.total else "handed over")
        elif leg is self.current and self._rotation_due(leg):
            async for ev in self._rotate():
                yield ev

    def _count_format(self, chunk: AudioChunk) -> None:
        got = chunk.info.get("received") if chunk.info else None
        if not isinstance(got, dict):
            return
        key = f"{got.get('mime')}|{got.get('rate')}|{got.get('channels')}"
        entry = self.received_formats.setdefault(key, {**{k: got.get(k) for k in ("mime", "rate", "channels",
                                                                                   "converted")}, "chunks": 0})
        entry["chunks"] += 1

    def _global_spans(self, leg: Leg, chunk: AudioChunk, end: int) -> list[ControlSpan]:
        out = []
        for s in chunk.spans:
            start = leg.stream_start + s.start_sample
            if start < end:
                epoch = None if s.epoch is None else leg.base_epoch + s.epoch
                out.append(ControlSpan(start_sample=start, prompts=s.prompts, config=s.config, epoch=epoch,
                                       config_fields=s.config_fields))
        return out

    async def _event_effective(self, found: dict[str, Any]) -> EventEffective:
        await self.writer.submit(self.spool.record, "event", found)
        return EventEffective(index=found["index"], requested_sample=found["requested_sample"],
                              effective_sample=found["effective_sample"], estimated=found["estimated"])

    async def _on_filtered(self, leg: Leg, item: FilteredPrompt) -> Filtered:
        data = {"text": item.text, "reason": item.reason, "session": leg.segment, "at_frame": leg.end}
        leg.filtered.append(f"{item.text}: {item.reason or 'no reason given'}")
        self.filtered.append(data)
        await self.writer.submit(self.spool.record, "filtered", data)
        if self.o.strict:
            await self.writer.drain()
            raise FilteredPromptError(
                f"the service filtered the prompt {item.text!r} ({item.reason or 'no reason given'}) "
                f"at stream frame {leg.end}",
                hint="reword the prompt, or render without --strict to continue without it")
        return Filtered(**data)

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
            total_frames=self.total, received_frames=self.received_end, resumed=self.resume,
            received_formats=tuple(self.received_formats.values()))
