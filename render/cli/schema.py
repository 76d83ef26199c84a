"""``lyria-render schema``: print the timeline JSON Schema for editors."""

from __future__ import annotations

import json

import typer

from render.timeline.schema import timeline_schema

from . import console

app = typer.Typer()


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the timeline format (for editor autocompletion).

    \b
    Example:
      lyria-render schema > timeline.schema.json
      # then, first line of a YAML timeline:
      # yaml-language-server: $schema=timeline.schema.json
    """
    console.result(json.dumps(timeline_schema(), indent=2))
