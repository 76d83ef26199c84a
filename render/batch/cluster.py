"""Batch jobs as Dask distributed tasks (``batch --cluster``); the only module that imports dask.

Each job is one task running :func:`~render.batch.worker.run_task` (the local pool's job
function) on a worker. Before anything is submitted the client checks that every worker
runs the same lyria-render (package version and job-hash major) and that OUT is a shared
folder (a worker writes a probe file, the client reads it). Progress goes from workers to
the client as Dask events (``log_event`` / ``subscribe_topic``); Ctrl-C sets a
``distributed.Event`` that running jobs see within :data:`STOP_CHECK_S` (they stop and keep
their spools) and cancels the jobs not yet started. A worker that dies mid-job makes the
scheduler run the job again on another worker, which resumes the job's spool when it can
read it and starts fresh otherwise. Lyria sessions pass the cluster-wide
:class:`~render.batch.gate.ClusterGate`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from render.errors import UsageError
from render.files import atomic_write_text

from .gate import ClusterGate
from .results import BatchEvent
from .worker import JobOutcome, JobStopped, JobTask, QueueProgress, limit_blas_threads, run_task

__all__ = ["run_cluster", "connect", "check_versions", "probe_shared", "cluster_job", "ClusterContext",
           "INSTALL_HINT"]

INSTALL_HINT = "pip install 'lyria-render[cluster]'"
#: How often a running job looks at the stop flag (Ctrl-C).
STOP_CHECK_S = 0.5
#: After Ctrl-C, how long running jobs get to stop and report before their futures are dropped.
STOP_GRACE_S = 30.0
POLL_S = 0.05
#: The outcome of a job that saw the batch stopping before it started (reported as not-run).
NOT_STARTED = "not-started"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError("--cluster needs Dask distributed, which is not installed", hint=INSTALL_HINT) from None
    return distributed


@contextlib.contextmanager
def connect(spec: str, timeout_s: float) -> Iterator[Any]:
    """A Dask client for ``tcp://HOST:PORT`` (or any Dask address), or ``local:N`` (a LocalCluster
    of N worker processes on this machine, closed on exit). Waits for at least one worker.

    Raises:
        UsageError: dask missing, a bad spec, an unreachable scheduler or no workers within ``timeout_s``.
    """
    distributed = _distributed()
    with contextlib.ExitStack() as stack:
        if spec.startswith("local:"):
            count = spec[len("local:"):]
            if not count.isdigit() or int(count) < 1:
                raise UsageError(f"--cluster {spec!r}: expected local:N with N >= 1 worker processes",
                                 hint="e.g. --cluster local:2, or --cluster tcp://HOST:8786")
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=int(count), threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(spec, timeout=timeout_s))
            except (OSError, TimeoutError, ValueError) as exc:
                raise UsageError(f"cannot reach the Dask scheduler at {spec} within {timeout_s:g} s "
                                 f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                                 hint="start one with `dask scheduler` and `dask worker ADDRESS`, "
                                      "or fix --cluster / LYRIA_RENDER_CLUSTER") from None
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except (TimeoutError, OSError):
            raise UsageError(f"the Dask scheduler at {spec} has no workers (waited {timeout_s:g} s)",
                             hint="start workers with `dask worker ADDRESS`") from None
        yield client


# ---------------------------------------------------------------- checks before submitting
def worker_versions() -> dict[str, str]:
    """What this process would stamp into job hashes and manifests (runs on every worker)."""
    import render.pipeline.job as job
    import render.version as version

    return {"version": version.__version__, "hash_major": job.__version__.split(".")[0]}


def check_versions(client: Any) -> None:
    """Refuse workers whose package version or job-hash major differs from this client's."""
    mine = worker_versions()
    for address, theirs in sorted(client.run(worker_versions).items()):
        if theirs != mine:
            raise UsageError(
                f"Dask worker {address} runs lyria-render {theirs['version']} (job-hash major "
                f"{theirs['hash_major']}), this client {mine['version']} (major {mine['hash_major']}); "
                "mixed versions would write outputs with different job hashes",
                hint="install the same lyria-render version on the client and every worker")


