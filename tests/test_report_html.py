"""`batch --png --report report.html`: one self-contained page, parsed and (when Chromium is
installed at /usr/bin/chromium) loaded in a real headless browser."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from render.cli import app
from tests.helpers.batch import write_invalid, write_timeline

pytest.importorskip("matplotlib")
runner = CliRunner()
CHROMIUM = Path("/usr/bin/chromium")


class Page(HTMLParser):
    """Rows, images, audio sources and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.images: list[str] = []
        self.sources: list[str] = []
        self.audio = 0
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("class"):
            self.rows.append(a["class"] or "")
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag == "audio":
            self.audio += 1
        if tag == "source":
            self.sources.append(a.get("src") or "")
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("html")
    write_timeline(root / "in" / "calm.yaml", seed=1, formats=("mp3", "wav"), prompt="Ambient glorptastic")
    write_timeline(root / "in" / "sub" / "loop.yaml", seed=2, formats=("wav",))
    write_invalid(root / "in" / "broken.timeline.yaml")
    result = runner.invoke(app, ["batch", str(root / "in"), "-o", str(root / "out"), "--backend", "offline",
                                 "--png", "--report", str(root / "reports" / "report.html"), "-q"])
    assert result.exit_code == 2, result.output  # the invalid timeline; the others render
    return root / "reports" / "report.html"


@pytest.mark.slow
def test_report_is_self_contained_with_a_row_per_job(report: Path) -> None:
    page = Page()
    page.feed(report.read_text(encoding="utf-8"))
    assert sorted(page.rows) == ["invalid", "rendered", "rendered"]
    assert len(page.images) == 2 and page.audio == 2
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [u for u in page.urls if re.match(r"[a-z]+://", u)], "the page must not touch the network"
    for src in page.sources:
        assert not os.path.isabs(src)
        assert (report.parent / unquote(src)).is_file(), src
    assert any(s.endswith(".mp3") for s in page.sources)  # MP3 preferred over WAV when both exist
    text = " ".join(page.text)
    assert "unmatched words glorptastic" in text  # the offline engine's warning
    assert "brightnes" in text  # the invalid job's reason
    assert "LUFS" in text and "true peak" in text


_PROBE = """<script>
addEventListener('load', () => {
  const imgs = [...document.images].map(i => i.complete && i.naturalWidth > 0);
  const audio = [...document.querySelectorAll('audio')].map(a => a.querySelectorAll('source[src]').length > 0);
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({imgs, audio});
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium")
def test_report_loads_in_headless_chromium(report: Path) -> None:
    probe = report.with_name("probe.html")
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout)
    assert found, proc.stderr[-2000:]
    import html
    import json

    data = json.loads(html.unescape(found.group(1)))
    assert data["imgs"] == [True, True]
    assert data["audio"] == [True, True]
