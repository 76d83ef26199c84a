"""Analysis companion of bench/engine_quality.py; runs in the analysis venv, not the project's.

    .analysis-venv/bin/python bench/analysis/engine_analysis.py MANIFEST.json RESULTS.json

MANIFEST.json: {"sections": {section: [{"name", "wav", "meta"}, ...]}} as written by the
bench. RESULTS.json: {section: {..figures.., "seconds": analysis wall time}}. Uses only
librosa, musicnn (TensorFlow), numpy, scipy and soundfile: never the engine's own code.
Progress goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _runners() -> dict:
    import changepoint
    import measures
    import tagger

    return {"tagger": tagger.run, "tempo": measures.run_tempo, "scale": measures.run_scale,
            "mono": measures.run_mono, "events": changepoint.run, "form": measures.run_form}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    manifest_path, results_path = argv
    with open(manifest_path, encoding="utf-8") as fh:
        sections = json.load(fh)["sections"]
    warnings.filterwarnings("ignore", category=UserWarning)  # musicnn's tf.layers deprecations
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    runners = _runners()
    results = {}
    for section, renders in sections.items():
        print(f"analysis: {section} ({len(renders)} files)", file=sys.stderr, flush=True)
        started = time.perf_counter()
        results[section] = runners[section](renders)
        results[section]["seconds"] = round(time.perf_counter() - started, 1)
    with open(results_path, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
