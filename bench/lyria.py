"""Bench: the Lyria client against ``serve`` (each server in its own process, not counted).

1. 60 s of audio through LyriaBackend at real-time pacing: wall time / audio time (goal
   <= 1.05 plus start latency) and the client's CPU share (process CPU / wall; goal < 5 %
   of one core; run it alone, on an idle machine).
2. The peak RSS of a 60-minute render through ``serve --pace fast --engine tone``, in a
   child process (goal < 300 MB): the conductor into the spool, then the master's seam
   plan and a full read of the stitched piece (``--full`` runs the whole render with
   export instead, which takes much longer).

    .venv/bin/python bench/lyria.py [--seconds 60] [--chunk-s 2] [--rss-minutes 60] [--full]
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


def start_server(state: Path, chunk_s: float, *extra: str) -> tuple[subprocess.Popen[bytes], dict]:
    """Start ``serve`` in its own process and wait for its ready file."""
    ready = state / "ready.json"
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "render", "serve", "--port", "0", "--chunk-s", str(chunk_s),
         "--require-key", KEY, "--state-dir", str(state), "--ready-file", str(ready), *(extra or ("--pace", "realtime"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"serve did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the server; SIGTERM it if it has not stopped within 30 s (a busy engine thread)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(15)


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


def rss_child(info: dict, minutes: float, out: Path, full: bool) -> None:
    """Render ``minutes`` of audio through serve; print the figures as JSON (run in a child)."""
    import resource

    from render import RenderOptions, render_timeline
    from render.backends import LyriaSettings
    from render.conductor import Conductor, ConductorOptions
    from render.master.stitch import PieceSource, plan_stitch
    from render.pipeline.job import prepare
    from render.pipeline.run import master_settings
    from render.spool.store import Spool, SpoolMeta

    os.environ["GEMINI_API_KEY"] = KEY
    timeline = {"duration": minutes * 60, "seed": 1, "prompts": {"Cello": 1.0},
                "events": [{"at": minutes * 30, "prompts": {"Harp": 1.0}}],
                "output": {"name": "long", "formats": ["wav"]}}
    options = RenderOptions(backend="lyria", lyria=LyriaSettings(base_url=info["base_url"],
                                                                 ca_cert=Path(info["ca_cert"])))
    t0 = time.monotonic()
    if full:
        render_timeline(timeline, out, options)
    else:
        p = prepare(timeline, out, options)
        spool = Spool.create(out / "spool", SpoolMeta(name="long", timeline_sha256=p.audio_hash, schedule_digest="-"))
        conductor = Conductor(p.backend, p.schedule, spool, ConductorOptions(control_lead_s=0.0))

        async def go() -> None:
            async for _ in conductor.run():
                pass

        asyncio.run(go())
        piece = PieceSource(plan_stitch(spool.segments(), master_settings(p)), master_settings(p))
        for start in range(0, piece.frames, 10 * SAMPLE_RATE):
            piece.read(start, start + 10 * SAMPLE_RATE)
        spool.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rss_mb": peak_kb / 1024, "wall_s": time.monotonic() - t0}))


def measure_rss(minutes: float, chunk_s: float, full: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="lyria-bench-rss-") as tmp:
        proc, info = start_server(Path(tmp), chunk_s, "--pace", "fast", "--engine", "tone")
        try:
            child = subprocess.run(
                [sys.executable, __file__, "--rss-child", json.dumps(info), "--rss-minutes", str(minutes),
                 "--out", str(Path(tmp) / "out")] + (["--full"] if full else []),
                capture_output=True, text=True, check=False)
        finally:
            stop_server(proc)
    if child.returncode != 0:
        raise SystemExit(f"the RSS child failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--chunk-s", type=float, default=2.0)
    parser.add_argument("--rss-minutes", type=float, default=60.0)
    parser.add_argument("--full", action="store_true", help="the RSS figure from a whole render with export")
    parser.add_argument("--skip-realtime", action="store_true")
    parser.add_argument("--engine", default="offline", help="serve's engine for the realtime run: offline or tone")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(json.loads(args.rss_child), args.rss_minutes, Path(args.out), args.full)
        return
    if not args.skip_realtime:
        realtime(args)
    rss = measure_rss(args.rss_minutes, args.chunk_s, args.full)
    what = "whole render" if args.full else "conduct + seam plan + stitched read"
    print(f"RSS, {args.rss_minutes:g} min   {rss['rss_mb']:.0f} MB peak ({what}, serve --pace fast --engine tone, "
          f"{rss['wall_s']:.0f} s; goal < 300 MB)")


def realtime(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="lyria-bench-") as tmp:
        proc, info = start_server(Path(tmp), args.chunk_s, "--pace", "realtime", "--engine", args.engine)
        try:
            figures = asyncio.run(render(info, args.seconds))
        finally:
            stop_server(proc)
    print(f"audio            {figures['audio_s']:.2f} s ({args.chunk_s} s chunks, serve --pace realtime "
          f"--engine {args.engine})")
    print(f"wall             {figures['wall_s']:.2f} s")
    print(f"wall / audio     {figures['ratio']:.3f}  (goal <= 1.05 + start latency)")
    print(f"start latency    {figures['start_latency_s']:.3f} s; after it: {figures['ratio_after_start']:.3f}")
    print(f"max chunk gap    {figures['max_gap_s']:.3f} s")
    print(f"client CPU       {figures['client_cpu_s']:.2f} s = {100 * figures['client_cpu_share']:.2f} % of one core (goal < 5 %)")


if __name__ == "__main__":
    main()
