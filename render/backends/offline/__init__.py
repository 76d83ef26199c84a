"""The embedded offline engine: procedural (not neural), deterministic music from text prompts.

May import: render.errors, render.audio, render.controls, render.backends.base; never the network.
"""

from __future__ import annotations

from .session import MODEL_NAME, OfflineBackend, OfflineSession
from .vocabulary import VOCABULARY, PromptMatch, analyse_prompt

__all__ = ["OfflineBackend", "OfflineSession", "analyse_prompt", "PromptMatch", "VOCABULARY", "MODEL_NAME"]
