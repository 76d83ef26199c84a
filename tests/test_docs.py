"""Docs can't rot: every command has help with an example and is shown in the README;
the CLI imports no optional heavy dependency just to print help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from render.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
COMMANDS = ["validate", "plan", "schema", "render", "inspect", "batch", "serve"]


def test_every_command_is_registered() -> None:
    import typer.main

    names = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert names == set(COMMANDS), f"registered {sorted(names)}"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"lyria-render {command}" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_shows_command(command: str) -> None:
    assert f"lyria-render {command}" in README


def test_readme_leads_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_help_does_not_import_optional_dependencies() -> None:
    code = (
        "import sys; from render.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('google.genai', 'websockets', 'trustme', 'scipy', 'soundfile') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout


def test_version_flag() -> None:
    from render.version import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"lyria-render {__version__}"
