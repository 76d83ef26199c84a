"""Benchmark: the offline engine played through a real General MIDI SoundFont bank (issue 13).

Finds a bank (``$LYRIA_RENDER_SOUNDFONT``; /usr/share/sounds/sf2 and sf3, e.g. Debian's
fluid-soundfont-gm or musescore-general-soundfont; else pretty_midi's TimGM6mb.sf2 in the
analysis venv only: GPL-2, never a dependency of the project, never copied into it) and prints:

  * bank load time and speed: a dense 4-part arrangement rendered warm on one core,
    as a multiple of real time (goal >= 80x), and the peak RSS of the process;
  * the tagger adherence table of bench/engine_quality.py (same prompts, same judge),
    procedural voices and bank voices side by side (goal >= 85 % with a full GM bank).

    .venv/bin/python bench/soundfont.py             # tagger renders of 30 s
    .venv/bin/python bench/soundfont.py --quick     # 15 s renders, one seed
    .venv/bin/python bench/soundfont.py --bank path/to/bank.sf2 --speed-only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import cases, report, runner  # noqa: E402

ENV = "LYRIA_RENDER_SOUNDFONT"
DENSE = [("Jazz Fusion", 1.0), ("Funk", 0.8), ("Strings", 0.6), ("Piano", 0.6)]  # drums, bass, keys, strings/lead


def find_bank(python: Path | None) -> Path | None:
    """The first real GM bank found (see the module docstring)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    for folder, ext in (("/usr/share/sounds/sf2", "sf2"), ("/usr/share/sounds/sf3", "sf3")):
        found = sorted(p for p in Path(folder).glob(f"*.{ext}") if p.resolve().is_file()) if Path(folder).is_dir() else []
        full = [p for p in found if "lite" not in p.name.lower()] or found
        if full:
            return max(full, key=lambda p: p.resolve().stat().st_size)
    if python is not None:  # pretty_midi's bundled bank, in the bench's own env only
        code = "import pretty_midi, pathlib; print(pathlib.Path(pretty_midi.__file__).parent / 'TimGM6mb.sf2')"
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        if done.returncode == 0 and Path(done.stdout.strip()).is_file():
            return Path(done.stdout.strip())
    return None


def _render(backend, seconds: float) -> float:
    """Wall seconds to render ``seconds`` of the dense arrangement through ``backend``."""
    from render.controls import GenerationConfig, WeightedPrompt

    async def go() -> float:
        async with backend.connect() as session:
            await session.set_weighted_prompts([WeightedPrompt(text=t, weight=w) for t, w in DENSE])
            await session.set_music_generation_config(GenerationConfig(bpm=128, density=0.9, seed=1))
            started = time.perf_counter()
            for _ in range(int(seconds * 48_000) // session.chunk_frames):
                session.render_chunk()
            return time.perf_counter() - started

    return asyncio.run(go())


def speed(bank: Path | None, seconds: float) -> dict[str, float]:
    """Load time, cold and warm real-time factors, peak RSS (this process, one core)."""
    from render.backends.offline import OfflineBackend

    started = time.perf_counter()
    backend = OfflineBackend(soundfont=bank)
    load = time.perf_counter() - started
    cold = _render(backend, seconds)
    warm = _render(backend, seconds)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"load_s": load, "cold_x": seconds / cold, "warm_x": seconds / warm, "rss_mb": rss}


def _speed_child(bank: Path | None, seconds: float) -> dict[str, float]:
    """:func:`speed` in a fresh process, pinned to one core, so the RSS is the bank's own."""
    code = ("import json, os, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
            "hasattr(os, 'sched_setaffinity') and os.sched_setaffinity(0, {0}); import soundfont as b;"
            "print(json.dumps(b.speed(Path(sys.argv[2]) if sys.argv[2] else None, float(sys.argv[3]))))")
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(bank or ""), str(seconds)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def tagger(bank: Path | None, seeds: list[int], quick: bool, jobs: int, work: Path, python: Path) -> report.Section:
    """The tagger hit-rate section of bench/engine_quality.py, rendered with or without ``bank``."""
    if bank is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = str(bank)  # the render workers inherit it (render.pipeline.job reads it)
    section_jobs = cases.tagger_jobs(cases.TAGGER_PROMPTS, seeds, cases.Durations.for_mode(quick))
    entries, render_s = runner.render_section(section_jobs, work, jobs)
    results = runner.analyse(python, {"tagger": entries}, work)
    row = report.judge_tagger(results["tagger"], {j.name: j.meta for j in section_jobs}, 0.75 if bank is None else 0.85)[0]
    row.details.append(f"  time: render {render_s:.0f} s, analysis {results['tagger']['seconds']:.0f} s")
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bank", type=Path, help="the bank to use (default: found as the docstring says)")
    ap.add_argument("--quick", action="store_true", help="15 s tagger renders, seed 1 only")
    ap.add_argument("--seconds", type=float, default=60.0, help="audio seconds per speed pass (default 60)")
    ap.add_argument("--speed-only", action="store_true", help="skip the tagger table")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    python = None if args.speed_only else runner.analysis_python()
    bank = args.bank or find_bank(python)
    if bank is None:
        print("soundfont bench: no General MIDI bank found; set LYRIA_RENDER_SOUNDFONT or pass --bank", file=sys.stderr)
        return 0
    print(f"bank: {bank} ({bank.resolve().stat().st_size / 1e6:.1f} MB)")
    for label, which in (("procedural", None), ("soundfont", bank)):
        s = _speed_child(which, args.seconds)
        goal = "  (goal >= 80x warm)" if which else ""
        print(f"speed {label:<10}: load {s['load_s']:.2f} s, cold {s['cold_x']:.0f}x, warm {s['warm_x']:.0f}x real time,"
              f" peak RSS {s['rss_mb']:.0f} MB{goal}")
    if args.speed_only:
        return 0
    seeds = [1] if args.quick else [1, 2]
    work = Path(tempfile.mkdtemp(prefix="soundfont-bench-"))
    try:
        rows = [tagger(which, seeds, args.quick, args.jobs, work / label, python)
                for label, which in (("procedural", None), ("soundfont", bank))]
    except runner.BenchError as exc:
        print(f"soundfont bench: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows[0].label, rows[1].label = "tagger hit rate, procedural voices", f"tagger hit rate, {bank.name}"
    for row in rows:
        row.details.insert(0, f"  [{row.label}]")
    print(report.format_table(rows, "lyria-render offline engine: procedural voices vs SoundFont bank"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
