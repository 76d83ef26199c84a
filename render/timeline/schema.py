"""The JSON Schema of the timeline format, generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from render.version import __version__

from .model import Timeline

SCHEMA_ID = "https://lyria-render.invalid/schema/timeline-v1.json"


def timeline_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for timeline files, with ``$schema`` allowed at the top."""
    schema = Timeline.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["description"] = f"lyria-render {__version__} timeline: prompts, config, timed events and output settings."
    schema.setdefault("properties", {})["$schema"] = {"type": "string", "description": "Schema reference for editors."}
    schema["properties"]["prompts"] = _prompt_set(schema["properties"]["prompts"])
    event = schema["$defs"]["EventSpec"]["properties"]
    event["prompts"] = _prompt_set(event["prompts"])
    event["prompts"]["anyOf"].append({"type": "null"})
    return schema


def _prompt_set(generated: dict[str, Any]) -> dict[str, Any]:
    """The prompt-set schema with the shorthands the loader accepts (the models only describe the long form).

    Args:
        generated: pydantic's schema for the field (its description and title are kept).

    Returns:
        ``anyOf``: a non-empty list of ``{text, weight}`` objects or bare strings, or a non-empty
        ``text: weight`` mapping.
    """
    keep = {k: v for k, v in generated.items() if k in ("description", "title", "default")}
    item = {"anyOf": [{"$ref": "#/$defs/PromptSpec"}, {"type": "string", "minLength": 1}]}
    mapping = {"type": "object", "minProperties": 1, "additionalProperties": {"type": "number", "not": {"const": 0}}}
    return {**keep, "anyOf": [{"type": "array", "minItems": 1, "items": item}, mapping]}
