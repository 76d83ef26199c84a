"""Conductor overhead: wall time per chunk and peak memory for long renders (not a test).

Uses the test suite's instant fake backend (so only the conductor + spool are measured),
with 2 s chunks like Lyria, fsync on every chunk, and a session rotation every 540 s;
then, when the offline engine is present, the same for it.

    .venv/bin/python bench/bench_conductor.py [minutes]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.conductor import FakeBackend, make_schedule  # noqa: E402

from render.conductor.conductor import Conductor, ConductorOptions
from render.spool.store import Spool, SpoolMeta


async def _conduct(conductor: Conductor) -> None:
    async for _ in conductor.run():
        pass


def _bench(label: str, backend: Any, minutes: float, root: Path) -> None:
    sched = make_schedule(duration_s=minutes * 60, lead_in_s=0.0, tail_s=0.0)
    spool = Spool.create(root / label, SpoolMeta(name=label, timeline_sha256="0" * 64))
    conductor = Conductor(backend, sched, spool, ConductorOptions())
    tracemalloc.start()
    t0 = time.perf_counter()
    asyncio.run(_conduct(conductor))
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    r = conductor.result
    audio_s = r.received_frames / 48_000
    print(f"{label:>8}: {audio_s / 60:.0f} min of audio in {wall:.2f} s wall ({audio_s / wall:,.0f}x real time), "
          f"{r.chunks} chunks, {wall / r.chunks * 1000:.2f} ms per chunk, {len(r.segments)} sessions, "
          f"peak traced memory {peak / 1e6:.1f} MB (PCM {r.received_frames * 4 / 1e6:.0f} MB)")
    spool.remove()


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    with tempfile.TemporaryDirectory() as tmp:
        _bench("fake", FakeBackend(chunk_frames=96_000), minutes, Path(tmp))
        try:
            from render.backends.offline import OfflineBackend
        except ImportError:
            print(" offline: engine not available")
            return
        _bench("offline", OfflineBackend(chunk_frames=96_000), min(minutes, 2.0), Path(tmp))


if __name__ == "__main__":
    main()
