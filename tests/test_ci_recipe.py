"""The CI recipe (docs/examples/lyria-render-ci.yml) works as written.

The workflow is parsed and its shell steps run in order, job by job, in a scratch
repository with a timelines/ folder. The Lyria steps reach `lyria-render serve` (in-process,
loopback TLS) through LYRIA_RENDER_BASE_URL / LYRIA_RENDER_CA_CERT; the install steps are
checked (from the repository, with the [lyria] extra) rather than run, since the package is
already installed here and there is no network.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.helpers.lyria import API_KEY, serving

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "docs" / "examples" / "lyria-render-ci.yml"

TIMELINE = """
title: {name}
duration: 3s
seed: 1
prompts: [{{text: Warm Acoustic Guitar, weight: 1}}]
output: {{formats: [mp3], loudness_lufs: -16}}
"""


def _workflow() -> dict[str, Any]:
    return YAML(typ="safe").load(WORKFLOW.read_text(encoding="utf-8"))


def _expand(text: str, env: dict[str, str]) -> str:
    values = {"matrix.shard": "1", "secrets.GEMINI_API_KEY": API_KEY, "github.sha": "0" * 40}
    values.update({f"env.{k}": v for k, v in env.items()})

    def sub(m: re.Match[str]) -> str:
        key = m.group(1).strip()
        assert key in values, f"the test does not know the expression ${{{{ {key} }}}}"
        return values[key]

    return re.sub(r"\$\{\{([^}]*)\}\}", sub, text)


def test_recipe_installs_from_the_repository_with_extras_and_no_pip_cache() -> None:
    flow = _workflow()
    spec = flow["env"]["LYRIA_RENDER"]
    assert "git+https://" in spec and "[lyria" in spec, spec  # not PyPI, where it does not exist
    for job in flow["jobs"].values():
        for step in job["steps"]:
            assert "cache" not in (step.get("with") or {}), "setup-python cache: pip needs a requirements file"
            if "pip install" in step.get("run", ""):
                assert '"$LYRIA_RENDER"' in step["run"]


@pytest.mark.slow
def test_recipe_shell_steps_run_in_order_against_serve(tmp_path: Path) -> None:
    flow = _workflow()
    (tmp_path / "timelines").mkdir()
    for name in ("intro", "outro"):
        (tmp_path / "timelines" / f"{name}.yaml").write_text(TIMELINE.format(name=name), encoding="utf-8")
    env = {k: str(v) for k, v in flow["env"].items()} | {"SHARDS": "1"}  # one shard: the gate sees every job
    bin_dir = str(Path(sys.executable).parent)
    ran: list[str] = []
    with serving() as server:
        base = dict(os.environ, **env, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
                    LYRIA_RENDER_BASE_URL=server.base_url, LYRIA_RENDER_CA_CERT=str(server.ca_cert))
        base.pop("GOOGLE_API_KEY", None)
        for job_name in ("render", "check"):
            for step in flow["jobs"][job_name]["steps"]:
                if "run" not in step:
                    continue
                # serve has no start-rate limit to respect: the recipe's 45 s stagger would only
                # make this test wait (the gate's stagger has tests of its own)
                script = re.sub(r"--session-stagger \d+", "--session-stagger 1", _expand(step["run"], env))
                if "pip install" in script:
                    continue  # checked above; the package is installed in this venv
                step_env = base | {k: _expand(str(v), env) for k, v in (step.get("env") or {}).items()}
                proc = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=step_env,
                                      capture_output=True, text=True, timeout=240)
                assert proc.returncode == 0, f"{job_name}: {step.get('name', script)}\n{proc.stdout}\n{proc.stderr}"
                ran.append(f"{job_name}: {step.get('name', script[:30])}")
    out = tmp_path / env["OUT"]
    assert sorted(p.name for p in out.glob("*.mp3")) == ["intro.mp3", "outro.mp3"]
    assert (tmp_path / "reports" / "report-1.html").is_file()
    assert (tmp_path / "reports" / "check.xml").is_file()
    assert any("Render shard" in r for r in ran) and any("Gate" in r for r in ran)
