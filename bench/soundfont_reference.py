"""Benchmark: our SoundFont player against FluidSynth, note by note (issue 13).

FluidSynth is the reference SoundFont synthesizer; here it is only a measuring tool, run
as the ``fluidsynth`` program when it is on PATH (Debian: ``apt-get install fluidsynth``),
never a dependency. Each GM program below plays keys 48, 64 and 76 at velocity 100 for 2 s
through both players (FluidSynth with reverb and chorus off, float output, no dither); the
table gives the spectral centroid of our note over FluidSynth's in four windows (attack,
body, late body, release), so envelopes, filters, modulators and loops are all compared.
A last column compares loudness: our note's level over FluidSynth's (0.1-1.5 s, in dB),
less the median of that over all notes, since the two players' overall gains differ.

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


def level_db(x: np.ndarray) -> float:
    part = x[int(0.1 * RATE):int(1.5 * RATE)]
    return float(10 * np.log10(max(np.mean(part ** 2), 1e-20)))


def compare(bank_path: Path, exe: str) -> tuple[list[float], list[float]]:
    """Centroid ratios (every window of every note) and level differences (dB, one per note)."""
    from render.soundfont import load_bank, render_note

    ratios: list[float] = []
    rows: list[tuple[str, float]] = []
    with load_bank(bank_path) as bank, tempfile.TemporaryDirectory() as tmp:
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
                    ratios.append(centroid(ours[lo:hi]) / centroid(ref[lo:hi]))
                    row.append(f"{ratios[-1]:9.3f}")
                rows.append((f"{program:>3} {label:<14}{key:>4}  " + "  ".join(row), level_db(ours) - level_db(ref)))
    offset = float(np.median([db for _, db in rows]))
    print(f"{'program':<18}{'key':>4}  " + "  ".join(f"{a:.1f}-{b:.1f} s" for a, b in WINDOWS)
          + "   level   (centroid: ours / FluidSynth's; level: dB apart, less the median)")
    for text, db in rows:
        print(f"{text}  {db - offset:+6.1f}")
    return ratios, [db - offset for _, db in rows]


def summary(ratios: list[float], levels: list[float]) -> str:
    apart, db = np.abs(np.log(ratios)), np.abs(levels)

    def within(pct: float) -> float:
        return float(np.mean(apart <= np.log1p(pct / 100)) * 100)

    return (f"centroid agreement over {apart.size} windows: "
            f"median {100 * np.expm1(np.median(apart)):.1f} % apart, "
            f"{within(2):.0f} % of windows within 2 %, {within(10):.0f} % within 10 %, "
            f"worst {100 * np.expm1(apart.max()):.0f} %\n"
            f"level agreement over {db.size} notes: {np.mean(db <= 1.0) * 100:.0f} % within 1 dB, "
            f"worst {db.max():.1f} dB")


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
    print("\n" + summary(*compare(bank, exe)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
