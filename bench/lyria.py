"""Bench: 60 s of audio through LyriaBackend from ``serve`` at real-time pacing.

The server runs in a separate process (``python -m render serve``) so its engine CPU is
not counted. Prints wall time / audio time (goal <= 1.05 plus start latency) and the
client's CPU share (process CPU time / wall; goal < 5 % of one core).

    .venv/bin/python bench/lyria.py [--seconds 60] [--chunk-s 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from render.audio import SAMPLE_RATE
from render.backends.base import AudioChunk  # noqa: E402
from render.backends.lyria import LyriaBackend  # noqa: E402
from render.controls import GenerationConfig, WeightedPrompt

KEY = "bench-key-not-secret"


def start_server(state: Path, chunk_s: float, pace: str = "realtime") -> tuple[subprocess.Popen[bytes], dict]:
    """Start ``serve`` in its own process and wait for its ready file."""
    ready = state / "ready.json"
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "render", "serve", "--port", "0", "--pace", pace, "--chunk-s", str(chunk_s),
         "--require-key", KEY, "--state-dir", str(state), "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"serve did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


async def render(info: dict, seconds: float) -> dict[str, float]:
    """Receive ``seconds`` of audio; return timing and CPU figures."""
    backend = LyriaBackend(api_key=KEY, base_url=info["base_url"], ca_cert=Path(info["ca_cert"]))
    frames_wanted = round(seconds * SAMPLE_RATE)
    gaps_s: list[float] = []
    async with backend.connect() as session:
        await session.set_weighted_prompts([WeightedPrompt(text="Lo-Fi Hip Hop", weight=1.0),
                                            WeightedPrompt(text="Rhodes Piano", weight=0.6)])
        await session.set_music_generation_config(GenerationConfig(bpm=84, scale="F_MAJOR_D_MINOR", seed=3))
        cpu0, wall0 = time.process_time(), time.monotonic()
        await session.play()
        first_s = last_s = None
        frames = 0
        async for event in session.receive():
            if not isinstance(event, AudioChunk):
                continue
            now = time.monotonic()
            if first_s is None:
                first_s = now - wall0
            elif last_s is not None:
                gaps_s.append(now - last_s)
            last_s = now
            frames += event.frames
            if frames >= frames_wanted:
                break
        wall_s, cpu_s = time.monotonic() - wall0, time.process_time() - cpu0
        await session.close()
    audio_s = frames / SAMPLE_RATE
    return {
        "audio_s": audio_s, "wall_s": wall_s, "ratio": wall_s / audio_s,
        "start_latency_s": first_s or 0.0, "ratio_after_start": (wall_s - (first_s or 0.0)) / audio_s,
        "max_gap_s": max(gaps_s, default=0.0), "client_cpu_s": cpu_s, "client_cpu_share": cpu_s / wall_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--chunk-s", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lyria-bench-") as tmp:
        proc, info = start_server(Path(tmp), args.chunk_s)
        try:
            figures = asyncio.run(render(info, args.seconds))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(15)
    print(f"audio            {figures['audio_s']:.2f} s ({args.chunk_s} s chunks, serve --pace realtime)")
    print(f"wall             {figures['wall_s']:.2f} s")
    print(f"wall / audio     {figures['ratio']:.3f}  (goal <= 1.05 + start latency)")
    print(f"start latency    {figures['start_latency_s']:.3f} s; after it: {figures['ratio_after_start']:.3f}")
    print(f"max chunk gap    {figures['max_gap_s']:.3f} s")
    print(f"client CPU       {figures['client_cpu_s']:.2f} s = {100 * figures['client_cpu_share']:.2f} % of one core (goal < 5 %)")


if __name__ == "__main__":
    main()
