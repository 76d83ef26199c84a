"""Batch speed: 16 short offline jobs with --jobs 1 and --jobs 2, and a no-op run over 200
up-to-date jobs (the hash check must not decode audio).

Goals (issue 6): speed-up >= 1.7x on 2 cores; no-op batch of 200 jobs under 2 s.

Run:  .venv/bin/python bench/batch.py            (about a minute on 2 cores)
      .venv/bin/python bench/batch.py --noop 50  (quicker)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from render.batch.render import render_batch
from render.batch.results import BatchOptions
from render.pipeline.job import RenderOptions

PROMPTS = ["Piano", "Techno", "Ambient", "Bossa Nova", "Heavy Metal", "Chiptune", "Lo-Fi Hip Hop", "Cello"]


def write_jobs(folder: Path, count: int, durations_s: tuple[float, ...]) -> None:
    """``count`` timelines in four sub-folders, single WAV output."""
    for i in range(count):
        sub = folder / f"set{i % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"job{i:03d}.yaml").write_text(
            f"version: 1\nduration: {durations_s[i % len(durations_s)]}s\nseed: {i}\n"
            f"prompts:\n  {PROMPTS[i % len(PROMPTS)]}: 1.0\n  Calm: 0.5\noutput:\n  formats: [wav]\n",
            encoding="utf-8")


def timed_batch(src: Path, out: Path, jobs: int, **kw: object) -> tuple[float, object]:
    options = BatchOptions(render=RenderOptions(backend="offline"), jobs=jobs, **kw)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    result = render_batch([src], out, options)
    return time.perf_counter() - t0, result


def speedup(work: Path, count: int) -> None:
    src = work / "speed"
    write_jobs(src, count, (4.0, 5.0, 6.0))
    timed_batch(src, work / "warm", 1, shard=(1, count))  # import and cache warm-up (one job)
    serial_s, serial = timed_batch(src, work / "j1", 1)
    parallel_s, parallel = timed_batch(src, work / "j2", 2)
    assert serial.exit_code == parallel.exit_code == 0, (serial.counts, parallel.counts)  # type: ignore[attr-defined]
    same = all((work / "j1" / p.relative_to(work / "j2")).read_bytes() == p.read_bytes()
               for p in (work / "j2").rglob("*.wav"))
    audio_s = sum(j.duration_s or 0 for j in serial.jobs)  # type: ignore[attr-defined]
    print(f"{count} offline jobs ({audio_s:.0f} s of audio, wav):")
    print(f"  --jobs 1: {serial_s:6.2f} s   ({audio_s / serial_s:5.1f}x real time)")
    print(f"  --jobs 2: {parallel_s:6.2f} s   ({audio_s / parallel_s:5.1f}x real time)")
    print(f"  speed-up: {serial_s / parallel_s:.2f}x (goal >= 1.7x on 2 cores); identical files: {same}")


def noop(work: Path, count: int) -> None:
    src, out = work / "noop", work / "noop_out"
    write_jobs(src, count, (4.0,))
    render_s, first = timed_batch(src, out, os.cpu_count() or 1)
    assert first.exit_code == 0, first.counts  # type: ignore[attr-defined]
    size_mb = sum(p.stat().st_size for p in out.rglob("*.wav")) / 1e6
    print(f"{count} up-to-date jobs (rendered first in {render_s:.1f} s; {size_mb:.0f} MB of wav hashed per check):")
    runs = []
    for _ in range(3):
        noop_s, again = timed_batch(src, out, 2)
        assert again.counts == {"skipped": count}, again.counts  # type: ignore[attr-defined]
        runs.append(noop_s)
    print(f"  no-op batch (library):   best {min(runs):.2f} s, worst {max(runs):.2f} s (goal < 2 s)")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "render", "--quiet", "batch", str(src), "-o", str(out),
                           "--backend", "offline"], cwd=ROOT, capture_output=True, text=True)
    cli_s = time.perf_counter() - t0
    print(f"  no-op batch (CLI, incl. interpreter start and imports): {cli_s:.2f} s, exit {done.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs-count", type=int, default=16, help="jobs in the speed-up run")
    parser.add_argument("--noop", type=int, default=200, help="jobs in the no-op run")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        speedup(Path(tmp), args.jobs_count)
        noop(Path(tmp), args.noop)


if __name__ == "__main__":
    main()
