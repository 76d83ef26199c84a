"""Bench: how far the stems' sum is from the mix (before limiting), offline and through ``serve``.

Offline stems come from the engine's own groups; Lyria stems come from separate sessions
with the mute flags set, so they are approximate. ``python -m render serve`` (the offline
engine behind Lyria's protocol, on 127.0.0.1) stands in for the service here: it shows the
mechanism's error when every session is deterministic; the real service adds its own
session-to-session variation on top. Prints the sum error (dB relative to the mix) and each
stem's level; loudness -30 LUFS and float WAV so the limiter never acts.

    .venv/bin/python bench/stems.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lyria import KEY, start_server  # noqa: E402

from render import RenderOptions, render_timeline  # noqa: E402
from render.backends import LyriaSettings  # noqa: E402

STEMS = ("drums", "bass", "other")


def timeline(seconds: float) -> dict:
    return {"duration": seconds, "seed": 7, "prompts": {"Techno": 1.0, "Rhodes Piano": 0.6},
            "config": {"bpm": 124, "scale": "F_MAJOR_D_MINOR"},
            "events": [{"at": seconds / 2, "label": "lift", "weights": {"Rhodes Piano": 1.2}}],
            "output": {"name": "mix", "formats": ["wav"], "bit_depth": 32, "loudness_lufs": -30.0,
                       "stems": list(STEMS)}}


def measure(out: Path) -> dict[str, float]:
    mix = sf.read(out / "mix.wav", always_2d=True)[0]
    parts = {s: sf.read(out / f"mix.{s}.wav", always_2d=True)[0] for s in STEMS}
    rms = lambda x: float(np.sqrt(np.mean(x**2)) + 1e-12)  # noqa: E731
    figures = {f"{s} dBFS": 20 * np.log10(rms(x)) for s, x in parts.items()}
    figures["sum error dB"] = 20 * np.log10(rms(mix - sum(parts.values())) / rms(mix))
    limited = json.loads((out / "mix.manifest.json").read_text())["master"]["limiter_frames_limited"]
    figures["limited frames"] = float(limited)
    return figures


def run(name: str, out: Path, options: RenderOptions, seconds: float) -> None:
    t = time.perf_counter()
    render_timeline(timeline(seconds), out, options)
    wall = time.perf_counter() - t
    figures = measure(out)
    print(f"{name:8s} wall {wall:6.1f} s  " + "  ".join(f"{k} {v:7.1f}" for k, v in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stems-bench-") as tmp:
        run("offline", Path(tmp) / "offline", RenderOptions(backend="offline"), args.seconds)
        proc, info = start_server(Path(tmp), 2.0, "--pace", "fast")
        os.environ["GEMINI_API_KEY"] = KEY
        try:
            lyria = LyriaSettings(base_url=info["base_url"], ca_cert=Path(info["ca_cert"]))
            run("serve", Path(tmp) / "serve", RenderOptions(backend="lyria", lyria=lyria), args.seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
