"""Benchmark the master/export stages on 10 minutes of music-like audio, on one core.

Prints x real time for each stage (stitch, loudness, true-peak meter, limiter, WAV, MP3
(pedalboard and libsndfile), FLAC, resample), for the whole ``finish()`` (WAV + MP3), and
the peak RSS of a separate process that masters 30 minutes.

    .venv/bin/python bench/master.py            # 10 min + 30 min RSS
    .venv/bin/python bench/master.py --minutes 2 --rss-minutes 5
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as the goal is stated

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from render.audio import Segment
from render.export.finish import finish
from render.export.writers import ExportSettings, TagSet, open_writers
from render.master.limiter import TruePeakLimiter
from render.master.meter import LoudnessMeter, TruePeakMeter
from render.master.stitch import MasterSettings, PieceSource, plan_stitch

FS = 48_000
BLOCK = 240_000


def write_music_like(path: Path, frames: int, seed: int = 0) -> None:
    """Pink noise with a 2 Hz beat envelope, a bass tone and a kick, written as int16 in pieces."""
    rng = np.random.default_rng(seed)
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    zi = np.zeros((3, 2))
    with open(path, "wb") as f:
        for start in range(0, frames, BLOCK):
            n = min(BLOCK, frames - start)
            pink, zi = lfilter(b, a, rng.standard_normal((n, 2)), axis=0, zi=zi)
            t = (start + np.arange(n)) / FS
            beat = 0.35 + 0.65 * np.exp(-8 * np.mod(t, 0.5))[:, None]
            bass = 0.25 * np.sin(2 * np.pi * 55 * t)[:, None]
            phase = np.mod(t, 0.5)
            kick = (0.35 * np.sin(2 * np.pi * 60 * phase) * np.exp(-phase / 0.03))[:, None]
            x = 0.3 * pink * beat + bass * beat + kick
            f.write(np.clip(np.rint(x * 32768), -32768, 32767).astype("<i2").tobytes())


def make_spool(d: Path, minutes: float) -> tuple[list[Segment], MasterSettings]:
    """Two sessions overlapping by 5 s (a rotation seam) plus 5 s of lead-in."""
    lead, dur = 5 * FS, int(minutes * 60 * FS)
    total = lead + dur
    first = total // 2 + 5 * FS
    write_music_like(d / "a.pcm", first, seed=1)
    write_music_like(d / "b.pcm", total - (total // 2), seed=2)
    segs = [
        Segment(path=d / "a.pcm", start=0, frames=first, label="session 1"),
        Segment(path=d / "b.pcm", start=total // 2, frames=total - total // 2, label="session 2 (rotation)"),
    ]
    return segs, MasterSettings(duration_frames=dur, lead_in_frames=lead, fade_out_frames=5 * FS)


def timed(label: str, seconds_audio: float, fn) -> float:
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    print(f"  {label:<34} {dt:7.2f} s  {seconds_audio / dt:7.1f}x real time", flush=True)
    return dt


def stage_bench(d: Path, segs: list[Segment], settings: MasterSettings) -> None:
    audio_s = settings.duration_frames / FS
    source = PieceSource(plan_stitch(segs, settings), settings)
    spans = [(a, min(a + BLOCK, source.frames)) for a in range(0, source.frames, BLOCK)]
    timed("stitch (pread, seam, fades)", audio_s, lambda: [source.read(a, b) for a, b in spans])
    blocks = [source.read(a, b) * np.float32(2.0) for a, b in spans[:24]]  # 2 min kept for the rest
    part_s = sum(b.shape[0] for b in blocks) / FS
    scale = audio_s / part_s
    print(f"  (stages below run on {part_s:.0f} s, figures are per real time)")

    def run(cls_or_fn):
        return lambda: cls_or_fn()

    def loud():
        m = LoudnessMeter(FS, 2)
        for x in blocks:
            m.feed(x)
        m.integrated_lufs(), m.lra_lu()

    def peak():
        m = TruePeakMeter(2)
        for x in blocks:
            m.feed(x)
        m.finish()

    def limit():
        lim = TruePeakLimiter(FS, 2, ceiling_dbtp=-1.3)
        for x in blocks:
            lim.process(x)
        lim.flush()
        print(f"    (limiter reduced up to {lim.max_reduction_db:.1f} dB on {lim.frames_limited / FS:.1f} s)")

    def writer(fmt: str, **kw):
        def go():
            (w,) = open_writers(d, f"bench_{fmt}", ExportSettings(formats=(fmt,), **kw), TagSet())
            for x in blocks:
                w.write(x * np.float32(0.5))
            w.close()
            w.commit(TagSet(), None)
        return go

    def sf_mp3(mode: str, level: float):
        import soundfile as sf

        def go():
            with sf.SoundFile(d / "sf.mp3", "w", FS, 2, format="MP3", compression_level=level, bitrate_mode=mode) as f:
                for x in blocks:
                    f.write(x * np.float32(0.5))
        return go

    def resample():
        from scipy.signal import resample_poly

        for x in blocks:
            resample_poly(x, 147, 160, axis=0)

    del run
    for label, fn in [
        ("loudness (BS.1770 + LRA)", loud),
        ("true-peak meter 8x", peak),
        ("limiter (8x detect, look-ahead)", limit),
        ("WAV PCM_16", writer("wav")),
        ("MP3 VBR -V2 (pedalboard)", writer("mp3")),
        ("MP3 CBR 320 (pedalboard)", writer("mp3", mp3_mode="cbr")),
        ("MP3 VBR -V2 (libsndfile)", sf_mp3("VARIABLE", 0.2)),
        ("MP3 CBR 320 (libsndfile)", sf_mp3("CONSTANT", 0.0)),
        ("FLAC PCM_16", writer("flac")),
        ("resample 48k -> 44.1k (poly)", resample),
    ]:
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        print(f"  {label:<34} {dt * scale:7.2f} s  {part_s / dt:7.1f}x real time", flush=True)


def whole_bench(d: Path, segs: list[Segment], settings: MasterSettings, formats: tuple[str, ...], rate: int) -> None:
    t = time.perf_counter()
    report = finish(segs, settings, ExportSettings(formats=formats, sample_rate=rate), d, f"whole_{rate}", TagSet())
    dt = time.perf_counter() - t
    audio_s = settings.duration_frames / FS
    print(f"  finish() {'+'.join(formats)} @ {rate} Hz: {dt:.1f} s = {audio_s / dt:.1f}x real time")
    print(f"    stages: {json.dumps(report.timings_s)}")
    print(f"    gain {report.gain_db} dB, limiter max {report.limiter_max_reduction_db} dB, "
          f"after {json.dumps(report.loudness_after)}")
    print(f"    notes: {report.notes}")


def rss_child(minutes: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        segs, settings = make_spool(d, minutes)
        t = time.perf_counter()
        finish(segs, settings, ExportSettings(formats=("wav", "mp3")), d, "long", TagSet())
        dt = time.perf_counter() - t
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  {minutes:.0f} min master (WAV + MP3): {dt:.1f} s = {minutes * 60 / dt:.1f}x, "
              f"peak RSS {rss_mb:.0f} MB (getrusage), VmHWM {_vm_hwm_mb()} MB")


def _vm_hwm_mb() -> str:
    """Peak RSS of this process image from /proc (getrusage also counts the parent's peak
    before exec, because Linux folds the forking process's high-water mark in)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return f"{int(line.split()[1]) / 1024:.0f}"
    except OSError:
        pass
    return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rss-minutes", type=float, default=30.0)
    parser.add_argument("--rss-child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    if args.rss_minutes:  # first, while this parent process is still small
        print("memory:")
        subprocess.run([sys.executable, __file__, "--rss-child", str(args.rss_minutes)], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        segs, settings = make_spool(d, args.minutes)
        print(f"stages on {args.minutes:g} min of music-like audio (one core):")
        stage_bench(d, segs, settings)
        print("whole post-processing:")
        whole_bench(d, segs, settings, ("wav", "mp3"), FS)
        whole_bench(d, segs, settings, ("wav", "mp3", "flac"), 44_100)


if __name__ == "__main__":
    main()
