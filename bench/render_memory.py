"""Peak memory of a long offline render (issue 4: 30 minutes under 300 MB RSS).

Renders a 30-minute timeline with the offline engine through the full pipeline
(conductor, spool, master, WAV + MP3 export) in a fresh process and prints its peak
RSS and wall time. Usage: python bench/render_memory.py [--minutes 30] [--formats wav,mp3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, resource, sys, time
from render import render_timeline, RenderOptions
minutes, formats, out = float(sys.argv[1]), tuple(sys.argv[2].split(",")), sys.argv[3]
timeline = {
    "duration": minutes * 60, "seed": 3,
    "prompts": {"Deep House": 1.0, "Piano": 0.7, "Synth Pads": 0.5, "Funk Drums": 0.8},
    "config": {"bpm": 122, "scale": "G_MAJOR_E_MINOR", "density": 0.8, "brightness": 0.6},
    "events": [{"at": minutes * 30, "config": {"density": 0.4}, "ramp": 8}],
    "output": {"name": "long", "formats": list(formats)},
}
t0 = time.perf_counter()
result = render_timeline(timeline, out, RenderOptions(backend="offline"))
wall = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "peak_rss_mb": peak_mb, "lufs": result.loudness_lufs,
                  "true_peak_dbtp": result.true_peak_dbtp, "timings": result.manifest.get("timings_s")}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--formats", default="wav,mp3")
    args = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, str(args.minutes), args.formats, out],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(f"render failed:\n{proc.stderr}")
        stats = json.loads(proc.stdout.strip().splitlines()[-1])
    audio_s = args.minutes * 60
    print(f"offline render of {args.minutes:g} min ({args.formats}): wall {stats['wall_s']:.1f} s "
          f"({audio_s / stats['wall_s']:.1f}x real time), peak RSS {stats['peak_rss_mb']:.0f} MB "
          f"(goal < 300 MB), {stats['lufs']} LUFS, {stats['true_peak_dbtp']} dBTP")
    for stage, seconds in (stats.get("timings") or {}).items():
        print(f"  {stage:<24} {seconds:8.2f} s")
    print(f"(total incl. process start {time.perf_counter() - started:.1f} s; "
          f"this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
