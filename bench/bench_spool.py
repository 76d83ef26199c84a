"""Spool write cost per chunk: fsync every chunk vs. never, and reopen (recovery) time.

Prints figures; not a test. Lyria delivers one 2 s chunk (384,000 bytes) about every 2 s,
so any per-chunk cost far below 2,000 ms leaves the receive loop idle.

    .venv/bin/python bench/bench_spool.py [chunks]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from render.backends.base import ControlSpan
from render.controls import GenerationConfig, WeightedPrompt
from render.spool.store import Spool, SpoolMeta

CHUNK_FRAMES = 96_000  # 2 s at 48 kHz


def _run(root: Path, chunks: int, fsync_interval_s: float | None) -> list[float]:
    pcm = bytes(CHUNK_FRAMES * 4)
    spans = [ControlSpan(start_sample=0, prompts=(WeightedPrompt(text="Piano"),), config=GenerationConfig(), epoch=0)]
    spool = Spool.create(root, SpoolMeta(name="bench", timeline_sha256="0" * 64), fsync_interval_s=fsync_interval_s)
    spool.begin_segment(0, "start")
    times = []
    for i in range(chunks):
        t0 = time.perf_counter()
        spool.append(pcm, i * CHUNK_FRAMES, spans, {"i": i})
        times.append((time.perf_counter() - t0) * 1000)
    spool.close()
    return times


def main() -> None:
    chunks = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    with tempfile.TemporaryDirectory() as tmp:
        for label, interval in (("fsync every chunk", 0.0), ("fsync at most 1/s", 1.0), ("no fsync", None)):
            times = _run(Path(tmp) / f"{label}.spool", chunks, interval)
            print(f"{label:>18}: {chunks} x 2 s chunks, per chunk median {statistics.median(times):6.2f} ms, "
                  f"p95 {sorted(times)[int(len(times) * 0.95)]:6.2f} ms, max {max(times):6.2f} ms")
        t0 = time.perf_counter()
        spool = Spool.open(Path(tmp) / "fsync every chunk.spool")
        dt = (time.perf_counter() - t0) * 1000
        print(f"reopen after {chunks} chunks ({chunks * 2} s of audio): {dt:.1f} ms; {spool.recovery.describe()}")
        spool.close()


if __name__ == "__main__":
    main()
