"""Benchmark of a witness (issue 20): what one `passport witness serve` costs per cosigned checkpoint.

A log of ``--leaves`` leaves is built in memory; the witness (a real process, its state on disk with
synchronous=FULL) is given a first checkpoint from old size 0, then ``--rounds`` checkpoints one after another, each
grown by 1 to 1,000 leaves with the consistency proof from the previous one (what the service sends). Each
add-checkpoint's latency is compared with a GET /healthz on the same process in the same run (the floor of one HTTP
round trip there): the ratio is what checking the log's signature and the proof, writing the state and cosigning
add. A log signs a checkpoint every PASSPORT_CHECKPOINT_INTERVAL_SECONDS (300) and waits
PASSPORT_WITNESS_TIMEOUT_SECONDS (10) for an answer: the goal is a p95 far below that timeout.

    .venv/bin/python scripts/bench_witness.py [--leaves 1000000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import PASSPORT, background_load, free_port, machine, machine_line, table, write_result

from app.domain import merkle
from app.domain.checkpoint import checkpoint_body, sign_note, verifier_key
from app.domain.witness import submission_body

LOG_NAME = "bench.example/log"
TIMEOUT_GOAL_SECONDS = 10.0


def _post(url: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.status, time.perf_counter() - started


def _get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
    return time.perf_counter() - started


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(20)
    seed = os.urandom(32)

    started = time.perf_counter()
    nodes: dict[tuple[int, int], bytes] = {}
    total = args.leaves + args.rounds * 1000
    for index in range(total):
        for position, value in merkle.completed_nodes(index, merkle.leaf_hash(index.to_bytes(8, "big")), nodes):
            nodes[position] = value
    print(f"tree of {total:,} leaves built in {time.perf_counter() - started:.1f} s", flush=True)

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    log_vkey = verifier_key(LOG_NAME, Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw())

    def note(size: int) -> str:
        return sign_note(checkpoint_body(LOG_NAME, size, merkle.range_hash(0, size, nodes)), LOG_NAME, seed)

    with tempfile.TemporaryDirectory() as workdir:
        key_file = Path(workdir) / "w.key"
        subprocess.run(
            [PASSPORT, "witness", "init", "--name", "bench.example/witness", "--key-file", str(key_file)],
            check=True,
            capture_output=True,
        )
        port = free_port()
        process = subprocess.Popen(
            [
                PASSPORT,
                "witness",
                "serve",
                "--key-file",
                str(key_file),
                "--log-key",
                log_vkey,
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _get(f"{base}/healthz")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            load_before = background_load()
            size = args.leaves
            status, _ = _post(f"{base}/add-checkpoint", submission_body(0, [], note(size)))
            assert status == 200
            adds, floors, proof_lines = [], [], []
            for _ in range(args.rounds):
                grown = size + rng.randint(1, 1000)
                proof = merkle.consistency_proof(size, grown, nodes)
                body = submission_body(size, proof, note(grown))
                status, seconds = _post(f"{base}/add-checkpoint", body)
                assert status == 200
                adds.append(seconds)
                proof_lines.append(len(proof))
                floors.append(_get(f"{base}/healthz"))
                size = grown
            load_after = background_load()
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    info = machine()
    p50, p95 = statistics.median(adds), _percentile(adds, 0.95)
    floor = statistics.median(floors)
    rows = [
        [
            "add-checkpoint (verify, prove, fsync, cosign)",
            f"{p50 * 1000:.2f}",
            f"{p95 * 1000:.2f}",
            f"{p50 / floor:.1f}",
        ],
        [
            "GET /healthz on the same process (floor)",
            f"{floor * 1000:.2f}",
            f"{_percentile(floors, 0.95) * 1000:.2f}",
            "1.0",
        ],
    ]
    print(machine_line(info))
    print(f"load average {os.getloadavg()}, background busy cores {load_before:.2f} before, {load_after:.2f} after")
    print(
        f"{args.rounds} checkpoints from a tree of {args.leaves:,} leaves, "
        f"{statistics.mean(proof_lines):.1f} proof lines on average"
    )
    print(table(["request", "p50 ms", "p95 ms", "p50 / floor"], rows))
    print(f"p95 is {p95 / TIMEOUT_GOAL_SECONDS:.4f} of the log's 10 s timeout (goal: far below 1)")
    write_result(
        "witness",
        {
            "machine": info,
            "leaves": args.leaves,
            "rounds": args.rounds,
            "add_checkpoint_ms": {"p50": p50 * 1000, "p95": p95 * 1000},
            "healthz_ms": {"p50": floor * 1000},
            "ratio_to_floor": p50 / floor,
            "ratio_p95_to_timeout": p95 / TIMEOUT_GOAL_SECONDS,
            "loadavg": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()
