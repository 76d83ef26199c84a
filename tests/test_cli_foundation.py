"""The foundation commands through the real entry point: validate, plan, schema, --version, --help.

A few cases run ``python -m render`` as a subprocess; the rest use ``render.cli.main`` (which
maps library errors to exit codes) or Typer's ``CliRunner`` on ``render.cli.app`` (which keeps
stdout and stderr apart in Typer 0.29).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from render.cli import app, main
from render.timeline.schema import timeline_schema
from render.version import __version__

ROOT = Path(__file__).resolve().parents[1]
TIMELINES = ROOT / "timelines"
GOOD = "duration: 20\nprompts: {Piano: 1}\n"
BAD = "duration: 20\nprompts: {Piano: 0}\nconfig:\n  brigthness: 0.5\n"


def python_m_render(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "render", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the console-script entry point in-process; returns (exit code, stdout, stderr)."""
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "also.json").write_text('{"duration": 5, "prompts": ["Sitar"]}')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "short.yml").write_text("duration: 2s\nprompts: [Koto]\n")
    (tmp_path / "notes.txt").write_text("not a timeline")
    return tmp_path


# ----------------------------------------------------------------- validate


def test_validate_examples_subprocess() -> None:
    result = python_m_render("validate", "timelines/")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in TIMELINES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    ok_lines = [line for line in result.stdout.splitlines() if line.startswith("OK ")]
    assert sorted(Path(line.split()[1]).name for line in ok_lines) == names
    assert "error" not in result.stderr


def test_validate_bad_file_subprocess_exit_2_no_traceback(files: Path) -> None:
    result = python_m_render("validate", str(files / "bad.yaml"), str(files / "good.yaml"))
    assert result.returncode == 2
    assert result.stdout.strip() == f"OK {files / 'good.yaml'} (20 s, 0 events)"
    assert f"{files / 'bad.yaml'}:2:18: error: prompts[0].weight: weight 0 is refused" in result.stderr
    assert f"{files / 'bad.yaml'}:4:3: error: config.brigthness: unknown field" in result.stderr
    assert "did you mean `brightness`?" in result.stderr
    assert "1 of 2 timeline(s) invalid" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_validate_folder_skips_other_files(files: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(files)])
    assert result.exit_code == 2
    ok = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("OK ")]
    assert ok == [str(files / "also.json"), str(files / "good.yaml"), str(files / "sub" / "short.yml")]
    assert "notes.txt" not in result.stdout + result.stderr
    assert result.stderr.count(": error: ") == 2


def test_validate_glob(files: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(files / "*.json")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"OK {files / 'also.json'} (5 s, 0 events)\n"


def test_validate_duplicate_paths_are_checked_once(files: Path) -> None:
    good = str(files / "good.yaml")
    result = CliRunner().invoke(app, ["validate", good, good, str(files / "g*.yaml")])
    assert result.exit_code == 0 and result.stdout.count("OK ") == 1


def test_validate_warnings_go_to_stderr_and_do_not_fail() -> None:
    result = CliRunner().invoke(app, ["validate", str(TIMELINES / "tempo_changes.json")])
    assert result.exit_code == 0
    assert result.stdout.startswith("OK ")
    assert "tempo_changes.json:24:58: warning: events[0].config.bpm: changing bpm forces a context reset" in result.stderr


def test_validate_json(files: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "--json", str(files / "bad.yaml"), str(files / "good.yaml")])
    assert result.exit_code == 2
    report = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    assert report["good.yaml"]["ok"] is True and report["good.yaml"]["problems"] == []
    assert report["bad.yaml"]["ok"] is False
    assert [(p["line"], p["column"], p["field"]) for p in report["bad.yaml"]["problems"]] == [
        (2, 18, "prompts[0].weight"), (4, 3, "config.brigthness")]
    assert report["bad.yaml"]["problems"][1]["hint"] == "did you mean `brightness`?"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["validate", "nope.yaml"], "Error: nope.yaml: no such file or folder"),
        (["validate", "nope/*.yaml"], "the glob matches no timeline files"),
        (["plan", "nope.yaml"], "nope.yaml: error: file not found"),
    ],
)
def test_missing_input_is_a_clear_error_exit_2(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(argv, capsys)
    assert code == 2 and out == ""
    assert fragment in err and "Traceback" not in err


def test_validate_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(["validate", str(tmp_path)], capsys)
    assert code == 2 and "no timeline files found" in err


# ----------------------------------------------------------------- plan


def test_plan_table_subprocess() -> None:
    result = python_m_render("plan", "timelines/trailer.yaml", columns=400)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "bar.beat" in line)
    assert [w for w in header.replace("┃", " ").split()] == ["time", "bar.beat", "sample", "message", "detail"]
    # the build ramp starts at 0:06 (bar 3 beat 2 at 90 bpm); trim_start puts it at stream sample 6 s + 6 s
    first_step = next(line for line in lines if "events[0] prompts (ramp 1/24)" in line)
    assert "0:06.000" in first_step and "3.2" in first_step and "576000" in first_step
    config_row = next(line for line in lines if "events[2] config (ramp 6/6)" in line)
    assert "guidance=2.0" in config_row and "density=0.2" in config_row and "seed=5" in config_row
    assert "music_generation_mode=QUALITY" in config_row
    reset_row = next(line for line in lines if "events[1] reset" in line)
    assert "0:19.000" in reset_row and "1200000" in reset_row


