"""Manifests that reproduce: the timeline as loaded, overrides apart, relative paths, versions,
``render --from-manifest`` (identical bytes offline), and manifests skipped as timelines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mutagen
import pytest
import soundfile as sf
from helpers import riff
from typer.testing import CliRunner

from render.batch.jobs import discover_jobs
from render.cli import app
from render.timeline.discover import validate_paths
from render.timeline.loader import timeline_from_data

runner = CliRunner()
FORMATS = ("wav", "flac", "mp3", "ogg", "opus")
TIMELINE = """\
duration: 4
seed: 3
prompts: {Techno: 1, Piano: 0.5}
config: {bpm: 120, scale: E_FLAT_MAJOR_C_MINOR}
events:
  - {at: "bar 2", label: verse, weights: {Piano: 1.5}}
  - {at: "2.3", label: break, prompts: {Ambient: 1}}
output:
  formats: [wav, flac, mp3, ogg, opus]
  loop: {start: "bar 2", crossfade: "1 beat"}
  tags: {year: "2025"}
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("manifest")
    (root / "tl.yaml").write_text(TIMELINE)
    (root / "old.json").write_text(json.dumps({"manifest_version": 1, "name": "old"}))  # an older NAME.json manifest
    args = ["-q", "render", str(root / "tl.yaml"), "-o", str(root / "a"), "--backend", "offline",
            "--loudness", "-16", "--seed", "4"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["lyria-render", *args])  # the CLI records sys.argv (CliRunner leaves it alone)
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return root


def test_from_manifest_gives_identical_bytes_offline(rendered: Path) -> None:
    result = runner.invoke(app, ["-q", "render", "--from-manifest", str(rendered / "a" / "tl.manifest.json"),
                                 "-o", str(rendered / "b")])
    assert result.exit_code == 0, result.output
    for fmt in FORMATS:
        assert (rendered / "a" / f"tl.{fmt}").read_bytes() == (rendered / "b" / f"tl.{fmt}").read_bytes(), fmt
    again = json.loads((rendered / "b" / "tl.manifest.json").read_text())
    assert again["overrides"] == {"seed": 4, "loudness_lufs": -16.0}
    assert again["timeline"]["source"] == "../a/tl.manifest.json#timeline"


def test_manifest_content_reloads_and_keeps_overrides_apart(rendered: Path) -> None:
    m = json.loads((rendered / "a" / "tl.manifest.json").read_text())
    tl = m["timeline"]
    assert tl["text"] == TIMELINE and tl["syntax"] == "yaml" and tl["source"] == "../tl.yaml"
    reloaded = timeline_from_data(tl["content"]).timeline  # no null the loader refuses
    assert reloaded.seed == 3 and reloaded.output.loop.start == "bar 2"
    assert m["overrides"] == {"seed": 4, "loudness_lufs": -16.0} and m["seed"] == 4
    assert m["command_line"][-4:] == ["--loudness", "-16", "--seed", "4"]
    assert [f["path"] for f in m["files"]] == [f"tl.{fmt}" for fmt in FORMATS]
    assert m["backend"]["deterministic"] is True
    software = m["software"]
    assert all(software[k] for k in ("pedalboard", "libsndfile", "mutagen", "ruamel.yaml"))
    assert "google-genai" not in software
    assert m["tags"]["bpm"] == 120 and m["tags"]["key"] == "Eb" and m["tags"]["changes_inside"] == []


def test_rendered_files_carry_tags_loop_and_cues(rendered: Path) -> None:
    out = rendered / "a"
    start, frames = 96_000, 4 * 48_000  # bar 2 at 120 bpm in 4/4
    for fmt in FORMATS:
        assert sf.info(out / f"tl.{fmt}").frames == frames, fmt
    assert riff.smpl_loops(out / "tl.wav") == [(start, frames - 1)]
    assert riff.cue_points(out / "tl.wav") == [(start, "verse"), (start + 48_000, "break")]
    assert riff.acid(out / "tl.wav")["tempo"] == 120 and riff.acid(out / "tl.wav")["beats"] == 8
    for fmt in ("flac", "ogg", "opus"):
        tags = mutagen.File(out / f"tl.{fmt}")
        assert tags["LOOPSTART"] == [str(start)] and tags["LOOPLENGTH"] == [str(frames - start)], fmt
        assert tags["DATE"] == ["2025"] and tags["KEY"] == ["Eb"] and tags["BPM"] == ["120"]
        assert tags["LYRIA_RENDER_PROMPTS"] == ["0: Techno:1, Piano:0.5; bar 2: +Piano:1.5; 2.3: Ambient:1"]


def test_secrets_are_removed_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from render.pipeline.manifest import redacted_command_line

    monkeypatch.setenv("GEMINI_API_KEY", "sekret-123")
    argv = ["lyria-render", "render", "x.yaml", "--base-url", "http://u:sekret-123@h", "--api-key", "abc", "--key=def"]
    assert redacted_command_line(argv) == ["lyria-render", "render", "x.yaml", "--base-url", "http://***@h",
                                           "--api-key", "***", "--key=***"]


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m.update(manifest_version=99), "manifest_version"),
    (lambda m: m.update(name="../../etc/x"), "not a plain file name"),
    (lambda m: m["timeline"].pop("text"), "timeline"),
    (lambda m: m["options"].update(max_reconnects="lots"), "options.max_reconnects"),
    (lambda m: m["backend"].update(backend="/bin/sh"), "backend.backend"),
])
def test_hostile_manifests_are_usage_errors(rendered: Path, tmp_path: Path, edit, fragment: str) -> None:
    m = json.loads((rendered / "a" / "tl.manifest.json").read_text())
    edit(m)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(m))
    result = runner.invoke(app, ["render", "--from-manifest", str(bad), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and fragment in result.stderr, result.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_validate_and_batch_skip_manifests(rendered: Path) -> None:
    results = validate_paths([rendered])
    skipped = {r.path.name for r in results if r.skipped}
    assert skipped == {"tl.manifest.json", "old.json"} and all(r.ok for r in results)
    result = runner.invoke(app, ["validate", str(rendered)])
    assert result.exit_code == 0 and "skipped" in result.stderr and "a render manifest" in result.stderr
    jobs = discover_jobs([rendered], rendered / "elsewhere")
    assert [j.timeline.name for j in jobs] == ["tl.yaml"]
