"""Benchmark: how many times faster than real time the offline engine renders.

Renders 60 s of audio (in 2 s chunks, through the real session) for a few settings and
prints CPU seconds and x real time. Run it on one core:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/engine.py

"cold" is the first render of a case (the first case runs in a fresh process with an
empty note cache; later cases share instruments with earlier ones); "warm" is the best
of three repeats (cache filled, as in a batch or a long piece). The machine is shared,
so expect some noise.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from render.backends.offline import OfflineBackend  # noqa: E402
from render.controls import GenerationConfig, WeightedPrompt  # noqa: E402

SECONDS = 60
FOUR = [("Techno", 1.0), ("Sitar", 1.0), ("Piano", 0.5), ("Danceable", 1.0)]
ONE = [("Indie Pop", 1.0)]
CASES = [
    ("density 1.0, 4 prompts", FOUR, dict(density=1.0)),
    ("density 0.2, 4 prompts", FOUR, dict(density=0.2)),
    ("density 0.6, 4 prompts", FOUR, dict(density=0.6)),
    ("density 1.0, 1 prompt", ONE, dict(density=1.0)),
    ("density 1.0, 4 prompts, VOCALIZATION", FOUR, dict(density=1.0, music_generation_mode="VOCALIZATION")),
    ("seed example (Indie Pop, Sitar, Danceable)", [("Indie Pop", 0.6), ("Sitar", 2.0), ("Danceable", 1.4)], dict(density=0.2, brightness=0.7, scale="F_MAJOR_D_MINOR")),
]


async def _render(prompts: list[tuple[str, float]], fields: dict, seconds: int) -> int:
    backend = OfflineBackend(chunk_frames=96_000)
    frames = 0
    async with backend.connect() as session:
        await session.set_weighted_prompts([WeightedPrompt(text=t, weight=w) for t, w in prompts])
        await session.set_music_generation_config(GenerationConfig(bpm=128, **fields))
        await session.play()
        async for chunk in session.receive():
            frames += chunk.frames
            if frames >= seconds * 48_000:
                break
    return frames


def main() -> None:
    """Print CPU time and x real time for each case, cold and warm."""
    print(f"offline engine, {SECONDS} s of audio per case, threads={os.environ['OMP_NUM_THREADS']}")
    print(f"{'case':46s} {'cold cpu s':>10s} {'cold x':>8s} {'warm cpu s':>10s} {'warm x':>8s}")
    for label, prompts, fields in CASES:
        cpus = []
        for _ in range(4):
            t0 = time.process_time()
            frames = asyncio.run(_render(prompts, fields, SECONDS))
            cpus.append(time.process_time() - t0)
        warm = min(cpus[1:])
        row = [cpus[0], frames / 48_000 / cpus[0], warm, frames / 48_000 / warm]
        print(f"{label:46s} {row[0]:10.3f} {row[1]:8.0f} {row[2]:10.3f} {row[3]:8.0f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
