"""The embedded offline engine: procedural (not neural) music from text prompts.

It implements the same session protocol as Lyria RealTime (see
:mod:`render.backends.base`), deterministically and without network or model weights:
prompts map onto a vocabulary of styles, styles drive a rule-based arrangement
(drums, bass, harmony, lead, pads, textures, an optional wordless vocal) synthesised in
numpy.
"""

from __future__ import annotations

from .session import MODEL_NAME, OfflineBackend, OfflineSession
from .vocabulary import VOCABULARY, PromptMatch, analyse_prompt

__all__ = ["OfflineBackend", "OfflineSession", "analyse_prompt", "PromptMatch", "VOCABULARY", "MODEL_NAME"]
