"""CLI conventions: global flags either side of the command, env defaults, choices, completion,
friendly scale names, quick-render names, discovery, progress off a terminal, backend fallback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from render.cli import app
from render.cli.root import hoist_globals
from render.timeline.discover import find_timelines, timeline_kind
from render.timeline.model import scale_enum
from tests.helpers.batch import write_timeline

runner = CliRunner()


def test_hoist_globals_moves_flags_across_the_command() -> None:
    assert hoist_globals(["render", "x.yaml", "-q"]) == ["-q", "render", "x.yaml"]
    assert hoist_globals(["--json", "inspect", "f.wav"]) == ["inspect", "--json", "f.wav"]
    assert hoist_globals(["render", "--", "-q"]) == ["render", "--", "-q"]
    assert hoist_globals(["--version"]) == ["--version"]


def test_json_and_quiet_work_before_and_after_the_command(tmp_path: Path) -> None:
    tl = write_timeline(tmp_path / "a.yaml")
    for args in (["--json", "plan", str(tl)], ["plan", str(tl), "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert result.stdout.lstrip().startswith("{")
    result = runner.invoke(app, ["validate", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output


def test_env_defaults_are_used_and_shown_in_help(tmp_path: Path) -> None:
    help_text = runner.invoke(app, ["render", "--help"], env={"COLUMNS": "200"}).stdout
    for var in ("LYRIA_RENDER_BACKEND", "LYRIA_RENDER_OUT", "LYRIA_RENDER_FORMAT"):
        assert var in help_text
    assert "LYRIA_RENDER_JOBS" in runner.invoke(app, ["batch", "--help"], env={"COLUMNS": "200"}).stdout
    tl = write_timeline(tmp_path / "a.yaml")
    result = runner.invoke(app, ["render", str(tl), "--dry-run", "--json"],
                           env={"LYRIA_RENDER_BACKEND": "nonsense", "LYRIA_RENDER_OUT": str(tmp_path / "o")})
    assert result.exit_code == 2  # the env value is checked like the flag
    assert "nonsense" in result.output


def test_backend_is_a_choice_with_completion() -> None:
    result = runner.invoke(app, ["render", "--prompt", "x", "--backend", "lyira"])
    assert result.exit_code == 2
    assert "auto" in result.output and "offline" in result.output
    from render.cli.options import complete_formats, complete_scales

    assert complete_formats("wav,m") == ["wav,mp3"]
    assert "F_MAJOR_D_MINOR" in complete_scales("f_")


def test_completion_is_on() -> None:
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout


@pytest.mark.parametrize(("name", "enum"), [
    ("C major", "C_MAJOR_A_MINOR"), ("A minor", "C_MAJOR_A_MINOR"), ("Am", "C_MAJOR_A_MINOR"),
    ("F#m", "A_MAJOR_G_FLAT_MINOR"), ("Bb major", "B_FLAT_MAJOR_G_MINOR"), ("d_major_b_minor", "D_MAJOR_B_MINOR"),
    ("Ebm", "G_FLAT_MAJOR_E_FLAT_MINOR"), ("C#", "D_FLAT_MAJOR_B_FLAT_MINOR"),
])
def test_friendly_scale_names(name: str, enum: str) -> None:
    assert scale_enum(name) == enum


def test_unknown_scale_has_a_did_you_mean_and_plan_writes_the_enum(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("duration: 2\nprompts: {Piano: 1}\nconfig: {scale: F_MAJOR_D_MINR}\n")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2 and "did you mean F_MAJOR_D_MINOR" in result.stderr
    tl = tmp_path / "s.yaml"
    tl.write_text("duration: 2\nprompts: {Piano: 1}\nconfig: {scale: F#m}\n")
    result = runner.invoke(app, ["plan", str(tl), "--json"])
    assert result.exit_code == 0, result.output
    assert "A_MAJOR_G_FLAT_MINOR" in result.stdout and "F#m" not in result.stdout


def test_discovery_skips_other_files_with_a_note(tmp_path: Path) -> None:
    write_timeline(tmp_path / "song.yaml")
    (tmp_path / "odd.timeline.json").write_text('{"duration": "1s", "prompts": {"Piano": 1}}')  # named as one
    (tmp_path / "package.json").write_text('{"name": "game", "version": "1.0.0"}')
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.yml").write_text("todo: [music]\n")
    write_timeline(tmp_path / "drafts" / "wip.yaml")
    (tmp_path / ".lyriaignore").write_text("# drafts\ndrafts/*\n")
    notes: list[str] = []
    found = find_timelines([tmp_path], notes=notes)
    assert sorted(p.name for p in found) == ["odd.timeline.json", "song.yaml"]
    assert len(notes) == 3 and any("package.json" in n for n in notes) and any("excluded" in n for n in notes)
    assert timeline_kind(tmp_path / "package.json") is not None
    (tmp_path / "typo.timeline.yaml").write_text("promts: {Piano: 1}\n")  # named as one: kept, so its errors show
    assert timeline_kind(tmp_path / "typo.timeline.yaml") is None
    (tmp_path / "typo.timeline.yaml").unlink()
    assert [p.name for p in find_timelines([tmp_path], exclude=["song*"])] == ["odd.timeline.json"]
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.stderr and "package.json" in result.stderr


def test_quick_render_is_named_after_its_prompt_and_never_overwrites(tmp_path: Path) -> None:
    from render.cli.render_cmd import slugify

    assert slugify("Indie Pop:0.6, Sitar:2, Danceable:1.4") == "indie-pop-sitar-danceable"
    assert slugify("Café Jazz") == "cafe-jazz"
    out = tmp_path / "out"
    out.mkdir()
    (out / "lofi-beats.wav").write_bytes(b"earlier work")
    result = runner.invoke(app, ["render", "--prompt", "Lofi Beats:1", "--duration", "1s", "-o", str(out)])
    assert result.exit_code == 2
    assert "--force" in result.output
    assert (out / "lofi-beats.wav").read_bytes() == b"earlier work"


@pytest.mark.slow
def test_progress_off_a_terminal_has_no_carriage_returns(tmp_path: Path) -> None:
    tl = write_timeline(tmp_path / "a.yaml", duration="3s")
    env = dict(os.environ, LYRIA_RENDER_PROGRESS_EVERY="0")
    proc = subprocess.run([sys.executable, "-m", "render", "render", str(tl), "-o", str(tmp_path / "o"),
                           "--backend", "offline"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "s audio" in ln]
    assert lines and not any("real time" in ln for ln in lines if ln.startswith("master"))


def test_auto_falls_back_to_offline_without_google_genai(monkeypatch: pytest.MonkeyPatch) -> None:
    from render.backends import select_backend

    monkeypatch.setenv("GEMINI_API_KEY", "k-123")
    monkeypatch.setitem(sys.modules, "google.genai", None)
    backend, reason = select_backend("auto")
    assert backend.describe()["backend"] == "offline"
    assert "pip install 'lyria-render[lyria]'" in reason and "warning" in reason
