"""Tests for render.conductor: audio-timed control, rotation, faults, resume, memory."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers.conductor import (  # noqa: E402
    FakeBackend,
    Fault,
    FaultyBackend,
    P,
    long_schedule,
    make_schedule,
    make_spool,
    offline_backend,
)

from render.conductor.conductor import Conductor, ConductorOptions
from render.conductor.events import (
    EventEffective,
    Filtered,
    Finished,
    Reconnecting,
    Rotated,
    ServerWarned,
    SessionStarted,
)
from render.conductor.legs import QUEUE_CHUNKS
from render.controls import GenerationConfig  # noqa: E402
from render.errors import AuthError, FilteredPromptError, SpoolError, TransientBackendError  # noqa: E402
from render.spool.store import Spool

CHILD = Path(__file__).parent / "helpers" / "spool_child.py"
CHANGES = [(1.0, "prompts", P("Sitar", "Organ")), (2.0, "config", GenerationConfig(bpm=100, seed=7, density=0.2)),
           (2.5, "reset", None)]
FAST = dict(backoff_base_s=0.001, backoff_max_s=0.01)


def conduct(conductor: Conductor, *, resume: bool = False) -> list[Any]:
    async def go() -> list[Any]:
        return [ev async for ev in conductor.run(resume=resume)]

    return asyncio.run(go())


def segment_pcm(seg: Any) -> np.ndarray:
    return np.frombuffer(seg.path.read_bytes(), "<i2").reshape(-1, 2)[:, 0]


def assert_covers(segments: list[Any], total: int) -> None:
    """Segments start at 0, each starts inside the previous one, and the last ends at ``total``."""
    assert segments[0].start == 0
    for a, b in zip(segments, segments[1:]):
        assert a.start < b.start <= a.start + a.frames
    assert max(s.start + s.frames for s in segments) == total


def test_fake_render_exact_total_chunks_and_effective_times(tmp_path: Path) -> None:
    sched = make_schedule(changes=CHANGES)
    backend = FakeBackend(chunk_frames=4800)
    spool = make_spool(tmp_path / "s", sched)
    events = conduct(Conductor(backend, sched, spool))
    assert isinstance(events[0], SessionStarted) and isinstance(events[-1], Finished)
    assert spool.received_end == sched.total_frames == 180_000
    (seg,) = spool.segments()
    assert (seg.start, seg.frames) == (0, 180_000)
    assert np.array_equal(segment_pcm(seg), (np.arange(180_000) % 32768).astype(np.int16))
    chunks = list(spool.iter_chunks())
    assert len(chunks) == 38 and chunks[-1].frames == 2400  # 37.5 chunks: the last one trimmed to the total
    assert [c.start for c in chunks] == list(range(0, 180_000, 4800))
    effective = [e for e in events if isinstance(e, EventEffective)]
    assert [(e.index, e.effective_sample, e.estimated) for e in effective] == [
        (0, 48_000, False), (1, 96_000, False), (2, 120_000, False)]
    assert [r["effective_sample"] for r in spool.records("event")] == [48_000, 96_000, 120_000]
    session = backend.sessions[0]
    kinds = [k for k, _, _ in session.log]
    assert kinds[:2] == ["prompts", "config"] and kinds[-2:] == ["stop", "close"]
    assert session.log[0][1] == P("Piano") and session.log[1][1] == GenerationConfig(bpm=100, seed=7)
    queued = [(k, at) for k, _, at in session.log[2:5]]
    assert queued == [("prompts", 72_000), ("config", 120_000), ("reset", 144_000)]  # lead-in 24,000 + piece
    assert kinds[5] == "play"


def test_conductor_result(tmp_path: Path) -> None:
    sched = make_schedule(changes=CHANGES)
    spool = make_spool(tmp_path / "s", sched)
    conductor = Conductor(FakeBackend(), sched, spool)
    with pytest.raises(RuntimeError, match="after run"):
        conductor.result
    conduct(conductor)
    r = conductor.result
    assert r.received_frames == r.total_frames == 180_000 and r.chunks == 38 and not r.resumed
    assert [(s.start, s.frames) for s in r.segments] == [(0, 180_000)]
    assert r.sessions == ({"index": 0, "start_frame": 0, "frames": 180_000, "reason": "start", "ended": "finished"},)
    assert [e["requested_sample"] == e["effective_sample"] for e in r.events] == [True] * 3
    assert r.seams == () and r.filtered == () and r.warnings == ()


@pytest.mark.parametrize("spans", [True, False])
def test_backend_without_at_sample_gets_messages_as_audio_arrives(tmp_path: Path, spans: bool) -> None:
    sched = make_schedule(changes=CHANGES[:1])
    backend = FakeBackend(chunk_frames=4800, at_sample=False, spans=spans)
    spool = make_spool(tmp_path / "s", sched)
    conductor = Conductor(backend, sched, spool, ConductorOptions(control_lead_s=0.25))
    conduct(conductor)
    log = backend.sessions[0].log
    assert all(at is None for _, _, at in log)
    sent_at = [i for i, (k, v, _) in enumerate(log) if k == "prompts" and v == P("Sitar", "Organ")]
    assert len(sent_at) == 1 and log.index(("play", None, None)) < sent_at[0]
    (ev,) = conductor.result.events
    q = 24_000 + 48_000
    sent_frame = ((q - 12_000 + 4799) // 4800) * 4800  # first chunk end at or past q - lead
    if spans:  # the fake applies a change from the next chunk on
        assert (ev["effective_sample"] + 24_000, ev["estimated"]) == (sent_frame, False)
    else:  # no spans: one chunk of latency after the send is assumed
        assert (ev["effective_sample"] + 24_000, ev["estimated"]) == (sent_frame + 4800, True)


def test_rotation_overlaps_segments_and_records_seams(tmp_path: Path) -> None:
    sched = make_schedule(changes=CHANGES)
    backend = FakeBackend(chunk_frames=4800)
    spool = make_spool(tmp_path / "s", sched)
    conductor = Conductor(backend, sched, spool, ConductorOptions(session_limit_s=1.0, overlap_s=0.2))
    events = conduct(conductor)
    segs = spool.segments()
    assert [(s.start, s.frames) for s in segs] == [(0, 57_600), (48_000, 57_600), (96_000, 57_600), (144_000, 36_000)]
    assert_covers(segs, 180_000)
    for seg in segs:  # every session's audio is complete from its own first frame
        assert np.array_equal(segment_pcm(seg), (np.arange(seg.frames) % 32768).astype(np.int16))
    rotated = [e for e in events if isinstance(e, Rotated)]
    assert [(e.at_frame, e.overlap_frames) for e in rotated] == [(48_000, 9600), (96_000, 9600), (144_000, 9600)]
    seams = spool.records("seam")
    assert [(s["reason"], s["at_frame"], s["overlap_frames"]) for s in seams] == [
        ("rotation", 48_000, 9600), ("rotation", 96_000, 9600), ("rotation", 144_000, 9600)]
    # a new session starts from the state in force at its start (piece 0.5, 1.5 and 2.5 s)
    assert [s.log[0] for s in backend.sessions[1:]] == [("prompts", P("Piano"), None)] + [
        ("prompts", P("Sitar", "Organ"), None)] * 2
    assert backend.sessions[2].log[1][1] == GenerationConfig(bpm=100, seed=7)
    assert backend.sessions[3].log[1][1] == CHANGES[1][2]
    assert all(s.log[-1][0] == "close" for s in backend.sessions)
    assert [e["effective_sample"] for e in conductor.result.events] == [48_000, 96_000, 120_000]


def test_rotation_without_at_sample_sends_each_session_its_share(tmp_path: Path) -> None:
    sched = make_schedule(changes=CHANGES)
    backend = FakeBackend(chunk_frames=4800, at_sample=False)
    spool = make_spool(tmp_path / "s", sched)
    conductor = Conductor(backend, sched, spool, ConductorOptions(session_limit_s=1.0, overlap_s=0.2))
    conduct(conductor)
    assert [(s.start, s.frames) for s in spool.segments()] == [
        (0, 57_600), (48_000, 57_600), (96_000, 57_600), (144_000, 36_000)]
    sent = [[k for k, _, _ in s.log if k in ("prompts", "config", "reset")] for s in backend.sessions]
    # the complete state first, then (at least) every change inside the audio it delivered:
    # stream 72,000 prompts, 120,000 config, 144,000 reset
    assert all(kinds[:2] == ["prompts", "config"] for kinds in sent)
    assert sent[1][2:3] == ["prompts"] and sent[2][2:4] == ["config", "reset"] and sent[3] == ["prompts", "config"]
    assert backend.sessions[3].log[0][1] == P("Sitar", "Organ") and backend.sessions[3].log[1][1] == CHANGES[1][2]
    # changes land on chunk boundaries here, so even sent-on-arrival they are exact
    assert [(e["effective_sample"], e["estimated"]) for e in conductor.result.events] == [
        (48_000, False), (96_000, False), (120_000, False)]


def test_rotation_by_wall_age(tmp_path: Path) -> None:
    sched = make_schedule(duration_s=1.0, lead_in_s=0.0, tail_s=0.0)
    backend = FakeBackend(chunk_frames=4800, pace_s=0.15)  # 0.1 s of audio every 0.15 s of wall time
    spool = make_spool(tmp_path / "s", sched)
    conduct(Conductor(backend, sched, spool, ConductorOptions(session_limit_s=0.5, overlap_s=0.1)))
    segs = spool.segments()
    assert len(segs) >= 2 and segs[1].start < 24_000  # handed over before 0.5 s of *audio*
    assert_covers(segs, 48_000)


@pytest.mark.parametrize("kind", ["fake", "offline"])
@pytest.mark.parametrize("fault", ["drop", "stall"])
def test_drop_or_stall_reconnects_with_seam_and_loses_nothing(tmp_path: Path, fault: str, kind: str) -> None:
    sched = make_schedule(changes=CHANGES)
    inner = FakeBackend(chunk_frames=4800) if kind == "fake" else offline_backend(chunk_frames=4800)
    backend = FaultyBackend(inner=inner, plan=[Fault(kind=fault, after=10)])
    spool = make_spool(tmp_path / "s", sched)
    conductor = Conductor(backend, sched, spool, ConductorOptions(overlap_s=0.2, stall_timeout_s=1.0, **FAST))
    events = conduct(conductor)
    segs = spool.segments()
    assert [(s.start, s.frames) for s in segs] == [(0, 48_000), (38_400, 141_600)]
    assert [c.start for c in spool.iter_chunks() if c.segment == 0] == list(range(0, 48_000, 4800))
    for seg in segs:
        pcm = segment_pcm(seg)
        assert len(pcm) == seg.frames
        if kind == "fake":  # every frame each session sent is there, in order
            assert np.array_equal(pcm, (np.arange(seg.frames) % 32768).astype(np.int16))
    (rec,) = [e for e in events if isinstance(e, Reconnecting)]
    assert rec.attempt == 1 and (fault == "drop") == ("1011" in rec.reason) and (fault == "stall") == ("stall" in rec.reason)
    (seam,) = spool.records("seam")
    assert (seam["reason"], seam["at_frame"], seam["overlap_frames"]) == ("reconnect", 38_400, 9600)
    ended = [s["ended"] for s in conductor.result.sessions]
    assert ended[0].startswith("failed") and ended[1] == "finished"
    assert [e["effective_sample"] for e in conductor.result.events] == [48_000, 96_000, 120_000]


def test_refused_first_connection_is_retried_without_a_seam(tmp_path: Path) -> None:
    sched = make_schedule()
    backend = FaultyBackend(inner=FakeBackend(), plan=[Fault(kind="refuse"), Fault(kind="refuse")])
    spool = make_spool(tmp_path / "s", sched)
    conductor = Conductor(backend, sched, spool, ConductorOptions(**FAST))
    events = conduct(conductor)
    assert [e.attempt for e in events if isinstance(e, Reconnecting)] == [1, 2] and backend.connects == 3
    assert [(s["reason"], s["ended"]) for s in conductor.result.sessions] == [("start", "finished")]
    assert conductor.result.seams == () and spool.received_end == sched.total_frames


def test_auth_error_fails_fast_without_retry(tmp_path: Path) -> None:
    sched = make_schedule()
    for plan in ([Fault(kind="auth", after=-1)], [Fault(kind="auth", after=3)]):
        backend = FaultyBackend(inner=FakeBackend(), plan=list(plan))
        spool = make_spool(tmp_path / f"s{plan[0].after}", sched)
        seen: list[Any] = []

        async def go() -> None:
            async for ev in Conductor(backend, sched, spool, ConductorOptions(**FAST)).run():
                seen.append(ev)

        with pytest.raises(AuthError, match="1008"):
            asyncio.run(go())
        assert backend.connects == 1 and not any(isinstance(e, Reconnecting) for e in seen)
        assert spool.received_end == (3 * 4800 if plan[0].after == 3 else 0)
        spool.close()


def test_retries_exhausted_keeps_spool_then_resume_completes(tmp_path: Path) -> None:
    sched = make_schedule(changes=CHANGES)
    refuse = [Fault(kind="refuse")] * 3
    backend = FaultyBackend(inner=FakeBackend(chunk_frames=4800), plan=[Fault(kind="drop", after=12)] + refuse)
    spool = make_spool(tmp_path / "s", sched)
    with pytest.raises(TransientBackendError) as err:
        conduct(Conductor(backend, sched, spool, ConductorOptions(max_reconnects=2, overlap_s=0.2, **FAST)))
    assert "gave up after 2 consecutive failures without new audio" in str(err.value)
    assert "--resume" in str(err.value)
    assert str(tmp_path / "s") in str(err.value) and backend.connects == 3
    assert spool.received_end == 12 * 4800
    first = spool.segments()[0].path.read_bytes()
    spool.close()

    reopened = Spool.open(tmp_path / "s", timeline_sha256="0" * 64)
    conductor = Conductor(FakeBackend(chunk_frames=4800), sched, reopened, ConductorOptions(overlap_s=0.2))
    conduct(conductor, resume=True)
    r = conductor.result
    assert r.resumed and r.received_frames == sched.total_frames
    assert [(s.start, s.frames) for s in r.segments] == [(0, 57_600), (48_000, 132_000)]
    assert r.segments[0].path.read_bytes() == first  # what was received before is untouched
    assert [(s["reason"], s["previous_session"], s["overlap_frames"]) for s in r.seams] == [("resume", 0, 9600)]
    assert [e["effective_sample"] for e in r.events] == [48_000, 96_000, 120_000]
    assert [s["ended"] for s in r.sessions] == ["failed: websocket closed with 1011 (injected)", "finished"]


def test_filtered_prompt_and_warning_recorded_strict_raises(tmp_path: Path) -> None:
    sched = make_schedule()
    backend = FaultyBackend(inner=FakeBackend(), plan=[Fault(kind="filter", after=2)])
    spool = make_spool(tmp_path / "a", sched)
    events = conduct(Conductor(backend, sched, spool))
    (f,) = [e for e in events if isinstance(e, Filtered)]
    assert (f.text, f.at_frame) == ("forbidden words", 2 * 4800)
    assert spool.records("filtered") == [{"text": "forbidden words", "reason": "injected", "session": 0, "at_frame": 9600}]
    assert spool.received_end == sched.total_frames

    backend = FaultyBackend(inner=FakeBackend(), plan=[Fault(kind="warn", after=1)])
    spool = make_spool(tmp_path / "w", sched)
    events = conduct(Conductor(backend, sched, spool))
    assert [e.message for e in events if isinstance(e, ServerWarned)] == ["slow down (injected)"]
    assert spool.records("warning")[0]["message"] == "slow down (injected)"

    backend = FaultyBackend(inner=FakeBackend(), plan=[Fault(kind="filter", after=2)])
    spool = make_spool(tmp_path / "b", sched)
    with pytest.raises(FilteredPromptError, match="forbidden words"):
        conduct(Conductor(backend, sched, spool, ConductorOptions(strict=True)))
    assert spool.records("filtered")[0]["text"] == "forbidden words"
    assert backend.inner.sessions[0].closed


def test_resume_checks(tmp_path: Path) -> None:
    sched = make_schedule()
    spool = make_spool(tmp_path / "s", sched)
    conduct(Conductor(FakeBackend(), sched, spool))
    with pytest.raises(SpoolError, match="already holds audio"):
        conduct(Conductor(FakeBackend(), sched, spool))
    backend = FakeBackend()
    events = conduct(Conductor(backend, sched, spool), resume=True)  # complete already: nothing to do
    assert backend.sessions == [] and isinstance(events[-1], Finished) and len(events) == 1


class CountingGate:
    def __init__(self) -> None:
        self.acquired = self.released = self.active = self.peak = 0

    async def acquire(self) -> None:
        self.acquired += 1
        self.active += 1
        self.peak = max(self.peak, self.active)

    def release(self) -> None:
        self.released += 1
        self.active -= 1


def test_session_gate_wraps_every_session(tmp_path: Path) -> None:
    sched = make_schedule()
    gate = CountingGate()
    spool = make_spool(tmp_path / "s", sched)
    conduct(Conductor(FakeBackend(), sched, spool, ConductorOptions(session_limit_s=1.0, overlap_s=0.2),
                      session_gate=gate))
    assert gate.acquired == gate.released == len(spool.segments()) == 4 and gate.peak == 2
    spool = make_spool(tmp_path / "t", sched)
    conduct(Conductor(FakeBackend(), sched, spool, session_gate=asyncio.Semaphore(1)))
    assert spool.received_end == sched.total_frames


def test_memory_stays_flat_whatever_the_duration(tmp_path: Path) -> None:
    def peak(duration_s: float, name: str) -> int:
        sched = make_schedule(duration_s=duration_s, lead_in_s=0, tail_s=0)
        spool = make_spool(tmp_path / name, sched)
        tracemalloc.start()
        conduct(Conductor(FakeBackend(chunk_frames=48_000), sched, spool))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert spool.received_end == sched.total_frames
        return top

    # 1 s chunks of 192 kB: at most the two queues' chunks are in flight, whatever the duration
    bound = (2 * QUEUE_CHUNKS + 16) * 192_000  # 15.4 MB: both queues full, plus chunks in hand
    assert peak(30, "short") < bound and peak(480, "long") < bound  # 5.8 MB and 92 MB of PCM


def test_offline_render_effective_equals_requested(tmp_path: Path) -> None:
    offline = pytest.importorskip("render.backends.offline")
    if not hasattr(offline, "OfflineBackend"):
        pytest.skip("the offline engine is not in the tree yet")
    sched = make_schedule(duration_s=4.0, changes=CHANGES)
    spool = make_spool(tmp_path / "s", sched)
    conductor = Conductor(offline_backend(chunk_frames=24_000), sched, spool,
                          ConductorOptions(session_limit_s=2.0, overlap_s=0.25))
    conduct(conductor)
    r = conductor.result
    assert r.received_frames == sched.total_frames == 228_000
    assert_covers(list(r.segments), 228_000)
    assert [(e["effective_sample"], e["estimated"]) for e in r.events] == [
        (48_000, False), (96_000, False), (120_000, False)]
    assert [s["reason"] for s in r.seams] == ["rotation", "rotation"]
    for seg_id, seg in enumerate(r.segments):  # each session's chunks are contiguous from its start
        starts = [c.start for c in spool.iter_chunks() if c.segment == seg_id]
        assert starts == list(range(seg.start, seg.start + seg.frames, 24_000))
        pcm = np.frombuffer(seg.path.read_bytes(), "<i2")
        assert len(pcm) == seg.frames * 2 and np.abs(pcm).max() > 1000
    spans = [sp for c in spool.iter_chunks() for sp in c.spans]
    assert {sp["start_sample"] for sp in spans} >= {72_000, 120_000, 144_000}  # exact change points, stream frames


def test_options_are_checked() -> None:
    from render.errors import UsageError

    with pytest.raises(UsageError, match="overlap_s=4 must be shorter than session_limit_s=3"):
        ConductorOptions(session_limit_s=3.0)
    with pytest.raises(UsageError, match="stall_timeout_s=0"):
        ConductorOptions(stall_timeout_s=0)
    with pytest.raises(UsageError, match="max_reconnects=-1"):
        ConductorOptions(max_reconnects=-1)


def test_sigkill_mid_render_then_resume(tmp_path: Path) -> None:
    root = tmp_path / "k.spool"
    child = subprocess.Popen([sys.executable, str(CHILD), "conduct", str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    sched = long_schedule()
    spool = Spool.open(root, timeline_sha256="0" * 64)
    before = spool.received_end
    assert 0 < before < sched.total_frames
    conductor = Conductor(offline_backend(), sched, spool, ConductorOptions(overlap_s=0.5))
    conduct(conductor, resume=True)
    r = conductor.result
    assert r.received_frames == sched.total_frames
    assert [s["reason"] for s in r.seams] == ["resume"] and r.seams[0]["at_frame"] == before - 24_000
    assert_covers(list(r.segments), sched.total_frames)
    assert [s.start for s in r.segments] == [0, before - 24_000]
    assert [(e["effective_sample"], e["estimated"]) for e in r.events] == [(480_000, False), (1_200_000, False)]
    spool.close()


def test_capped_gate_cannot_deadlock_a_rotation(tmp_path: Path) -> None:
    """A gate with one slot never lets a rotation's second session in: the rotation is retried
    with backoff while the old session streams on (its audio is progress, so the render finishes)."""
    sched = make_schedule(duration_s=30.0)
    spool = make_spool(tmp_path / "s", sched)
    options = ConductorOptions(session_limit_s=1.0, overlap_s=0.2, gate_timeout_s=0.05, max_reconnects=2, **FAST)
    seen: list[Any] = []

    async def go() -> None:
        async for ev in Conductor(FakeBackend(pace_s=0.005), sched, spool, options,
                                  session_gate=asyncio.Semaphore(1)).run():
            seen.append(ev)

    asyncio.run(asyncio.wait_for(go(), 60))
    retries = [e for e in seen if isinstance(e, Reconnecting)]
    assert retries and all("gate gave no slot" in e.reason for e in retries)
    assert max(e.attempt for e in retries) <= 2  # each retry was followed by new audio
    assert spool.received_end == sched.total_frames and len(spool.segments()) == 1
    spool.close()


def test_disk_failure_stops_the_render_with_a_spool_error(tmp_path: Path) -> None:
    sched = make_schedule()
    backend = FakeBackend()
    spool = make_spool(tmp_path / "s", sched)
    real_append, calls = spool.append, []

    def failing_append(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        real_append(*args, **kwargs)

    spool.append = failing_append  # type: ignore[method-assign]
    with pytest.raises(SpoolError, match="No space left") as err:
        conduct(Conductor(backend, sched, spool))
    assert "free disk space" in str(err.value)
    assert spool.received_end == 4 * 4800 and backend.sessions[0].closed


def test_partial_frames_are_a_protocol_error(tmp_path: Path) -> None:
    from render.errors import ProtocolError

    sched = make_schedule()
    backend = FaultyBackend(inner=FakeBackend(), plan=[Fault(kind="partial", after=2)])
    spool = make_spool(tmp_path / "s", sched)
    with pytest.raises(ProtocolError, match="6 bytes"):
        conduct(Conductor(backend, sched, spool, ConductorOptions(**FAST)))
    assert backend.connects == 1 and spool.received_end == 2 * 4800


def test_abandoning_the_run_closes_its_sessions(tmp_path: Path) -> None:
    sched = make_schedule()
    backend = FakeBackend()
    spool = make_spool(tmp_path / "s", sched)

    async def go() -> None:
        run = Conductor(backend, sched, spool).run()
        async for ev in run:
            if isinstance(ev, SessionStarted):
                break
        await run.aclose()

    asyncio.run(go())
    assert backend.sessions[0].closed and [k for k, _, _ in backend.sessions[0].log][-2:] == ["stop", "close"]
    assert spool.records("session")[0]["ended"] == "aborted"


def test_rotation_seam_records_the_overlap_the_old_session_really_gave(tmp_path: Path) -> None:
    """Session 1 dies right after the rotation starts: the seam says 0 frames overlap, not the planned 9600."""
    sched = make_schedule()
    backend = FaultyBackend(inner=FakeBackend(chunk_frames=4800), plan=[Fault(kind="drop", after=10)])
    spool = make_spool(tmp_path / "s", sched)
    conductor = Conductor(backend, sched, spool, ConductorOptions(session_limit_s=1.0, overlap_s=0.2, **FAST))
    conduct(conductor)
    seams = conductor.result.seams
    assert seams[0]["reason"] == "rotation" and seams[0]["at_frame"] == 48_000
    assert seams[0]["overlap_frames"] == 0, seams
    assert all(s["overlap_frames"] == 9600 for s in seams[1:] if s["reason"] == "rotation"), seams
    assert spool.received_end == sched.total_frames
    spool.close()


def test_tracker_confirms_only_on_the_events_own_state() -> None:
    """Bug 1: a span still carrying the state of an earlier event must not confirm a later one."""
    from render.backends.base import ControlSpan
    from render.conductor.tracker import EventTracker
    from render.controls import WeightedPrompt

    sched = make_schedule(changes=[(1.0, "prompts", P("Sitar")), (1.2, "prompts", P("Organ"))])
    tracker = EventTracker.build(sched)
    lead = sched.lead_in_frames
    tracker.note_sent(0, lead + 48_000, exact=False)
    tracker.note_sent(1, lead + 57_600, exact=False)
    old = ControlSpan(start_sample=lead + 57_600, prompts=P("Piano"))
    sitar = ControlSpan(start_sample=lead + 96_000, prompts=P("Sitar"))
    organ = ControlSpan(start_sample=lead + 120_000, prompts=(WeightedPrompt(text="Organ", weight=3.0),))
    assert tracker.observe(old) == []
    found = tracker.observe(sitar)  # confirms event 0 only, though it differs from event 1's pre-state too
    assert [(f["index"], f["effective_sample"], f["estimated"]) for f in found] == [(0, 96_000, False)]
    found = tracker.observe(organ)  # weights compare normalised, as the service normalises them
    assert [(f["index"], f["effective_sample"], f["estimated"]) for f in found] == [(1, 120_000, False)]


def test_tracker_marks_an_event_past_the_end_not_applied() -> None:
    from render.conductor.tracker import EventTracker

    sched = make_schedule(changes=[(2.9, "prompts", P("Sitar"))])
    tracker = EventTracker.build(sched)
    tracker.note_sent(0, sched.total_frames - 100, exact=False)
    (found,) = tracker.estimate_due(sched.total_frames, 96_000, final=True)
    assert found["applied"] is False and found["effective_sample"] is None and found["estimated"] is True
