#!/bin/bash
# Builds the bench's analysis environment: independent audio analysis tools, never a runtime
# dependency of lyria-render. librosa (tempo, chroma, onsets), musicnn (a MagnaTagATune/MSD
# tagger whose weights ship inside its wheel) on tensorflow-cpu, soundfile, scipy.
# Usage: bash bench/analysis/make-env.sh [DIR]   (default: .analysis-venv in the current folder)
# A copy of the team's shared make-analysis-env.sh. musicnn needs tensorflow-cpu 2.15 with
# numpy<2 and Python 3.11; musicnn is installed with --no-deps (its pinned requirements are
# older than these and do not install).
set -euo pipefail
V=${1:-.analysis-venv}
if [[ -x $V/bin/python && -f $V/.ok ]]; then echo "$V ready"; exit 0; fi
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -m venv "$V"
"$V/bin/pip" install -q --upgrade pip
"$V/bin/pip" install -q "numpy<2" "tensorflow-cpu==2.15.1" librosa soundfile pyloudnorm scipy mutagen matplotlib
"$V/bin/pip" install -q --no-deps musicnn
touch "$V/.ok"
echo "$V ready"