def test_plan_json() -> None:
    result = CliRunner().invoke(app, ["plan", "--json", str(TIMELINES / "ambient_journey.yaml")])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["sample_rate"] == 48_000 and payload["duration_frames"] == 40 * 48_000
    initial = payload["initial"]["config"]
    assert initial == {"guidance": 3.0, "bpm": 72, "density": 0.15, "brightness": 0.3, "scale": "D_MAJOR_B_MINOR",
                       "mute_bass": False, "mute_drums": False, "only_bass_and_drums": False,
                       "music_generation_mode": "QUALITY", "temperature": 1.3, "top_k": 60, "seed": 2026}
    messages = payload["messages"]
    assert messages[0]["sample"] == 8 * 48_000 and messages[0]["kind"] == "config"
    assert all(set(m["config"]) == set(initial) for m in messages if m["kind"] == "config")
    assert [m["kind"] for m in messages if m["sample"] == 30 * 48_000] == ["config", "reset"]
    assert len(payload["sha256"]) == 64 and payload["warnings"]


def test_plan_control_interval_option() -> None:
    fine = json.loads(CliRunner().invoke(app, ["plan", "--json", "--control-interval", "0.25",
                                               str(TIMELINES / "ambient_journey.yaml")]).stdout)
    coarse = json.loads(CliRunner().invoke(app, ["plan", "--json", str(TIMELINES / "ambient_journey.yaml")]).stdout)
    assert fine["control_interval_frames"] == 12_000 and coarse["control_interval_frames"] == 24_000
    assert len(fine["messages"]) > len(coarse["messages"])


def test_plan_invalid_timeline_exit_2(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["plan", str(files / "bad.yaml")], capsys)
    assert code == 2 and out == ""
    assert "2 problems found" in err and f"{files / 'bad.yaml'}:4:3: error: config.brigthness" in err
    assert "Traceback" not in err


# ----------------------------------------------------------------- schema, version, help


def test_schema_prints_the_json_schema() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema == timeline_schema()
    assert schema["$schema"].endswith("2020-12/schema") and set(schema["required"]) == {"duration", "prompts"}


def test_committed_schema_matches_the_generated_one() -> None:
    committed = json.loads((ROOT / "docs" / "timeline.schema.json").read_text())
    assert committed == timeline_schema(), "regenerate: lyria-render schema > docs/timeline.schema.json"


def _example_data() -> list[tuple[str, object]]:
    from ruamel.yaml import YAML

    out = []
    for path in sorted(TIMELINES.iterdir()):
        if path.suffix == ".json":
            out.append((path.name, json.loads(path.read_text())))
        elif path.suffix in (".yaml", ".yml"):
            out.append((path.name, YAML(typ="safe").load(path.read_text())))
    return out


@pytest.mark.parametrize(("name", "data"), _example_data())
def test_examples_validate_against_the_schema(name: str, data: object) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(timeline_schema())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


def test_schema_is_valid_and_catches_mistakes() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(timeline_schema())
    validator = jsonschema.Draft202012Validator(timeline_schema())
    bad = {"duration": 20, "prompts": {"Piano": 0}, "config": {"brigthness": 1}, "events": [{"reset": True}]}
    paths = sorted(tuple(e.absolute_path) for e in validator.iter_errors(bad))
    assert paths == [("config",), ("events", 0), ("prompts",)]


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"lyria-render {__version__}\n"


def test_version_subprocess() -> None:
    result = python_m_render("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"lyria-render {__version__}"


@pytest.mark.parametrize("command", [[], ["validate"], ["plan"], ["schema"]])
def test_help_shows_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout
    example = result.stdout.split("Example", 1)[1]
    assert "lyria-render " + (command[0] if command else "") in example


def test_no_arguments_shows_help() -> None:
    result = CliRunner().invoke(app, [])
    assert "Usage" in result.stdout and "validate" in result.stdout
