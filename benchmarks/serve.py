"""Load test of `recdiff serve`: throughput and latency under a fixed number of concurrent clients.

    python benchmarks/serve.py RUN_DIR [--clients 64] [--seconds 20] [--k 10] [--set model.sampler.name=x0] [--json FILE]
    python benchmarks/serve.py --table FILE [FILE ...]    # the docs' table of --json files

Starts ``recdiff serve RUN_DIR`` on a free loopback port in a child process, waits for
``/health``, then runs ``--clients`` clients for ``--seconds``: each sends ``POST /recommend``
with a real user's history (the newest max_len items of each user of the run's data, in the
data's ids; random items with lengths uniform in 1..max_len when the data is not at hand)
and sends the next as soon as the answer arrives (a closed loop, so the load is bounded).
The clients use aiohttp, whose per-request cost is a fraction of httpx's, so more of the CPU
is left to the server. Prints requests
(= recommendation lists) per second, latency percentiles, and how the server batched them.
Client and server share the machine, so on a 2-core CPU the figures include the client's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx2
import numpy as np


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(run_dir: Path, port: int, settings: list[str], extra: list[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "recdiff", "serve", str(run_dir), "--port", str(port), *extra]
    for setting in settings:
        command += ["--set", setting]
    return subprocess.Popen(command)


def wait_until_up(base: str, server: subprocess.Popen[bytes], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode} before answering")
        try:
            if httpx2.get(f"{base}/health", timeout=1).status_code == 200:
                return dict(httpx2.get(f"{base}/metadata", timeout=5).json())
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer /health within {timeout:.0f} s")


def histories(run_dir: Path, count: int, seed: int) -> tuple[list[list[str]], str]:
    """``count`` histories in the data's ids: real users' newest max_len items, or random ones without the data."""
    from recdiff.data import load_data
    from recdiff.errors import RecdiffError
    from recdiff.spec import load_spec

    spec = load_spec(run_dir / "spec.yaml")
    rng = np.random.default_rng(seed)
    try:
        data = load_data(spec.data, spec.seed).data
    except RecdiffError:
        from recdiff.training.rundir import RunDir

        vocab = RunDir.open(run_dir).read_vocab()
        if vocab is None:
            raise SystemExit(f"{run_dir} has neither its training data nor a vocab.json to draw histories from")
        items = vocab.items
        lengths = rng.integers(1, spec.data.max_len + 1, count)
        return [list(rng.choice(items, size=n, replace=False)) for n in lengths], "random"
    users = rng.choice(len(data.offsets) - 1, size=count)
    starts, ends = data.offsets[users], data.offsets[users + 1]
    starts = np.maximum(starts, ends - spec.data.max_len)
    found = [[str(data.item_ids[i - 1]) for i in data.items[start:end]] for start, end in zip(starts, ends)]
    return found, "real users"


async def load(base: str, clients: int, seconds: float, k: int, bodies: list[dict]) -> dict:
    """Run the closed-loop clients; latencies in milliseconds of every answered request."""
    latencies: list[float] = []
    errors = 0

    async def client(number: int, http: aiohttp.ClientSession, stop: float) -> None:
        nonlocal errors
        sent = number
        while time.perf_counter() < stop:
            started = time.perf_counter()
            async with http.post(f"{base}/recommend", json=bodies[sent % len(bodies)]) as response:
                await response.read()
                if response.status == 200:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    errors += 1
            sent += clients

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        warm = time.perf_counter() + min(2.0, seconds / 5)  # first requests pay for lazy set-up
        await asyncio.gather(*(client(number, http, warm) for number in range(clients)))
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(client(number, http, started + seconds) for number in range(clients)))
        elapsed = time.perf_counter() - started
    measured = np.array(latencies)
    return {
        "clients": clients, "seconds": round(elapsed, 2), "requests": len(latencies), "errors": errors,
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(measured, 50)), 2), "p90_ms": round(float(np.percentile(measured, 90)), 2),
        "p99_ms": round(float(np.percentile(measured, 99)), 2), "max_ms": round(float(measured.max()), 2),
    }


def table(argv: list[str], root: Path) -> list[str]:
    """The Markdown table of ``--table FILE...`` (relative to ``root``): what docs/benchmarks.md shows, via table.py."""
    lines = ["| sampler | torch threads | clients | recommendations/s | p50 (ms) | p90 (ms) | p99 (ms) | mean batch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in [arg for arg in argv if arg != "--table"]:
        result = json.loads((root / name).read_text(encoding="utf-8"))
        settings = dict(setting.split("=", 1) for setting in result["settings"])
        lines.append(
            f"| `{settings.get('model.sampler.name', 'spec')}` | {settings.get('train.threads', 'spec')} | {result['clients']} | "
            f"{result['per_second']:,.0f} | {result['p50_ms']:.1f} | {result['p90_ms']:.1f} | {result['p99_ms']:.1f} | "
            f"{result['mean_batch']:.1f} |"
        )
    return lines


def main() -> None:
    if sys.argv[1:2] == ["--table"]:
        print("\n".join(table(sys.argv[2:], Path.cwd())))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--set", dest="settings", action="append", default=None, help="inference setting for the server")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `recdiff serve` option, e.g. --max-batch=128")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    settings = args.settings if args.settings is not None else ["model.sampler.name=x0"]

    found, source = histories(args.run_dir, 2000, args.seed)
    bodies = [{"history": history, "k": args.k} for history in found]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(args.run_dir, port, settings, args.server_arg)
    try:
        metadata = wait_until_up(base, server)
        figures = asyncio.run(load(base, args.clients, args.seconds, args.k, bodies))
        batches = httpx2.get(f"{base}/metadata", timeout=5).json()["batches"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures |= {
        "settings": settings, "num_items": metadata.get("num_items"), "max_len": metadata.get("max_len"),
        "histories": source, "mean_history": round(float(np.mean([len(h) for h in found])), 1),
        "mean_batch": round(batches["requests"] / max(batches["count"], 1), 1), "largest_batch": batches["largest"],
    }
    import torch

    from recdiff.training.environment import environment

    figures["env"] = environment(torch.device("cpu"), args.seed)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
