"""Every example in timelines/ validates and plans, and together they use every feature of the format.

Later issues extend this file (render every example offline).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from render.errors import TimelineError
from render.schedule import plan
from render.timeline.discover import find_timelines
from render.timeline.loader import LoadedTimeline, load_timeline, parse_timeline
from render.timeline.timecode import BarPosition, MusicalLength, format_seconds, parse_duration, parse_time

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "timelines").iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def test_there_are_at_least_five_examples_in_yaml_and_json() -> None:
    assert len(EXAMPLES) >= 5
    assert {p.suffix for p in EXAMPLES} >= {".yaml", ".json"}
    assert find_timelines([ROOT / "timelines"]) == EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_and_plans(path: Path) -> None:
    loaded = load_timeline(path)
    schedule = plan(loaded)
    assert schedule.duration_frames > 0
    assert all(0 <= m.sample < schedule.duration_frames for m in schedule.messages)
    assert all("forces a context reset" in w.message or "MP3 loops" in w.message for w in loaded.warnings)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_points_editors_at_the_schema(path: Path) -> None:
    text = path.read_text()
    marker = '"$schema": "../docs/timeline.schema.json"' if path.suffix == ".json" else (
        "# yaml-language-server: $schema=../docs/timeline.schema.json")
    assert marker in text
    assert (ROOT / "docs" / "timeline.schema.json").is_file()


def test_seed_example_is_the_seeds_own() -> None:
    loaded = load_timeline(ROOT / "timelines" / "seed_example.yaml")
    tl = loaded.timeline
    assert [(p.text, p.weight) for p in tl.prompts] == [("Indie Pop", 0.6), ("Sitar", 2.0), ("Danceable", 1.4)]
    config = tl.initial_config()
    assert (config.bpm, config.scale, config.density, config.brightness, config.guidance,
            config.music_generation_mode) == (140, "F_MAJOR_D_MINOR", 0.2, 0.7, 4.0, "QUALITY")
    assert loaded.resolved.duration_s == 20


def _features(loaded: LoadedTimeline) -> set[str]:
    """Names of the format features one timeline uses."""
    tl, text = loaded.timeline, loaded.text
    found: set[str] = {f"meter {tl.meter}"} if tl.meter != "4/4" else set()
    found |= {"title"} if tl.title else set()
    found |= {"control_interval"} if "control_interval" in text else set()
    found |= {"negative weight"} if any(p.weight < 0 for p in tl.prompts) else set()
    found |= {"config " + name for name in tl.config.given()}
    for ev in tl.events:
        found |= {f"event {part}" for part in ("prompts", "weights", "config", "label") if getattr(ev, part)}
        found |= {"event reset"} if ev.reset else set()
        found |= {"config " + name for name in (ev.config.given() if ev.config else {})}
        found |= {"ramp", f"curve {ev.curve}"} if ev.ramp is not None else set()
        at = parse_time(ev.at)
        found |= {"bar time"} if isinstance(at, BarPosition) else set()
        if ev.ramp is not None and isinstance(parse_duration(ev.ramp), MusicalLength):
            found.add("ramp in bars")
    found |= {"duration in bars"} if isinstance(parse_duration(tl.duration), MusicalLength) else set()
    out = tl.output
    found |= {f"format {f}" for f in out.formats} | {f"bit_depth {out.bit_depth}", f"mp3 {out.mp3.mode}"}
    fields = out.model_fields_set
    found |= {f"output {name}" for name in fields}
    found |= {"loudness none"} if out.loudness_lufs is None else set()
    found |= {"tags custom"} if out.tags.custom else set()
    return found


def _prompt_forms(text: str) -> set[str]:
    forms = set()
    if "- text:" in text or '{"text"' in text:
        forms.add("prompt list")
    if "prompts:\n  " in text and "- " not in text.split("prompts:\n  ", 1)[1][:2]:
        forms.add("prompt mapping")
    if any(line.strip().startswith("- ") and ":" not in line.split("#")[0] for line in text.splitlines()):
        forms.add("bare string prompt")
    return forms


REQUIRED: set[str] = {
    "title", "control_interval", "negative weight", "meter 3/4",
    *(f"config {name}" for name in ("guidance", "bpm", "density", "brightness", "scale", "mute_bass", "mute_drums",
                                    "only_bass_and_drums", "music_generation_mode", "temperature", "top_k", "seed")),
    "event prompts", "event weights", "event config", "event reset", "event label",
    "ramp", "curve linear", "curve equal-power", "curve ease", "bar time", "ramp in bars", "duration in bars",
    "format wav", "format mp3", "format flac", "bit_depth 16", "bit_depth 24", "bit_depth 32", "mp3 vbr", "mp3 cbr",
    *(f"output {name}" for name in ("name", "sample_rate", "loudness_lufs", "true_peak_dbtp", "trim_start",
                                    "fade_in", "fade_out", "loop", "seam_crossfade", "tags")),
    "tags custom", "prompt list", "prompt mapping", "bare string prompt",
}


def test_examples_together_use_every_feature() -> None:
    used: set[str] = set()
    for path in EXAMPLES:
        loaded = load_timeline(path)
        used |= _features(loaded) | _prompt_forms(loaded.text)
    assert REQUIRED - used == set()


def test_examples_use_every_time_syntax() -> None:
    written: list[Any] = []
    for path in EXAMPLES:
        tl = load_timeline(path).timeline
        written += [ev.at for ev in tl.events] + [ev.ramp for ev in tl.events if ev.ramp is not None]
        written += [tl.duration, tl.output.trim_start, tl.output.fade_in, tl.output.fade_out]
    kinds = {type(w).__name__ for w in written}
    texts = [w for w in written if isinstance(w, str)]
    assert {"int", "str"} <= kinds
    assert any(t.endswith("s") and t[:-1].replace(".", "").isdigit() for t in texts)  # "8s"
    assert any(":" in t and "." in t for t in texts)                                   # "0:18.500"
    assert any(t.startswith("bar ") and "beat" in t for t in texts)                   # "bar 13 beat 2"
    assert any(t.replace(".", "").isdigit() and "." in t for t in texts)              # "9.1" = bar 9 beat 1
    assert any(t.endswith("ms") for t in texts)                                        # "10ms"


# ----------------------------------------------------------------- docs/timeline.md

DOC = (ROOT / "docs" / "timeline.md").read_text()
BLOCKS = re.findall(r"```(yaml|json|text)\n(.*?)```", DOC, flags=re.S)
TIMELINE_BLOCKS = [
    (i, lang, body) for i, (lang, body) in enumerate(BLOCKS)
    if lang in ("yaml", "json") and re.search(r'^\s*"?duration"?\s*:', body, re.M)
    and re.search(r'^\s*"?prompts"?\s*:', body, re.M)
]


def test_docs_have_many_complete_examples() -> None:
    assert len(TIMELINE_BLOCKS) >= 30


@pytest.mark.parametrize(("index", "lang", "body"), TIMELINE_BLOCKS, ids=[f"block{i}" for i, _, _ in TIMELINE_BLOCKS])
def test_doc_example_validates(index: int, lang: str, body: str) -> None:
    if body.startswith("# invalid"):
        with pytest.raises(TimelineError):
            parse_timeline(body, source="song.yaml", is_json=lang == "json")
        return
    loaded = parse_timeline(body, source="song.yaml", is_json=lang == "json")
    plan(loaded)


def _block_after(marker: str, lang: str) -> str:
    """The first ``lang`` block after the block that contains ``marker``."""
    start = next(i for i, (_, body) in enumerate(BLOCKS) if marker in body)
    return next(body for kind, body in BLOCKS[start + 1:] if kind == lang)


def test_doc_validation_output_is_real() -> None:
    bad = next(body for _, body in BLOCKS if body.startswith("# invalid") and "brigthness" in body)
    with pytest.raises(TimelineError) as info:
        parse_timeline(bad, source="song.yaml")
    shown = _block_after("brigthness: 0.5\n  bpm: 250", "text").strip().splitlines()
    assert shown == [p.format() for p in info.value.problems]


def test_doc_plan_output_is_real() -> None:
    example = next(body for _, body in BLOCKS if "label: lift" in body)
    schedule = plan(parse_timeline(example))
    rows = [[cell.strip() for cell in line.split("│")] for line in _block_after("label: lift", "text").splitlines()[1:]]
    shown = [(r[0], r[2], r[3]) for r in rows if r[3] not in ("prompts", "config", "play")]
    computed = [(format_seconds(m.at_s), str(m.sample), f"events[{m.event}] {m.kind}" + (f" ({m.note})" if
                 m.note and m.kind != "reset" else "")) for m in schedule.messages]
    assert shown == computed


def test_doc_names_every_field() -> None:
    from render.timeline import model as models

    for model in (models.Timeline, models.ConfigSpec, models.EventSpec, models.OutputSpec, models.Mp3Spec,
                  models.LoopSpec, models.TagSpec):
        missing = [name for name in model.model_fields if f"`{name}`" not in DOC and f"`mp3.{name}`" not in DOC
                   and f"`loop.{name}`" not in DOC]
        assert missing == [], f"{model.__name__}: {missing}"
    for curve in ("linear", "equal-power", "ease"):
        assert f"`{curve}`" in DOC
