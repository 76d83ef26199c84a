"""``batch --cluster``: real Dask (a LocalCluster of worker processes), real sockets, loopback only."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

distributed = pytest.importorskip("distributed")

from helpers.batch import fail_on_b, write_timeline  # noqa: E402
from helpers.lyria import API_KEY, serving  # noqa: E402

from render.audio import SAMPLE_RATE  # noqa: E402
from render.batch.render import render_batch  # noqa: E402
from render.batch.report import report_json, write_junit  # noqa: E402
from render.batch.results import BatchEvent, BatchInterrupted, BatchOptions  # noqa: E402
from render.errors import UsageError  # noqa: E402
from render.pipeline.job import RenderOptions  # noqa: E402
from render.pipeline.render import render_timeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Clock reads of one machine taken in different processes: how far apart "at the same time" may be.
CLOCK_SLACK_S = 0.05
#: The server logs a session's end once its engine thread has wound down, a moment after the client
#: saw the close and released the gate; a second live session would overlap by a whole session.
SERVER_TEARDOWN_S = 1.0


#: A test still running this long is about to hit pytest-timeout: print what the workers are doing.
STACKS_AFTER_S = 240.0


@pytest.fixture(scope="module")
def shared_cluster() -> Iterator[Any]:
    """Two worker processes (one thread each) on loopback; shared by this module's tests."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", silence_logs=40) as local:
        yield local


def _running(dask_worker: Any) -> list[str]:
    """The tasks a worker's threads are executing (cancelled ones included: a thread cannot be stopped)."""
    with dask_worker.active_threads_lock:
        return [str(key) for key in dask_worker.active_threads.values()]


