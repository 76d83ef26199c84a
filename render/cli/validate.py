"""``lyria-render validate``: check timelines and report every problem at file:line:col."""

from __future__ import annotations

import json

import typer

from render.timeline.discover import validate_paths

from . import console
from .options import Exclude, JsonFlag, Paths

app = typer.Typer()


@app.command("validate")
def validate(ctx: typer.Context, paths: Paths, as_json: JsonFlag = False, exclude: Exclude = None) -> None:
    """Validate timelines: print OK or every problem per file; exit 2 if any is invalid.

    \b
    Example:
      lyria-render validate timelines/
      lyria-render validate 'jobs/**/*.yaml' --json > report.json
    """
    notes: list[str] = []
    results = validate_paths(paths, exclude=tuple(exclude or ()), notes=notes)
    for line in notes:
        console.info(f"note: {line}", quiet=bool((ctx.obj or {}).get("quiet")))
    if as_json:
        payload = [
            {"path": str(r.path), "ok": r.ok, "skipped": r.skipped,
             "problems": [p.as_dict() for p in r.problems], "warnings": [w.as_dict() for w in r.warnings]}
            for r in results
        ]
        console.result(json.dumps(payload, indent=2))
    for r in results:
        if r.skipped:
            console.info(f"skipped {r.path}: {r.skipped}")
            continue
        for w in r.warnings:
            console.error(w.format())
        if r.ok:
            if not as_json:
                assert r.loaded is not None
                tl = r.loaded.resolved
                console.result(f"OK {r.path} ({float(tl.duration_s):g} s, {len(tl.events)} events)")
        else:
            for p in r.problems:
                console.error(p.format())
    bad = [r for r in results if not r.ok]
    if not [r for r in results if not r.skipped]:
        console.error("no timeline files found")
        raise typer.Exit(2)
    if bad:
        console.error(f"{len(bad)} of {len(results)} timeline(s) invalid")
        raise typer.Exit(2)
