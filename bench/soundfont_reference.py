"""Benchmark: our SoundFont player against FluidSynth, note by note (issue 13).

FluidSynth is the reference SoundFont synthesizer; here it is only a measuring tool, run
as the ``fluidsynth`` program when it is on PATH (Debian: ``apt-get install fluidsynth``),
never a dependency. Each GM program below plays keys 48, 64 and 76 at velocity 100 for 2 s
through both players (FluidSynth with reverb and chorus off, float output, no dither); the
table gives the spectral centroid of our note over FluidSynth's in four windows (attack,
body, late body, release), so envelopes, filters, modulators and loops are all compared.
Levels are not compared: the engine normalises every note, and FluidSynth scales
initialAttenuation by 0.4.

    .venv/bin/python bench/soundfont_reference.py          # the bank bench/soundfont.py finds
    .venv/bin/python bench/soundfont_reference.py --bank path/to/bank.sf2
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soundfont import find_bank  # noqa: E402

PROGRAMS = {0: "piano", 24: "nylon guitar", 40: "violin", 46: "harp", 48: "strings", 52: "choir",
            56: "trumpet", 73: "flute", 104: "sitar"}
KEYS = (48, 64, 76)
VELOCITY = 100
RATE = 48_000
WINDOWS = ((0.0, 0.1), (0.1, 0.5), (0.5, 1.5), (2.0, 2.5))  # seconds; the key is let go at 2.0 s


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.insert(0, (n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out)


def midi_note(program: int, key: int, velocity: int) -> bytes:
    """A one-track MIDI file: program change, the note held 2 s (480 ticks a beat, 120 bpm),
    then 3 s of tail."""
    events = (_vlq(0) + bytes([0xC0, program]) + _vlq(0) + bytes([0x90, key, velocity])
              + _vlq(1920) + bytes([0x80, key, 0]) + _vlq(2880) + bytes([0xFF, 0x2F, 0]))
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
            + b"MTrk" + struct.pack(">I", len(events)) + events)


def fluidsynth_note(exe: str, bank: Path, program: int, key: int, work: Path) -> np.ndarray:
    mid, wav = work / "note.mid", work / "note.wav"
    mid.write_bytes(midi_note(program, key, VELOCITY))
    subprocess.run([exe, "-ni", "-q", "-R", "0", "-C", "0", "-g", "1", "-r", str(RATE),
                    "-o", "audio.file.format=float", "-F", str(wav), str(bank), str(mid)],
                   check=True, capture_output=True)
    audio, _ = sf.read(wav, dtype="float64")
    mono = audio.mean(axis=1)
    return mono[int(np.argmax(np.abs(mono) > 1e-5)):]  # from the note's first sound


def centroid(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float((spec * np.fft.rfftfreq(x.size, 1 / RATE)).sum() / max(spec.sum(), 1e-12))


def compare(bank_path: Path, exe: str) -> list[float]:
    from render.soundfont import load_bank, render_note

    ratios: list[float] = []
    with load_bank(bank_path) as bank, tempfile.TemporaryDirectory() as tmp:
        print(f"{'program':<18}{'key':>4}  " + "  ".join(f"{a:.1f}-{b:.1f} s" for a, b in WINDOWS)
              + "   (our centroid / FluidSynth's)")
        for program, label in PROGRAMS.items():
            preset = bank.find_preset(program)
            if preset is None:
                continue
            for key in KEYS:
                ours = render_note(bank, preset, key, VELOCITY, 2.0).mean(axis=1).astype(np.float64)
                ref = fluidsynth_note(exe, bank_path, program, key, Path(tmp))
                row = []
                for a, b in WINDOWS:
                    lo, hi = int(a * RATE), int(b * RATE)
                    r = centroid(ours[lo:hi]) / centroid(ref[lo:hi])
                    ratios.append(r)
                    row.append(f"{r:9.3f}")
                print(f"{program:>3} {label:<14}{key:>4}  " + "  ".join(row))
    return ratios


def summary(ratios: list[float]) -> str:
    apart = np.abs(np.log(ratios))

    def within(pct: float) -> float:
        return float(np.mean(apart <= np.log1p(pct / 100)) * 100)

    return (f"centroid agreement over {apart.size} windows: "
            f"median {100 * np.expm1(np.median(apart)):.1f} % apart, "
            f"{within(2):.0f} % of windows within 2 %, {within(10):.0f} % within 10 %, "
            f"worst {100 * np.expm1(apart.max()):.0f} %")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bank", type=Path, help="the bank (default: found as bench/soundfont.py finds one)")
    args = ap.parse_args(argv)
    exe = shutil.which("fluidsynth")
    bank = args.bank or find_bank(None)
    if exe is None or bank is None:
        print("soundfont reference bench: needs the fluidsynth program on PATH and a GM bank; skipped",
              file=sys.stderr)
        return 0
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"bank: {bank}; reference: {version}")
    print("\n" + summary(compare(bank, exe)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
