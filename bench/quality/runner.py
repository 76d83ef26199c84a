"""Render the bench's jobs with the public API, and run the analysis companion.

Rendering uses only ``render.render_timeline`` with ``backend="offline"``. The analysis
runs in a separate Python environment (librosa, musicnn on TensorFlow) that is never a
dependency of the project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .cases import Job

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
COMPANION = BENCH / "analysis" / "engine_analysis.py"
MAKE_ENV = BENCH / "analysis" / "make-env.sh"
ENV_VAR = "LYRIA_RENDER_ANALYSIS_VENV"


class BenchError(Exception):
    """A problem the bench cannot work around; the message says what to do."""


def analysis_python() -> Path:
    """The analysis venv's python: ``$LYRIA_RENDER_ANALYSIS_VENV`` or ``.analysis-venv`` in
    the repository, built with bench/analysis/make-env.sh when it is missing."""
    venv = Path(os.environ.get(ENV_VAR) or REPO / ".analysis-venv")
    python = venv / "bin" / "python"
    if python.exists() and (venv / ".ok").exists():
        return python
    print(f"analysis venv {venv} is missing: building it (a few minutes) ...", file=sys.stderr, flush=True)
    done = subprocess.run(["bash", str(MAKE_ENV), str(venv)], stdout=sys.stderr)
    if done.returncode or not python.exists():
        raise BenchError(f"could not build the analysis venv at {venv} (exit {done.returncode}); build it by hand "
                         f"with `bash {MAKE_ENV.relative_to(REPO)} {venv}` (needs Python 3.11 and network access "
                         f"to PyPI) or point {ENV_VAR} at a venv with librosa, musicnn, tensorflow-cpu")
    return python


def _render_one(timeline: dict, out_dir: str) -> str:
    from render import RenderOptions, render_timeline

    result = render_timeline(timeline, out_dir, RenderOptions(backend="offline", formats=("wav",)))
    if result.backend != "offline":
        raise BenchError(f"{timeline['title']}: rendered by {result.backend}, not the offline engine")
    return str(next(f.path for f in result.files if f.format == "wav"))


def render_section(jobs: list[Job], out_dir: Path, workers: int) -> tuple[list[dict], float]:
    """Render every job (in ``workers`` processes); the manifest entries and the wall time."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        paths = list(pool.map(_render_one, [j.timeline for j in jobs], [str(out_dir)] * len(jobs)))
    entries = [{"name": j.name, "wav": p, "meta": j.meta} for j, p in zip(jobs, paths)]
    return entries, time.perf_counter() - started


def analyse(python: Path, sections: dict[str, list[dict]], work: Path) -> dict:
    """Run the companion on the rendered files; its results per section."""
    manifest, results = work / "manifest.json", work / "results.json"
    manifest.write_text(json.dumps({"sections": sections}, indent=1), encoding="utf-8")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(python), str(COMPANION), str(manifest), str(results)], stdout=sys.stderr, env=env)
    if done.returncode:
        raise BenchError(f"the analysis failed (exit {done.returncode}); its manifest is {manifest}")
    return json.loads(results.read_text(encoding="utf-8"))
