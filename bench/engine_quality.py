"""Benchmark: does the offline engine sound like its prompts? Measured with independent tools.

Renders deterministic timelines with the offline engine through the public API
(``render.render_timeline``, backend "offline"), analyses the WAVs with librosa and the
musicnn MagnaTagATune tagger in a separate venv (bench/analysis/, never the engine's
own code), and prints one table, each figure next to its goal (issue 12):

  a. tagger hit rate        b. librosa tempo agreement     c. energy outside the scale
  d. brightness/density monotonicity   e. event timing error   f. 4-bar self-similarity

Run it with the project's python (``make bench`` runs every bench/*.py):

    .venv/bin/python bench/engine_quality.py            # full: about 10 min on 2 cores
    .venv/bin/python bench/engine_quality.py --quick    # shorter renders: a few minutes
    .venv/bin/python bench/engine_quality.py --sections tagger --prompt-set heldout --seeds 11,12
    .venv/bin/python bench/engine_quality.py --sections tagger --prompt-set fresh --seeds 3,4
    .venv/bin/python bench/engine_quality.py --prompts "Mandolin=guitar,Opera=opera" --seeds 7

The analysis venv is ``$LYRIA_RENDER_ANALYSIS_VENV`` or ``.analysis-venv`` in the repository,
built on first use by bench/analysis/make-env.sh (librosa, musicnn, tensorflow-cpu;
Python 3.11). The bench prints figures and exits 0; ``--strict`` exits 1 when a goal is
missed. ``--keep DIR`` keeps the renders, the manifest and the raw results.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import cases, report, runner  # noqa: E402


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers separated by commas") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one seed")
    return values


def _sections(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(cases.SECTIONS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{','.join(unknown) or text!r}: choose from {','.join(cases.SECTIONS)}")
    return [s for s in cases.SECTIONS if s in chosen]


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter renders (tagger 15 s, form 60 s ...)")
    ap.add_argument("--seeds", type=_int_list, default=[1, 2], help="tagger seeds, e.g. 1,2 (default)")
    ap.add_argument("--prompts", help='tagger prompts as "PROMPT=TAG,...", TAG one of the 50 MTT tags')
    ap.add_argument("--prompt-set", choices=sorted(cases.PROMPT_SETS), default="default",
                    help="a built-in tagger prompt list (ignored with --prompts)")
    ap.add_argument("--sections", type=_sections, default=list(cases.SECTIONS),
                    help=f"comma-separated subset of {','.join(cases.SECTIONS)}")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="render processes (default 2)")
    ap.add_argument("--keep", type=Path, help="keep renders, manifest and results.json in this folder")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = ap.parse_args(argv)
    try:
        args.prompt_map = cases.parse_prompts(args.prompts) if args.prompts else cases.PROMPT_SETS[args.prompt_set]
    except ValueError as exc:
        ap.error(str(exc))
    return args


def run(args: argparse.Namespace, work: Path) -> list[report.Section]:
    python = runner.analysis_python()  # before rendering: fail early if it cannot be built
    jobs = cases.build_jobs(args.sections, args.prompt_map, args.seeds, args.quick)
    manifest, render_s = {}, {}
    for section, section_jobs in jobs.items():
        print(f"render: {section} ({len(section_jobs)} timelines)", file=sys.stderr, flush=True)
        manifest[section], render_s[section] = runner.render_section(section_jobs, work / section, args.jobs)
    results = runner.analyse(python, manifest, work)
    sections = []
    for section, section_jobs in jobs.items():
        meta = {j.name: j.meta for j in section_jobs}
        rows = report.JUDGES[section](results[section], meta)
        rows[0].seconds = render_s[section] + results[section]["seconds"]
        took = f"  time: render {render_s[section]:.0f} s, analysis {results[section]['seconds']:.0f} s"
        rows[0].details.append(took)
        sections += rows
    return sections


def _title(args: argparse.Namespace) -> str:
    from render import __version__

    mode = "quick" if args.quick else "full"
    return (f"lyria-render {__version__} offline engine quality ({mode}; tagger: {len(args.prompt_map)} prompts x "
            f"seeds {','.join(map(str, args.seeds))})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="engine-quality-"))
    try:
        sections = run(args, work)
    except runner.BenchError as exc:
        print(f"engine_quality: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(report.format_table(sections, _title(args)))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    missed = [s.label for s in sections if s.ok is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
