"""Against the real Lyria RealTime service: needs a key and network, so skipped here and in CI.

Run with ``LYRIA_RENDER_LIVE=1 GEMINI_API_KEY=... pytest -m network``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import soundfile as sf

from render import RenderOptions, render_timeline

pytestmark = pytest.mark.network

LIVE = os.environ.get("LYRIA_RENDER_LIVE") == "1" and bool(
    os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"))


@pytest.mark.skipif(not LIVE, reason="needs LYRIA_RENDER_LIVE=1, an API key and network access to Google")
def test_live_render_of_the_seed_example(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    result = render_timeline(root / "timelines" / "seed_example.yaml", tmp_path,
                             RenderOptions(backend="lyria", formats=("wav",)))
    data, sr = sf.read(result.files[0].path)
    assert (sr, data.shape[0]) == (48_000, 20 * 48_000)
    assert result.manifest["backend"]["name"] == "lyria"
    assert abs((result.loudness_lufs or 0) - (-14.0)) <= 0.5
