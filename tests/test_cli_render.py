"""The render, plan and inspect commands through the CLI: exit codes, streams, effects on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from render.cli import app

runner = CliRunner()


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


SHORT = """\
duration: 2
seed: 3
prompts: {"Sitars with glorp": 1.0, "pop indie": 0.5}
config: {bpm: 120, scale: D_MAJOR_B_MINOR}
output: {name: short, formats: [wav, flac], loudness_lufs: -18, tags: {title: Short, custom: {asset: a1}}}
"""


def test_plan_reports_unmatched_words(tmp_path: Path) -> None:
    path = write(tmp_path, SHORT)
    result = runner.invoke(app, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    assert "unmatched words glorp" in result.stderr
    data = json.loads(runner.invoke(app, ["plan", str(path), "--json"]).stdout)
    analysis = {a["text"]: a for a in data["prompt_analysis"]}
    assert analysis["Sitars with glorp"]["unmatched"] == ["glorp"]
    assert analysis["pop indie"]["matches"] == ["Indie Pop"]


def test_plan_names_modifier_words(tmp_path: Path) -> None:
    path = write(tmp_path, SHORT.replace('"pop indie": 0.5', '"Solo cello": 0.5'))
    result = runner.invoke(app, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    assert "prompt 'Solo cello': Cello (featured lead); modified by solo" in result.stdout
    data = json.loads(runner.invoke(app, ["plan", str(path), "--json"]).stdout)
    analysis = {a["text"]: a for a in data["prompt_analysis"]}
    assert analysis["Solo cello"]["modifiers"] == ["solo"] and analysis["Solo cello"]["unmatched"] == []


def test_render_then_inspect(tmp_path: Path) -> None:
    path = write(tmp_path, SHORT)
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(path), "-o", str(out), "--backend", "offline"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out / "short.wav"), str(out / "short.flac"), str(out / "short.manifest.json")]
    assert "LUFS" in result.stderr and "backend offline" in result.stderr
    shown = runner.invoke(app, ["inspect", str(out / "short.flac"), "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.stdout)
    assert info["manifest"]["name"] == "short"
    assert "Short" in json.dumps(info["tags"]) and "a1" in json.dumps(info["tags"])
    text = runner.invoke(app, ["inspect", str(out / "short.wav")])
    assert text.exit_code == 0 and "manifest" in text.stdout and "job " in text.stdout
    assert "loop" in text.stdout and "loudness" in text.stdout


def test_loudness_off_and_format_override(tmp_path: Path) -> None:
    path = write(tmp_path, SHORT)
    result = runner.invoke(app, ["-q", "render", str(path), "-o", str(tmp_path), "--backend", "offline",
                                 "--loudness", "off", "--format", "mp3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [f["format"] for f in report["files"]] == ["mp3"]
    manifest = json.loads(Path(report["manifest"]).read_text())
    assert manifest["overrides"] == {"formats": ["mp3"], "loudness_lufs": None}  # apart from the file's values
    assert manifest["master"]["gain_db"] == pytest.approx(0.0, abs=1e-9) or manifest["master"]["limiter_max_reduction_db"] > 0


def test_invalid_timeline_exit_2_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "duration: 2\nprompts: {Sitar: 0}\n")
    result = runner.invoke(app, ["render", str(path), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{path}:2:18" in result.stderr and "weight 0" in result.stderr
    assert "Traceback" not in result.output


def test_leftover_spool_needs_resume_or_fresh(tmp_path: Path) -> None:
    path = write(tmp_path, SHORT)
    first = runner.invoke(app, ["render", str(path), "-o", str(tmp_path), "--backend", "offline", "--keep-spool"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / ".lyria-render" / "short.spool" / "index.jsonl").exists()
    again = runner.invoke(app, ["render", str(path), "-o", str(tmp_path), "--backend", "offline"])
    assert again.exit_code == 2 and "--resume" in again.stderr
    fresh = runner.invoke(app, ["render", str(path), "-o", str(tmp_path), "--backend", "offline", "--fresh"])
    assert fresh.exit_code == 0, fresh.output
    assert not (tmp_path / ".lyria-render").exists()


def test_bad_option_values_are_usage_errors(tmp_path: Path) -> None:
    path = write(tmp_path, SHORT)
    for args, fragment in ((["--loudness", "loud"], "--loudness"), (["--format", "aiff"], "--format"),
                           (["--backend", "neural"], "'auto', 'offline', 'lyria'")):
        result = runner.invoke(app, ["render", str(path), "-o", str(tmp_path), *args])
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.stderr


def test_progress_never_passes_its_total() -> None:
    """tqdm drops `total` once n passes it, and a bar format that formats it then fails."""
    import io

    from tqdm import tqdm

    from render.cli.progress import advance

    bar = tqdm(total=10.0, file=io.StringIO(), bar_format="{n:.1f}/{total:.1f}")
    for _ in range(11):
        advance(bar, 1.0000001)
    bar.close()
    assert bar.n == 10.0


def test_unexpected_errors_are_one_line_without_traceback(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import render.cli as cli

    def boom(*args: object, **kwargs: object) -> None:
        raise ValueError("simulated bug")

    monkeypatch.setattr(cli, "app", boom)
    monkeypatch.delenv("LYRIA_RENDER_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main(["validate", "x"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "internal error (ValueError): simulated bug" in err and "Traceback" not in err
