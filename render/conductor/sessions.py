"""Opening, rotating, replacing and retiring the sessions of one conductor run.

:class:`SessionOps` is a mixin of :class:`render.conductor.run._Run` (it uses that
class's state); kept apart so each module stays small.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable

from render.audio import SAMPLE_RATE
from render.errors import BackendError, TransientBackendError
from render.schedule import ControlMessage

from .events import ProgressEvent, Reconnecting, Rotated, SessionStarted
from .legs import Leg, close_leg, open_session, pump

__all__ = ["SessionOps"]


class SessionOps:
    """Session handling for :class:`render.conductor.run._Run`."""

    c: Any
    o: Any

    async def _open_or_retry(self, start: int, reason: str) -> AsyncIterator[ProgressEvent]:
        """Open a session at ``start``; on transient failures back off and retry (reconnect)."""
        try:
            async for ev in self._open_leg(lambda: start, reason):
                yield ev
            return
        except TransientBackendError as exc:
            failure = str(exc)
        except BackendError as exc:
            raise self._keeping(exc) from None
        async for ev in self._reconnect(failure, reason):
            yield ev

    def _keeping(self, exc: BackendError) -> BackendError:
        """``exc`` (a refusal) with a hint saying how much audio the spool keeps and how to resume."""
        if self.received_end <= 0:
            return exc
        done_s, total_s = self.received_end / SAMPLE_RATE, self.total / SAMPLE_RATE
        kept = (f"the {done_s:.1f} s of {total_s:.1f} s received are kept in the spool {self.spool.path}; "
                "fix it, then run the same command with --resume")
        return type(exc)(exc.message, hint=f"{exc.hint}; {kept}" if exc.hint else kept)

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
            except BackendError as exc:  # e.g. a 1008 refusal while reconnecting
                raise self._keeping(exc) from None

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
        """Count a failure (the count restarts whenever new audio arrives) and pick the backoff."""
        self.attempts += 1
        if self.attempts > self.o.max_reconnects:
            done_s, total_s = self.received_end / SAMPLE_RATE, self.total / SAMPLE_RATE
            raise TransientBackendError(
                f"gave up after {self.o.max_reconnects} consecutive failures without new audio; "
                f"last failure: {reason}",
                hint=(f"the {done_s:.1f} s of {total_s:.1f} s received so far are kept in the spool "
                      f"{self.spool.path}; run the same command again with --resume to continue from there"))
        cap = min(self.o.backoff_max_s, self.o.backoff_base_s * 2 ** (self.attempts - 1))
        delay = self.c.rng.uniform(0.0, cap)
        if "filtered every prompt" in reason:  # the service filters sessions started too soon after another
            delay = max(delay, self.o.filtered_backoff_s)
        return delay

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
            if reason == "rotation" and previous is not None:  # the overlap is known once the old leg retires
                self.pending_seams[previous] = seam
                return
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
            raise self._keeping(error) if isinstance(error, BackendError) else error
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
        seam = self.pending_seams.pop(leg.segment, None)
        if seam is not None:  # the overlap the old session really delivered (it may have died early)
            seam["overlap_frames"] = max(0, min(leg.end, leg.stop_at) - seam["at_frame"])
            self.seams.append(seam)
            await self.writer.submit(self.spool.record, "seam", seam)


async def _send(session: Any, msg: ControlMessage, at_sample: int | None) -> None:
    kwargs = {} if at_sample is None else {"at_sample": at_sample}
    if msg.kind == "prompts" and msg.prompts is not None:
        await session.set_weighted_prompts(msg.prompts, **kwargs)
    elif msg.kind == "config" and msg.config is not None:
        await session.set_music_generation_config(msg.config, **kwargs)
    elif msg.kind == "reset":
        await session.reset_context(**kwargs)
