"""The JSON Schema of the timeline format, generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from .timeline import Timeline
from .version import __version__

SCHEMA_ID = "https://lyria-render.invalid/schema/timeline-v1.json"


def timeline_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for timeline files, with ``$schema`` allowed at the top."""
    schema = Timeline.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["description"] = f"lyria-render {__version__} timeline: prompts, config, timed events and output settings."
    schema.setdefault("properties", {})["$schema"] = {"type": "string", "description": "Schema reference for editors."}
    return schema
