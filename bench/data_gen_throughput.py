"""How fast data_gen sends requests and how fully it uses a rate limit, side by side in one run, against a local
OpenAI-compatible server (tests/fake_openai.py, in its own process) that answers after a fixed latency.

    python -m bench.data_gen_throughput [--latency 0.2] [--period 10]        (make bench)

1. Requests per second at several concurrencies through the real path (Teacher + run_jobs + the durable run log),
   next to a sequential loop like stanford_alpaca's and to the openai SDK's AsyncOpenAI (the client distilabel
   uses) at the same concurrency. Ideal = concurrency / latency.
2. The whole command, `python -m data_gen answer` on 10,000 records at 128 in flight: wall time from process
   start to exit against the ideal 10,000 / (128 / latency).
3. A tokens-per-minute limit the server enforces over a rolling window (a compressed "minute" of --period
   seconds; charged prompt + max_tokens on admission, settled with the usage): the share of each whole window
   the run filled after the first, and the 429s it got, for data_gen with --tpm and for distilabel's way
   (asyncio.gather over batches of 50 inputs through AsyncOpenAI with its 6 retries, no token limiting).
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import openai

from gpt4llm.teacher.client import Teacher
from gpt4llm.teacher.dispatch import run_jobs
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.teacher.runlog import Job, RunLog

ROOT = Path(__file__).resolve().parents[1]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), *args],
                              stdout=subprocess.PIPE, text=True)
    return server, server.stdout.readline().strip()


def server_stats(url: str) -> dict:
    return json.loads(urllib.request.urlopen(url.removesuffix("/v1") + "/stats").read())


def jobs(n: int, tag: str, max_tokens: int = 16) -> list[Job]:
    return [Job(f"{tag}-{i}", [{"role": "user", "content": f"Question {i} of run {tag}"}], {"max_tokens": max_tokens})
            for i in range(n)]


async def data_gen_client(url: str, concurrency: int, n: int) -> tuple[float, float]:
    teacher = Teacher(TeacherConfig(model="bench", base_url=url, concurrency=concurrency))
    with tempfile.TemporaryDirectory() as tmp:
        log = RunLog(Path(tmp) / "records.jsonl")
        cpu, start = time.process_time(), time.perf_counter()
        summary = await run_jobs(jobs(n, f"c{concurrency}"), teacher, log, desc=f"concurrency {concurrency}")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        log.close()
    await teacher.close()
    assert summary.done == n, summary.lines()
    return wall, cpu


async def sdk_client(url: str, concurrency: int, n: int) -> tuple[float, float]:
    """The openai SDK's typed path at the same concurrency (distilabel's OpenAILLM calls it this way)."""
    client = openai.AsyncOpenAI(api_key="bench", base_url=url, max_retries=6, timeout=120)
    slots = asyncio.Semaphore(concurrency)

    async def one(i):
        async with slots:
            return await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": f"SDK question {i}"}], max_tokens=16
            )

    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.close()
    return wall, cpu


def sequential(url: str, n: int) -> tuple[float, float]:
    """stanford_alpaca's generate_instruction.py: a blocking client, one request after another."""
    client = openai.OpenAI(api_key="bench", base_url=url)
    cpu, start = time.process_time(), time.perf_counter()
    for i in range(n):
        client.chat.completions.create(
            model="bench", messages=[{"role": "user", "content": f"Question {i}"}], max_tokens=16
        )
    return time.perf_counter() - start, time.process_time() - cpu


