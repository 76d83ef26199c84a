"""Child process for the SIGKILL tests: writes into a spool until it is killed.

    python tests/helpers/spool_child.py spool PATH       append patterned chunks forever
    python tests/helpers/spool_child.py conduct PATH     conduct a long offline render into PATH
    python tests/helpers/spool_child.py hold PATH        open the spool and sleep (stale lock test)

It prints ``ready`` once some audio is safely in the spool, so the parent knows when
killing it is meaningful.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from render.spool.store import Spool, SpoolMeta

CHUNK_FRAMES = 4_800


def pattern(start: int, frames: int) -> bytes:
    """Stereo int16 PCM whose left sample is the stream frame mod 32768, right its negation."""
    idx = (np.arange(start, start + frames) % 32768).astype(np.int16)
    return np.stack([idx, -idx], axis=1).astype("<i2").tobytes()


def _spool(path: Path) -> None:
    spool = Spool.create(path, SpoolMeta(name="kill", timeline_sha256="0" * 64))
    spool.begin_segment(0, "start")
    start = 0
    while True:
        spool.append(pattern(start, CHUNK_FRAMES), start, (), {"n": start // CHUNK_FRAMES})
        start += CHUNK_FRAMES
        if start == 10 * CHUNK_FRAMES:
            print("ready", flush=True)


def _hold(path: Path) -> None:
    Spool.open(path)
    print("ready", flush=True)
    time.sleep(600)


async def _conduct(path: Path) -> None:
    from helpers.conductor import long_schedule, make_spool, offline_backend
    from render.conductor.conductor import Conductor, ConductorOptions

    schedule = long_schedule()
    spool = make_spool(path, schedule)
    conductor = Conductor(offline_backend(), schedule, spool, ConductorOptions(overlap_s=0.5))
    async for event in conductor.run():
        if type(event).__name__ == "AudioProgress" and event.received_frames >= schedule.total_frames // 3:
            print("ready", flush=True)
            await asyncio.sleep(0.05)  # slow down so the parent's kill lands mid-render


def main() -> None:
    mode, path = sys.argv[1], Path(sys.argv[2])
    if mode == "spool":
        _spool(path)
    elif mode == "hold":
        _hold(path)
    elif mode == "conduct":
        asyncio.run(_conduct(path))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
