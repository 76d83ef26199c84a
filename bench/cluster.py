"""Batch on Dask: 16 short offline jobs through a scheduler with 2 workers vs 1 worker, and the
per-job overhead of going through the cluster (1 worker vs the in-process serial run).

Goals (issue 16): speed-up >= 1.7x with 2 workers on 2 cores; overhead < 0.3 s per job.

Run:  .venv/bin/pip install -e '.[cluster]' && .venv/bin/python bench/cluster.py   (about a minute)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch import timed_batch, write_jobs  # noqa: E402 - bench/batch.py

from distributed import LocalCluster  # noqa: E402


def run(work: Path, count: int) -> None:
    src = work / "jobs"
    write_jobs(src, count, (4.0, 5.0, 6.0))
    timed_batch(src, work / "warm", 1, shard=(1, count))  # imports and caches of this process
    serial_s, serial = timed_batch(src, work / "serial", 1)
    times = {}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, silence_logs=logging.ERROR) as cluster:
            address = cluster.scheduler_address
            timed_batch(src, work / f"warm{workers}", 1, shard=(1, count), cluster=address)  # worker imports
            times[workers], result = timed_batch(src, work / f"c{workers}", 1, cluster=address)
            assert result.exit_code == 0, result.counts  # type: ignore[attr-defined]
    same = all((work / "serial" / p.relative_to(work / "c2")).read_bytes() == p.read_bytes()
               for p in (work / "c2").rglob("*.wav"))
    audio_s = sum(j.duration_s or 0 for j in serial.jobs)  # type: ignore[attr-defined]
    print(f"{count} offline jobs ({audio_s:.0f} s of audio, wav), scheduler + workers on this machine:")
    print(f"  in-process, serial:     {serial_s:6.2f} s")
    print(f"  cluster, 1 worker:      {times[1]:6.2f} s")
    print(f"  cluster, 2 workers:     {times[2]:6.2f} s")
    print(f"  speed-up 2 vs 1 worker: {times[1] / times[2]:.2f}x (goal >= 1.7x on 2 cores); "
          f"identical files: {same}")
    print(f"  overhead per job (1 worker vs in-process): {(times[1] - serial_s) / count:+.3f} s (goal < 0.3 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs-count", type=int, default=16)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        run(Path(tmp), args.jobs_count)


if __name__ == "__main__":
    main()