def whole_command(url: str, n: int, concurrency: int, *extra: str) -> float:
    """Wall seconds of `python -m data_gen answer` on n records, from process start to exit."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.json"
        source.write_text(
            json.dumps([{"instruction": f"Question {i} of the whole run", "input": ""} for i in range(n)])
        )
        command = [sys.executable, "-m", "data_gen", "answer", "--input", str(source),
                   "--output", str(Path(tmp) / "out.json"),
                   "--model", "bench", "--base-url", url, "--concurrency", str(concurrency), *extra]
        start = time.perf_counter()
        result = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-2000:]
    return wall


async def distilabel_style(url: str, n: int, max_tokens: int, batch: int = 50) -> int:
    """distilabel's AsyncLLM: each batch of inputs gathered at once through AsyncOpenAI(max_retries=6); returns
    failures."""
    client = openai.AsyncOpenAI(api_key="bench", base_url=url, max_retries=6, timeout=120)
    failures = 0
    for first in range(0, n, batch):
        calls = [client.chat.completions.create(model="bench", max_tokens=max_tokens,
                                                messages=[{"role": "user", "content": f"Write about topic number {i} "
                                                                                      "in some detail, please."}])
                 for i in range(first, min(n, first + batch))]
        failures += sum(isinstance(r, Exception) for r in await asyncio.gather(*calls, return_exceptions=True))
    await client.close()
    return failures


def token_limit_runs(tpm: float, period: float, latency: float) -> list[dict]:
    """The data_gen command as users run it (a process) against a server enforcing `tpm`, beside a batch-and-retry
    client."""
    answer_tokens, max_tokens = 400, 512
    n = int(5.5 * tpm / (answer_tokens + 20))  # about five and a half windows' worth
    rows = []
    for name in ("data_gen --tpm (rolling window, settled with usage)",
                 "distilabel-style: batches of 50, SDK retries, no TPM control"):
        server, url = start_server("--latency", str(latency), "--tpm", str(tpm), "--period", str(period),
                                   "--answer-tokens", str(answer_tokens))
        try:
            start = time.perf_counter()
            if name.startswith("data_gen"):
                with tempfile.TemporaryDirectory() as tmp:
                    source = Path(tmp) / "in.json"
                    source.write_text(json.dumps([{"instruction": f"Write about topic number {i} in some detail, "
                                                                  "please.", "input": ""}
                                                  for i in range(n)]))
                    result = subprocess.run(
                        [sys.executable, "-m", "data_gen", "answer", "--input", str(source),
                         "--output", str(Path(tmp) / "o.json"),
                         "--model", "bench", "--base-url", url, "--tpm", str(tpm), "--limit-period", str(period),
                         "--max-tokens", str(max_tokens), "--concurrency", "32"],
                        check=False, cwd=ROOT, capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": str(ROOT)},
                    )
                    failures = 0 if result.returncode == 0 else result.stderr.count("failed with")
            else:
                failures = asyncio.run(distilabel_style(url, n, max_tokens))
            wall = time.perf_counter() - start
            stats = server_stats(url)
        finally:
            server.terminate()
        shares = stats["utilization"] or [0.0]
        rows.append({"client": name, "requests": n, "wall_s": wall, "rate_limited_429": stats["rate_limited"],
                     "failed": failures, "window_shares": shares, "mean_share": statistics.mean(shares),
                     "min_share": min(shares)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--whole", type=int, default=10_000, help="records of the whole-command run")
    parser.add_argument("--tpm", type=float, default=20_000, help="tokens per window the server allows")
    parser.add_argument("--period", type=float, default=10.0, help="the server's (and the client's) window, seconds")
    args = parser.parse_args()
    load = os.getloadavg()[0]

    server, url = start_server("--latency", str(args.latency))
    rows = []
    try:
        n = 25
        rows.append(("sequential loop (stanford_alpaca)", 1, n, *sequential(url, n)))
        for concurrency in (1, 8, 32, 128):
            n = max(25, concurrency * 8)
            rows.append((f"data_gen, concurrency {concurrency}", concurrency, n,
                         *asyncio.run(data_gen_client(url, concurrency, n))))
        rows.append(("openai SDK AsyncOpenAI (distilabel's client), concurrency 128", 128, 1024,
                     *asyncio.run(sdk_client(url, 128, 1024))))
        whole = whole_command(url, args.whole, 128, "--max-tokens", "16")
    finally:
        server.terminate()
    limits = token_limit_runs(args.tpm, args.period, args.latency)

    print(f"\nCPU: {cpu_name()}; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          "(other work on the machine shares the cores)")
    print(f"latency {args.latency * 1000:.0f} ms per request\n")
    print("| client | requests | req/s | % of ideal | vs sequential | client CPU ms/request |")
    print("|---|---|---|---|---|---|")
    baseline = rows[0][2] / rows[0][3]
    results = {"cpu": cpu_name(), "load_average": load, "requests": []}
    for name, concurrency, n, wall, cpu in rows:
        rate, ideal = n / wall, concurrency / args.latency
        print(f"| {name} | {n} | {rate:.1f} | {100 * rate / ideal:.0f}% | {rate / baseline:.1f}x "
              f"| {1000 * cpu / n:.2f} |")
        results["requests"].append({"client": name, "requests": n, "req_per_s": rate, "ideal": ideal,
                                    "cpu_ms_per_request": 1000 * cpu / n})
    ideal = args.whole / (128 / args.latency)
    print(f"\n`python -m data_gen answer`, {args.whole:,} records at 128 in flight, process start to exit: "
          f"{whole:.1f} s; ideal {ideal:.1f} s: {100 * ideal / whole:.0f}% of ideal (target 85%)")
    results["whole_command"] = {
        "records": args.whole, "wall_s": whole, "ideal_s": ideal, "share_of_ideal": ideal / whole,
    }
    print(f"\ntoken limit {args.tpm:,.0f} per {args.period:g} s window enforced by the server; "
          "answers of ~400 tokens, max_tokens 512\n")
    print("| client | requests | wall s | 429s | failed | share of each window used (mean, min) |")
    print("|---|---|---|---|---|---|")
    for row in limits:
        print(f"| {row['client']} | {row['requests']} | {row['wall_s']:.0f} | {row['rate_limited_429']} "
              f"| {row['failed']} | {100 * row['mean_share']:.0f}%, {100 * row['min_share']:.0f}% |")
    results["token_limit"] = limits
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "data_gen_throughput.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
