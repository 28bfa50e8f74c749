"""pysot's ``bench_train.py`` and our ``bench_train_step.py``, run alternately; ratios as JSON.

    PYSOT_DIR=/path/to/pysot python scripts/bench/interleave_train.py --rounds 3 \
        --pysot-python /path/to/pysot-venv/bin/python \
        --pair siamrpn_alex_dwxcorr_16gpu:siamrpn_alex_dwxcorr:frozen \
        --pair siamrpn_r50_l234_dwxcorr:siamrpn_r50_l234_dwxcorr:backbone

Each ``--pair PYSOT_CONFIG:MODEL:REGIME[:OVERRIDES]`` (overrides comma-separated, e.g.
``model.compile=true``) runs once per round on each side, the side going first alternating with
the round, every process pinned to the same cores (``taskset``) with the same thread count, as
``../shared/reference-bench/README.md`` prescribes. The machine is shared, so the figures of one
process are noisy: each round gives a ratio of two neighbouring runs (``pysot step / our step``,
> 1 = we are faster), and the summary line per pair has the medians of steps and of ratios.
Every command run is printed to stderr and kept in the JSON (``commands``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parents[2] / "shared" / "reference-bench"


def parse_pair(text: str) -> dict[str, Any]:
    """``PYSOT_CONFIG:MODEL:REGIME[:OVERRIDES]`` -> dict (overrides split on commas)."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or not all(parts[:3]):
        raise argparse.ArgumentTypeError(
            f"--pair {text!r}: expected PYSOT_CONFIG:MODEL:REGIME[:OVERRIDES]"
        )
    overrides = [o for o in parts[3].split(",") if o] if len(parts) == 4 else []
    return {"pysot": parts[0], "model": parts[1], "regime": parts[2], "overrides": overrides}


def _run(cmd: list[str], env: dict[str, str]) -> str:
    print("+ " + shlex.join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def pysot_step(pair: dict, args: argparse.Namespace, env: dict[str, str]) -> tuple[float, list]:
    """Median step seconds of pysot's bench_train.py for ``pair`` and the command run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "t.json"
        cmd = [
            *args.taskset, args.pysot_python, str(args.reference / "bench_train.py"),
            "--config", pair["pysot"], "--regime", pair["regime"], "--batch", str(args.batch),
            "--threads", str(args.threads), "--steps", str(args.steps), "--warmup",
            str(args.warmup), "--out", str(out),
        ]  # fmt: skip
        _run(cmd, env)
        return float(json.loads(out.read_text())["summary"]["step_s"]), cmd


def our_step(pair: dict, args: argparse.Namespace, env: dict[str, str]) -> tuple[float, list]:
    """Median step seconds of bench_train_step.py for ``pair`` and the command run."""
    cmd = [
        *args.taskset, sys.executable, str(HERE / "bench_train_step.py"), "--model",
        pair["model"], "--regime", pair["regime"], "--batch", str(args.batch), "--threads",
        str(args.threads), "--steps", str(args.steps), "--warmup", str(args.warmup),
        "--precision", args.precision, *pair["overrides"],
    ]  # fmt: skip
    line = _run(cmd, env).strip().splitlines()[-1]
    return float(json.loads(line)["median_step_s"]), cmd


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the rounds; print one JSON line per pair and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", type=parse_pair, action="append", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--precision", default="32-true", help="ours; pysot's side is always fp32")
    ap.add_argument("--pysot-python", default=sys.executable)
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--cores", default="0,1", help="taskset -c list; '' to not pin")
    args = ap.parse_args(argv)
    if not os.environ.get("PYSOT_DIR"):
        raise SystemExit("set PYSOT_DIR to a pysot checkout (../shared/reference-bench/README.md)")
    args.taskset = ["taskset", "-c", args.cores] if args.cores else []
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    results = []
    for pair in args.pair:
        rows = []
        for r in range(args.rounds):
            sides = [("pysot", pysot_step), ("ours", our_step)]
            got = {name: f(pair, args, env) for name, f in sides[:: 1 if r % 2 == 0 else -1]}
            p, o = got["pysot"][0], got["ours"][0]
            rows.append({"pysot_step_s": p, "our_step_s": o, "ratio": p / o})
            print(json.dumps({"round": r, **pair, **rows[-1]}), file=sys.stderr, flush=True)
        out = {
            **pair,
            "batch": args.batch,
            "threads": args.threads,
            "precision": args.precision,
            "rounds": rows,
            "pysot_step_s": statistics.median(x["pysot_step_s"] for x in rows),
            "our_step_s": statistics.median(x["our_step_s"] for x in rows),
            "median_ratio": statistics.median(x["ratio"] for x in rows),
            "min_ratio": min(x["ratio"] for x in rows),
            "commands": [shlex.join(got[k][1]) for k in ("pysot", "ours")],
        }
        print(json.dumps(out), flush=True)
        results.append(out)
    return results


if __name__ == "__main__":
    main()