def _busy_after(client: Any, seconds: float) -> dict[str, list[str]]:
    """Wait up to ``seconds`` for every worker thread to be idle; the workers still busy then."""
    deadline = time.monotonic() + seconds
    while any(client.run(_running).values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {w: tasks for w, tasks in client.run(_running).items() if tasks}


def _print_worker_stacks(address: str) -> None:
    with distributed.Client(address, timeout=10) as client:
        print(f"worker call stacks after {STACKS_AFTER_S:g} s:", json.dumps(client.call_stack(), indent=1, default=str),
              file=sys.stderr)


@pytest.fixture
def cluster(shared_cluster: Any) -> Iterator[Any]:
    """The shared cluster, left idle for the next test: a test that leaves a task running on a
    worker (a bug, or a hang) gets the worker stacks printed and the workers restarted."""
    watchdog = threading.Timer(STACKS_AFTER_S, _print_worker_stacks, [shared_cluster.scheduler_address])
    watchdog.daemon = True
    watchdog.start()
    try:
        yield shared_cluster
    finally:
        watchdog.cancel()
        with distributed.Client(shared_cluster.scheduler_address) as client:
            busy = _busy_after(client, 10.0)
            if busy:
                print("tasks still running after the test:", busy, json.dumps(client.call_stack(), default=str),
                      file=sys.stderr)
                client.restart()


def offline(**kw: Any) -> BatchOptions:
    return BatchOptions(render=RenderOptions(backend="offline"), **kw)


def statuses(result: Any) -> dict[str, str]:
    return {Path(j.id).name: j.status for j in result.jobs}


def wavs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


@pytest.mark.slow
def test_cluster_output_is_byte_identical_to_the_local_pool_then_skipped(tmp_path: Path, cluster: Any) -> None:
    for i in range(4):
        write_timeline(tmp_path / "in" / f"set{i % 2}" / f"j{i}.yaml", seed=i, duration="1.5s")
    local = render_batch([tmp_path / "in"], tmp_path / "local", offline(jobs=2))
    events: list[BatchEvent] = []
    remote = render_batch([tmp_path / "in"], tmp_path / "remote", offline(cluster=cluster.scheduler_address),
                          progress=events.append)
    assert remote.exit_code == 0 and set(statuses(remote).values()) == {"rendered"}, remote.jobs
    assert wavs(tmp_path / "local") == wavs(tmp_path / "remote") and len(wavs(tmp_path / "remote")) == 4
    assert {e.kind for e in events} >= {"planned", "start", "audio", "done"}
    audio = [e.value for e in events if e.kind == "audio"]
    assert audio and max(audio) <= 1.5 + 1e-9, "progress is audio seconds of a job"
    # reports name the same (client-side) paths as the local pool's
    assert [j.files for j in remote.jobs] == [
        tuple((f, p.replace("/local/", "/remote/"), s) for f, p, s in j.files) for j in local.jobs]
    again = render_batch([tmp_path / "in"], tmp_path / "remote", offline(cluster=cluster.scheduler_address))
    assert set(statuses(again).values()) == {"skipped"} and again.exit_code == 0
    write_junit(again, tmp_path / "junit.xml")
    assert json.loads(report_json(again))["jobs"][0]["status"] == "skipped"


def test_unreachable_scheduler_is_exit_2_within_the_timeout(tmp_path: Path) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    env = {**os.environ, "LYRIA_RENDER_CLUSTER": f"tcp://127.0.0.1:{port}"}
    out = subprocess.run([sys.executable, "-m", "render", "batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                          "--backend", "offline"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2, out.stderr
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 10 s" in out.stderr
    assert "Traceback" not in out.stderr  # the wall time is checked below, without interpreter start-up
    assert not (tmp_path / "out" / "a.wav").exists()


def test_unreachable_scheduler_gives_up_after_its_connect_timeout(tmp_path: Path) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler"):
        render_batch([tmp_path / "in"], tmp_path / "out",
                     offline(cluster=f"tcp://127.0.0.1:{port}", cluster_timeout_s=1.0))
    assert time.monotonic() - started < 8


def test_missing_extra_is_exit_2_with_the_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now raises ImportError
    with pytest.raises(UsageError) as info:
        render_batch([tmp_path / "in"], tmp_path / "out", offline(cluster="local:2"))
    assert info.value.exit_code == 2 and "pip install 'lyria-render[cluster]'" in str(info.value)


def test_cli_help_does_not_import_dask() -> None:
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom render.cli import app\n"
            "r = CliRunner().invoke(app, ['batch', '--help'])\nassert r.exit_code == 0, r.output\n"
            "assert '--cluster' in r.output\nprint(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _set_on_workers(module: str, value: str) -> str:
    import importlib

    mod = importlib.import_module(module)
    old, mod.__version__ = mod.__version__, value
    return old


@pytest.mark.parametrize("module, shown", [("render.version", "lyria-render 9.9.9"),
                                           ("render.pipeline.job", "job-hash major 9")])
def test_version_mismatch_is_refused_up_front(tmp_path: Path, cluster: Any, module: str, shown: str) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    with distributed.Client(cluster.scheduler_address) as client:
        old = next(iter(client.run(_set_on_workers, module, "9.9.9").values()))
        try:
            with pytest.raises(UsageError) as info:
                render_batch([tmp_path / "in"], tmp_path / "out", offline(cluster=cluster.scheduler_address))
        finally:
            client.run(_set_on_workers, module, old)
    assert shown in str(info.value) and "install the same lyria-render version" in str(info.value)
    assert not (tmp_path / "out" / "a.wav").exists()


def _private_probe(token_path: str) -> None:
    """On a worker: write probe files somewhere the client never looks (an unshared disk)."""
    import render.batch.cluster as cluster_mod
    from render.files import atomic_write_text

    cluster_mod.atomic_write_text = lambda path, text, **kw: atomic_write_text(Path(token_path) / path.name, text)


def _shared_probe() -> None:
    import render.batch.cluster as cluster_mod
    from render.files import atomic_write_text

    cluster_mod.atomic_write_text = atomic_write_text


def test_out_not_shared_with_the_workers_is_refused(tmp_path: Path, cluster: Any) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    (tmp_path / "private").mkdir()
    with distributed.Client(cluster.scheduler_address) as client:
        client.run(_private_probe, str(tmp_path / "private"))
        try:
            with pytest.raises(UsageError, match="is not shared with the Dask workers") as info:
                render_batch([tmp_path / "in"], tmp_path / "out", offline(cluster=cluster.scheduler_address))
        finally:
            client.run(_shared_probe)
    assert "which this machine cannot read" in str(info.value)
    assert not list((tmp_path / "out").iterdir())


# ------------------------------------------------------------------ Lyria: one gate for the whole cluster
class _LoggedEngine:
    """Wraps the server's engine backend: records when each session starts and ends (server side)."""

    def __init__(self, inner: Any, log: list[tuple[float, float]]) -> None:
        self.inner, self.log = inner, log
        self.name, self.model = inner.name, inner.model

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    @contextlib.asynccontextmanager
    async def connect(self) -> Any:
        started = time.time()
        try:
            async with self.inner.connect() as session:
                yield session
        finally:
            self.log.append((started, time.time()))


@pytest.mark.slow
def test_lyria_sessions_are_capped_and_staggered_across_workers(tmp_path: Path, cluster: Any) -> None:
    from render.backends import LyriaSettings
    from render.server.engine import default_engine_factory

    for name in "abc":
        write_timeline(tmp_path / "in" / f"{name}.yaml", duration="1s", seed=ord(name))
    key_file = tmp_path / "key.txt"
    key_file.write_text(API_KEY + "\n")
    key_file.chmod(0o600)
    sessions: list[tuple[float, float]] = []
    factory = lambda frames: _LoggedEngine(default_engine_factory(frames), sessions)  # noqa: E731
    with serving(engine_factory=factory) as server:
        lyria = LyriaSettings(base_url=server.base_url, ca_cert=server.ca_cert, api_key_file=key_file)
        render = RenderOptions(backend="lyria", lyria=lyria, stall_timeout_s=60.0)  # this machine may be loaded
        options = BatchOptions(render=render, max_sessions=1,
                               session_stagger_s=2.0, cluster=cluster.scheduler_address, retries=0)
        result = render_batch([tmp_path / "in"], tmp_path / "out", options)
    assert set(statuses(result).values()) == {"rendered"}, result.jobs
    assert result.backend == "lyria" and len(sessions) >= 3  # more if a slow session was reconnected
    backends = {json.loads((tmp_path / "out" / f"{n}.manifest.json").read_text())["backend"]["name"] for n in "abc"}
    assert backends == {"lyria"}
    with distributed.Client(cluster.scheduler_address) as client:
        logged = [e for topic, events in client.get_events().items() if topic.endswith("-session-starts")
                  for _, e in events]
    passes = sorted(e["time"] for e in logged)
    assert len(passes) == len(sessions), (passes, sessions)
    assert len({e["worker"] for e in logged}) == 2, "sessions started from both workers"
    assert all(b - a >= 2.0 for a, b in zip(passes, passes[1:])), f"gate passes closer than the stagger: {passes}"
    sessions.sort()
    for (start, end), (next_start, _) in zip(sessions, sessions[1:]):
        assert next_start >= end - SERVER_TEARDOWN_S, f"sessions overlap: {sessions}"
    # Causal order, whatever each connection set-up costs on a loaded machine: the server sees a
    # session only after its gate pass, and the next pass comes only after that session began.
    starts = [start for start, _ in sessions]
    for i, (gate_pass, start) in enumerate(zip(passes, starts)):
        assert start >= gate_pass - CLOCK_SLACK_S, f"session {i} reached the server before its gate pass"
        if i + 1 < len(passes):
            assert passes[i + 1] >= start - CLOCK_SLACK_S, f"gate pass {i + 1} came before session {i} started"


# ------------------------------------------------------------------ faults: fail-fast, Ctrl-C, a worker killed
@pytest.mark.slow
def test_fail_fast_cancels_jobs_not_started(tmp_path: Path, cluster: Any) -> None:
    for name in "abcdefgh":
        write_timeline(tmp_path / "in" / f"{name}.yaml", duration="2s", seed=ord(name))
    result = render_batch([tmp_path / "in"], tmp_path / "out",
                          offline(cluster=cluster.scheduler_address, render_fn=fail_on_b, fail_fast=True))
    states = statuses(result)
    assert states["b.yaml"] == "failed" and "generator exploded" in result.jobs[1].reason
    assert result.exit_code == 1 and "not-run" in states.values(), states
    for name, status in states.items():
        assert (tmp_path / "out" / f"{Path(name).stem}.wav").exists() == (status == "rendered"), (name, status)
        if status == "not-run":
            assert "--fail-fast after" in next(j.reason for j in result.jobs if j.id.endswith(name))


@pytest.mark.slow
def test_ctrl_c_interrupts_running_jobs_keeps_their_spools_and_cancels_the_rest(tmp_path: Path, cluster: Any) -> None:
    for name in "abcdef":
        write_timeline(tmp_path / "in" / f"{name}.yaml", duration="20s", seed=ord(name))
    seen: list[str] = []

    def ctrl_c_on_audio(event: BatchEvent) -> None:  # delivered on the calling thread, like a real Ctrl-C
        if event.kind == "audio" and not seen:
            seen.append(event.job_id)
            raise KeyboardInterrupt

    with pytest.raises(BatchInterrupted) as info:
        render_batch([tmp_path / "in"], tmp_path / "out", offline(cluster=cluster.scheduler_address),
                     progress=ctrl_c_on_audio)
    result = info.value.result
    states = statuses(result)
    assert result.exit_code == 130 and states[Path(seen[0]).name] == "interrupted", states
    assert set(states.values()) <= {"interrupted", "not-run", "rendered"} and "not-run" in states.values()
    for name, status in states.items():
        spool = tmp_path / "out" / ".lyria-render" / f"{Path(name).stem}.spool"
        assert spool.is_dir() == (status == "interrupted"), (name, status)
        assert (tmp_path / "out" / f"{Path(name).stem}.wav").exists() == (status == "rendered")


def slow_render(source: Any, out_dir: Any, options: Any, **kwargs: Any) -> Any:
    """Renders at a crawl (0.3 s per progress event): a job still running when the client leaves."""
    progress = kwargs.pop("progress", None)

    def crawl(event: Any) -> None:
        if progress is not None:
            progress(event)
        time.sleep(0.3)

    return render_timeline(source, out_dir, options, progress=crawl, **kwargs)


@pytest.mark.slow
def test_a_client_that_fails_mid_batch_leaves_no_job_running(tmp_path: Path, cluster: Any) -> None:
    for name in "ab":
        write_timeline(tmp_path / "in" / f"{name}.yaml", duration="120s", seed=ord(name))

    def client_breaks(event: BatchEvent) -> None:
        if event.kind == "audio":
            raise RuntimeError("the client broke")

    with pytest.raises(RuntimeError, match="the client broke"):
        render_batch([tmp_path / "in"], tmp_path / "out",
                     offline(cluster=cluster.scheduler_address, render_fn=slow_render), progress=client_breaks)
    with distributed.Client(cluster.scheduler_address) as client:
        busy = _busy_after(client, 10.0)  # each job would crawl on for about 20 s
        assert not busy, f"jobs kept running after their client left: {busy}"
    assert list((tmp_path / "out" / ".lyria-render").glob("*.spool")), "the stopped jobs keep their spools"


def kill_me_once(source: Any, out_dir: Any, options: Any, **kwargs: Any) -> Any:
    """Renders; on the first attempt of ``victim.yaml`` it hangs after 1 s of audio (spooled) for the
    test to kill its worker, after leaving its process id in OUT."""
    progress = kwargs.pop("progress", None)
    marker = Path(out_dir) / "victim.pid"

    def watch(event: Any) -> None:
        if progress is not None:
            progress(event)
        frames = getattr(event, "received_frames", 0) or 0
        if Path(source).name == "victim.yaml" and frames >= SAMPLE_RATE and not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(120)

    return render_timeline(source, out_dir, options, progress=watch, **kwargs)


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_retried_on_another_and_the_batch_completes(tmp_path: Path, cluster: Any) -> None:
    write_timeline(tmp_path / "in" / "victim.yaml", duration="3s", seed=5)
    for name in "ab":
        write_timeline(tmp_path / "in" / f"{name}.yaml", duration="1s", seed=ord(name))
    marker = tmp_path / "out" / "victim.pid"

    def killer() -> None:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(int(marker.read_text()), signal.SIGKILL)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    events: list[BatchEvent] = []
    result = render_batch([tmp_path / "in"], tmp_path / "out",
                          offline(cluster=cluster.scheduler_address, render_fn=kill_me_once), progress=events.append)
    thread.join(5)
    assert result.exit_code == 0 and set(statuses(result).values()) == {"rendered"}, result.jobs
    victim = next(j for j in result.jobs if j.id.endswith("victim.yaml"))
    assert victim.attempts == 2 and "lost worker" in victim.reason, victim
    assert any(e.kind == "retry" and e.job_id == victim.id and "was lost" in e.value for e in events)
    reference = render_batch([tmp_path / "in"], tmp_path / "ref", offline(jobs=1))
    assert reference.exit_code == 0
    assert wavs(tmp_path / "out") == wavs(tmp_path / "ref"), "the retried job's output matches a clean render"
