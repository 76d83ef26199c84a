"""Tests for render.spool: layout, round trip, crash recovery, locking, segment chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from render.backends.base import ControlSpan
from render.controls import GenerationConfig, WeightedPrompt
from render.errors import SpoolError
from render.spool.store import Spool, SpoolMeta, schedule_digest, span_from_dict, span_to_dict

sys.path.insert(0, str(Path(__file__).parent))
from helpers.spool_child import pattern  # noqa: E402

CHILD = Path(__file__).parent / "helpers" / "spool_child.py"
SHA = "ab" * 32
META = SpoolMeta(name="song", timeline_sha256=SHA, schedule_digest="d1")


def _fill(spool: Spool, start: int, chunks: int, frames: int = 1000, reason: str = "start") -> int:
    seg = spool.begin_segment(start, reason)
    for i in range(chunks):
        spool.append(pattern(start + i * frames, frames), start + i * frames, (), {"i": i}, segment=seg)
    return seg


def _read_frames(path: Path) -> np.ndarray:
    return np.frombuffer(path.read_bytes(), "<i2").reshape(-1, 2)


def test_layout_and_round_trip(tmp_path: Path) -> None:
    root = tmp_path / ".lyria-render" / "song.spool"
    spool = Spool.create(root, META)
    span = ControlSpan(start_sample=500, prompts=(WeightedPrompt(text="Piano", weight=0.5),),
                       config=GenerationConfig(bpm=90), epoch=1)
    seg = spool.begin_segment(0, "start")
    spool.append(pattern(0, 1000), 0, [span], {"unmatched_words": ["zz"]})
    spool.append(pattern(1000, 800), 1000)
    spool.record("filtered", {"text": "bad", "reason": "x"})
    assert seg == 0 and spool.received_end == 1800 and spool.chunks == 2
    spool.close()
    assert sorted(p.name for p in root.iterdir()) == ["index.jsonl", "lock", "meta.json", "seg-0000.pcm"]
    meta = json.loads((root / "meta.json").read_text())
    assert meta["format"] == 1 and meta["timeline_sha256"] == SHA and meta["created"]
    lines = [json.loads(x) for x in (root / "index.jsonl").read_text().splitlines()]
    assert [x["t"] for x in lines] == ["segment", "chunk", "chunk", "record"]
    assert lines[2]["offset"] == 4000 and lines[2]["start"] == 1000 and lines[2]["frames"] == 800

    again = Spool.open(root, timeline_sha256=SHA, schedule_digest="d1")
    assert not again.recovery.repaired and again.received_end == 1800
    chunks = list(again.iter_chunks())
    assert [c.start for c in chunks] == [0, 1000]
    assert span_from_dict(chunks[0].spans[0]) == span
    assert chunks[0].info == {"unmatched_words": ["zz"]}
    assert again.records("filtered") == [{"text": "bad", "reason": "x"}]
    (only,) = again.segments()
    assert (only.start, only.frames, only.offset_bytes) == (0, 1800, 0)
    assert np.array_equal(_read_frames(only.path)[:, 0], np.arange(1800))
    again.close()


def test_span_dict_round_trip_with_unknowns() -> None:
    span = ControlSpan(start_sample=7)
    assert span_from_dict(json.loads(json.dumps(span_to_dict(span)))) == span


def test_torn_index_line_and_pcm_garbage_are_repaired(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path / "s", META)
    _fill(spool, 0, 3)
    spool.close()
    with open(tmp_path / "s" / "index.jsonl", "ab") as f:
        f.write(b'{"t":"chunk","segment":0,"off')
    with open(tmp_path / "s" / "seg-0000.pcm", "ab") as f:
        f.write(pattern(3000, 700) + b"\x01\x02\x03")  # a chunk whose index line never made it, plus a torn frame
    spool = Spool.open(tmp_path / "s")
    rec = spool.recovery
    assert rec.repaired and rec.torn_index_bytes == 29 and rec.trimmed_pcm_bytes == {0: 2803}
    assert rec.chunks == 3 and rec.received_end == 3000 and "torn index line" in rec.describe()
    assert (tmp_path / "s" / "seg-0000.pcm").stat().st_size == 12000
    spool.append(pattern(3000, 500), 3000)  # the repaired spool keeps working
    spool.close()
    spool = Spool.open(tmp_path / "s")
    assert not spool.recovery.repaired and spool.received_end == 3500
    assert np.array_equal(_read_frames(tmp_path / "s" / "seg-0000.pcm")[:, 0], np.arange(3500))
    spool.close()


def test_indexed_chunk_with_missing_pcm_is_dropped(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path / "s", META)
    _fill(spool, 0, 4)
    spool.record("event", {"index": 1})
    spool.close()
    os.truncate(tmp_path / "s" / "seg-0000.pcm", 2500 * 4)  # as after a power cut between fsyncs
    spool = Spool.open(tmp_path / "s")
    assert spool.recovery.dropped_chunks == 2 and spool.received_end == 2000
    assert spool.records("event") == [{"index": 1}]
    assert (tmp_path / "s" / "seg-0000.pcm").stat().st_size == 8000
    spool.close()
    assert Spool.open(tmp_path / "s").recovery.repaired is False


def test_corrupt_middle_line_refused(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path / "s", META)
    _fill(spool, 0, 2)
    spool.close()
    index = tmp_path / "s" / "index.jsonl"
    lines = index.read_bytes().splitlines(keepends=True)
    index.write_bytes(lines[0] + b"garbage\n" + b"".join(lines[1:]))
    with pytest.raises(SpoolError, match="corrupt index line"):
        Spool.open(tmp_path / "s")


def test_open_refuses_missing_and_changed(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="no spool") as err:
        Spool.open(tmp_path / "nothing")
    assert "without --resume" in str(err.value)
    Spool.create(tmp_path / "s", META).close()
    with pytest.raises(SpoolError, match="timeline changed"):
        Spool.open(tmp_path / "s", timeline_sha256="cd" * 32)
    with pytest.raises(SpoolError, match="schedule changed"):
        Spool.open(tmp_path / "s", schedule_digest="other")
    with pytest.raises(SpoolError, match="already exists"):
        Spool.create(tmp_path / "s", META)
    spool = Spool.create(tmp_path / "s", META, replace=True)
    assert spool.received_end == 0 and spool.all_segments() == []
    spool.close()


def test_append_checks(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path / "s", META)
    with pytest.raises(SpoolError, match="begin_segment"):
        spool.append(pattern(0, 10), 0)
    spool.begin_segment(100, "start")
    with pytest.raises(SpoolError, match="does not follow"):
        spool.append(pattern(0, 10), 0)
    with pytest.raises(SpoolError, match="whole frames"):
        spool.append(b"\x00" * 6, 100)
    with pytest.raises(SpoolError, match="reason"):
        spool.begin_segment(0, "whim")
    spool.close()


def test_lock_refuses_second_opener_and_frees_on_close(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path / "s", META)
    with pytest.raises(SpoolError, match=f"in use by another render \\(pid {os.getpid()}\\)"):
        Spool.open(tmp_path / "s")
    with pytest.raises(SpoolError, match="in use"):
        Spool.create(tmp_path / "s", META, replace=True)
    spool.close()
    Spool.open(tmp_path / "s").close()


def test_stale_lock_of_killed_process_does_not_block(tmp_path: Path) -> None:
    Spool.create(tmp_path / "s", META).close()
    child = subprocess.Popen([sys.executable, str(CHILD), "hold", str(tmp_path / "s")], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with pytest.raises(SpoolError, match=f"pid {child.pid}"):
            Spool.open(tmp_path / "s")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    Spool.open(tmp_path / "s").close()


def test_sigkill_mid_write_leaves_a_consistent_spool(tmp_path: Path) -> None:
    root = tmp_path / "k.spool"
    child = subprocess.Popen([sys.executable, str(CHILD), "spool", str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    spool = Spool.open(root)
    end = spool.received_end
    assert end >= 10 * 4800 and end % 4800 == 0
    starts = [c.start for c in spool.iter_chunks()]
    assert starts == list(range(0, end, 4800))
    frames = _read_frames(root / "seg-0000.pcm")
    assert len(frames) == end
    assert np.array_equal(frames[:, 0], (np.arange(end) % 32768).astype(np.int16))
    spool.close()


def test_segments_chain_keeps_overlaps_and_drops_covered(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path / "s", META)
    _fill(spool, 0, 5)                          # [0, 5000)
    _fill(spool, 4000, 3, reason="rotation")    # [4000, 7000) overlaps by 1000
    _fill(spool, 5000, 1, reason="reconnect")   # [5000, 6000) wholly covered: left out
    spool.begin_segment(6500, "reconnect")      # empty: left out
    _fill(spool, 6500, 2, reason="reconnect")   # [6500, 8500)
    chain = spool.segments()
    assert [(s.start, s.frames) for s in chain] == [(0, 5000), (4000, 3000), (6500, 2000)]
    assert [s.path.name for s in chain] == ["seg-0000.pcm", "seg-0001.pcm", "seg-0004.pcm"]
    assert "rotation" in chain[1].label and spool.received_end == 8500
    assert len(spool.all_segments()) == 5
    spool.close()


def test_remove_deletes_the_folder(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path / "s", META)
    _fill(spool, 0, 2)
    spool.remove()
    assert not (tmp_path / "s").exists()


def test_schedule_digest_is_stable_and_sensitive() -> None:
    from render.schedule import Schedule

    def make(duration: int) -> Schedule:
        return Schedule(duration_frames=duration, lead_in_frames=0, tail_frames=0,
                        initial_prompts=(WeightedPrompt(text="Piano"),), initial_config=GenerationConfig(), messages=())

    assert schedule_digest(make(100)) == schedule_digest(make(100)) != schedule_digest(make(101))