def _probe_write(folder: str, token: str, dask_worker: Any = None) -> str:
    address = getattr(dask_worker, "address", str(os.getpid()))
    path = Path(folder) / f".lyria-render-probe-{token}-{abs(hash(address)):x}"
    try:
        atomic_write_text(path, f"{token} {address}\n", durable=False)
    except OSError as exc:
        return f"error: {exc.strerror or exc}"
    return str(path)


def _probe_remove(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


def probe_shared(client: Any, folder: Path) -> None:
    """Every worker writes a probe file into ``folder``; the client must read each one back."""
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    written = client.run(_probe_write, str(folder.resolve()), token)
    problems = []
    for address, path in sorted(written.items()):
        if path.startswith("error: "):
            problems.append(f"worker {address} cannot write there ({path[7:]})")
            continue
        try:
            ok = Path(path).read_text(encoding="utf-8").split() == [token, address]
        except OSError:
            ok = False
        if not ok:
            problems.append(f"worker {address} wrote {path}, which this machine cannot read")
    client.run(_probe_remove, [p for p in written.values() if not p.startswith("error: ")])
    if problems:
        raise UsageError(f"the output folder {folder} is not shared with the Dask workers: " + "; ".join(problems),
                         hint="OUT must be a path every worker and this machine reach (a shared filesystem "
                              "mounted at the same path)")


# ---------------------------------------------------------------- on a worker
@dataclass(frozen=True)
class ClusterContext:
    """Names shared by the client and its jobs (picklable)."""

    topic: str
    stop_event: str  # set on Ctrl-C: running jobs stop
    skip_event: str  # set on Ctrl-C and --fail-fast: jobs not started yet return "not-started"
    gate: ClusterGate | None = None


class _Progress:
    """A job's progress callback on a worker: forwards audio seconds, stops on the batch's stop flag."""

    def __init__(self, task: JobTask, ctx: ClusterContext, post: Any) -> None:
        self.forward = QueueProgress(task.id, put=post)
        self.stop_event, self.checked = ctx.stop_event, time.monotonic()

    def __call__(self, event: Any) -> None:
        now = time.monotonic()
        if now - self.checked >= STOP_CHECK_S:
            self.checked = now
            from distributed import Event

            if Event(self.stop_event).is_set():
                raise JobStopped("the batch is stopping")  # unwinds the conductor; the spool is kept
        self.forward(event)


_LIMITED = False


def cluster_job(task: JobTask, ctx: ClusterContext) -> JobOutcome:
    """The Dask task of one job: :func:`run_task` with progress and retries posted to the client."""
    global _LIMITED
    from distributed import Event, get_worker

    if Event(ctx.skip_event).is_set():
        return JobOutcome(id=task.id, status=NOT_STARTED)
    worker = get_worker()
    if not _LIMITED:
        _LIMITED = bool(limit_blas_threads(1)) or True  # one BLAS thread: a worker thread per core

    def post(message: tuple[str, str, Any]) -> None:
        worker.log_event(ctx.topic, message)

    post(("start", task.id, worker.address))
    return run_task(task, progress=_Progress(task, ctx, post), session_gate=ctx.gate,
                    on_retry=lambda n, why: post(("retry", task.id, f"attempt {n} failed: {why}")))


# ---------------------------------------------------------------- on the client
def run_cluster(to_run: list[Any], tasks: list[JobTask], run: Any, backend: str) -> None:
    """Run ``tasks`` (one per planned job in ``to_run``) on the cluster ``run.options.cluster``.

    ``run`` is the executor's book-keeping (``emit``, ``finish``, ``queue``, ``stop_reason``).
    Raises :class:`UsageError` (nothing rendered) when the cluster is unusable.
    """
    options = run.options
    with connect(options.cluster, options.cluster_timeout_s) as client:
        check_versions(client)
        probe_shared(client, Path(os.path.commonpath([str(t.out_dir.resolve()) for t in tasks])))
        topic = f"lyria-render-{uuid.uuid4().hex[:12]}"
        stop, skip = (_distributed().Event(f"{topic}-{what}", client=client) for what in ("stop", "skip"))
        gate = ClusterGate(topic, options.max_sessions, options.session_stagger_s, stop.name) \
            if backend == "lyria" else None
        if gate is not None:
            gate.open(client)
        ctx = ClusterContext(topic, stop.name, skip.name, gate)
        tracker = _Tracker(run, skip)
        client.subscribe_topic(topic, lambda event: run.queue.put(event[1]))
        futures = {client.submit(cluster_job, _absolute(t, backend), ctx, key=f"{topic}-{i}", pure=False): (p, t)
                   for i, (p, t) in enumerate(zip(to_run, tasks))}
        try:
            try:
                _collect(futures, tracker, deadline=None)
            except KeyboardInterrupt:
                run.interrupted = True
                run.stop_reason = "not started: the batch was interrupted"
                stop.set()
                skip.set()
                _collect(futures, tracker, deadline=time.monotonic() + STOP_GRACE_S)
        finally:
            unfinished = [f for f in futures if not f.done()]
            if unfinished:  # leaving early (an error, or Ctrl-C past the grace): no job may run on
                stop.set()  # unwatched, holding a worker thread or a Lyria slot; spools are kept
                skip.set()
            client.cancel(unfinished)
            tracker.drain()
            client.unsubscribe_topic(topic)


def _absolute(task: JobTask, backend: str) -> JobTask:
    """Workers have their own working folder, and must not pick another backend than the plan's."""
    return replace(task, timeline=task.timeline.resolve(), out_dir=task.out_dir.resolve(),
                   options=replace(task.options, backend=backend))


class _Tracker:
    """Turns worker messages into :class:`BatchEvent` s; a second start of a job means its worker was lost."""

    def __init__(self, run: Any, skip: Any) -> None:
        self.run, self.skip = run, skip
        self.workers: dict[str, list[str]] = {}

    def drain(self) -> None:
        while not self.run.queue.empty():
            kind, job_id, value = self.run.queue.get_nowait()
            if kind == "start":
                seen = self.workers.setdefault(job_id, [])
                seen.append(str(value))
                if len(seen) > 1:
                    kind, value = "retry", f"worker {seen[-2]} was lost; running again on {seen[-1]}"
                else:
                    value = 0.0
            self.run.emit(BatchEvent(kind, job_id, value))

    def outcome(self, future: Any, task: JobTask) -> JobOutcome:
        """The job's outcome in the client's terms (its own paths; lost workers count as attempts)."""
        if future.status != "finished":
            exc = future.exception()
            return JobOutcome(id=task.id, status="failed", reason=f"worker error: {type(exc).__name__}: {exc}")
        outcome: JobOutcome = future.result()
        lost = max(0, len(self.workers.get(task.id, [])) - 1)
        remote, local = str(task.out_dir.resolve()), str(task.out_dir)
        files = tuple((fmt, _relocate(path, remote, local), sha) for fmt, path, sha in outcome.files)
        manifest = _relocate(outcome.manifest_path, remote, local) if outcome.manifest_path else None
        reason = outcome.reason + (f" (after {lost} lost worker{'s' if lost > 1 else ''})" if lost else "")
        return replace(outcome, attempts=outcome.attempts + lost, files=files, manifest_path=manifest, reason=reason)


def _relocate(path: str, remote: str, local: str) -> str:
    return str(Path(local) / Path(path).relative_to(remote)) if Path(path).is_relative_to(remote) else path


def _collect(futures: dict[Any, tuple[Any, JobTask]], tracker: _Tracker, deadline: float | None) -> None:
    run = tracker.run
    pending = {f for f, (p, _) in futures.items() if p.job.id not in run.reports and not f.cancelled()}
    while pending and (deadline is None or time.monotonic() < deadline):
        time.sleep(POLL_S)
        tracker.drain()
        for f in [f for f in pending if f.done()]:
            pending.discard(f)
            p, task = futures[f]
            if f.cancelled() or p.job.id in run.reports:
                continue
            tracker.drain()
            outcome = tracker.outcome(f, task)
            if outcome.status != NOT_STARTED:  # those are reported as not-run with the stop reason
                run.finish(p, outcome)
        if run.stop_reason and not tracker.skip.is_set():
            tracker.skip.set()  # fail-fast or Ctrl-C: jobs not started yet never will
