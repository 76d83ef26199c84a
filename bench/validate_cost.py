"""Validation cost of large and hostile timelines (issue 10, item 8): prints seconds per case.

    python bench/validate_cost.py [--events 10000] [--keys 100000]

Accepted JSON takes the fast path (the C ``json`` module); YAML, and JSON with a problem to
locate, go through ruamel.yaml's round-trip parser (pure Python, linear, the slow part).
"""

from __future__ import annotations

import argparse
import json
import time

from render.errors import TimelineError
from render.timeline.loader import parse_timeline


def _events(n: int) -> dict:
    evs = [{"at": round(i * 0.3, 3), "ramp": 0.2, "config": {"density": (i % 10) / 10}} if i % 2 else
           {"at": round(i * 0.3, 3), "weights": {"Piano": 1 + i % 5}} for i in range(n)]
    return {"duration": n * 0.3 + 10, "prompts": ["Piano", "Drums"], "config": {"bpm": 120}, "events": evs}


def _keys(n: int) -> dict:
    return {"duration": 10, "prompts": ["Piano"], "output": {"tags": {"custom": {f"k{i}": "v" for i in range(n)}}}}


def _yaml(data: dict) -> str:
    return json.dumps(data, indent=1)  # block-free JSON is YAML; the YAML path reads it as YAML


_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")) + "duration: 2\nprompts: [P]\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--keys", type=int, default=100_000)
    args = ap.parse_args()
    cases = {
        f"{args.events} events, JSON": (json.dumps(_events(args.events)), True),
        f"{args.events} events, YAML": (_yaml(_events(args.events)), False),
        f"{args.keys} keys, JSON": (json.dumps(_keys(args.keys)), True),
        f"{args.keys} keys, YAML": (_yaml(_keys(args.keys)), False),
        f"{args.events} events with an error, JSON": (json.dumps({**_events(args.events), "seed": -1}), True),
        "alias bomb (435 bytes)": (_BOMB, False),
        "JSON nested 100,000 deep": ('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}", True),
    }
    for name, (text, is_json) in cases.items():
        started = time.perf_counter()
        try:
            parse_timeline(text, source="bench", is_json=is_json)
            verdict = "OK"
        except TimelineError as exc:
            verdict = str(exc).splitlines()[-1][:70]
        print(f"{name:45s} {len(text) / 1e6:7.2f} MB {time.perf_counter() - started:8.2f} s  {verdict}")


if __name__ == "__main__":
    main()
