"""The load generator of bench/webhook.py: a separate process, asyncio streams, keep-alive.

Each target gets requests built exactly like WeChat's safe-mode pushes (tests.fakes.wechat
`Platform.request`: AES-encrypted body, signature and msg_signature, unique MsgId), all built
before the clock starts. Every connection sends one request, reads the whole response, sends
the next (closed loop, `--connections` at once). Raw HTTP/1.1 over asyncio streams instead of
httpx: httpx costs ~0.5 ms of CPU per request, which would make the generator the bottleneck
on a 2-core machine.

Responses are kept and verified after the timing (decrypted, signature and appid checked,
addressed to the sender; the echo must echo the text). Results go to --out as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mix import Mix  # noqa: E402

from tests.fakes.wechat import Platform  # noqa: E402

MIN_REQUESTS = 3000


@dataclass
class Target:
    name: str
    host: str
    port: int
    path: str
    pid: int
    echo: bool


@dataclass
class Prepared:
    raw: list[bytes]
    senders: list[str]
    texts: list[str]
    kinds: list[str]


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[tuple[int, int, bytes]] = field(default_factory=list)  # (index, status, body)
    errors: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0
    exhausted: bool = False


def build(platform: Platform, mix: Mix, target: Target, count: int) -> Prepared:
    raw, senders, texts, kinds = [], [], [], []
    host = f"{target.host}:{target.port}".encode()
    for _ in range(count):
        sender, kind, text = mix.next()
        params, body = platform.request(platform.text(sender, text))
        head = (
            f"POST {target.path}?{urlencode(params)} HTTP/1.1\r\n".encode()
            + b"Host: "
            + host
            + b"\r\nUser-Agent: Mozilla/4.0\r\nAccept: */*\r\nPragma: no-cache\r\n"
            + b"Content-Type: text/xml\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        raw.append(head + body)
        senders.append(sender)
        texts.append(text)
        kinds.append(kind)
    return Prepared(raw, senders, texts, kinds)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        length = int(head[at + 17 : end])
        return status, await reader.readexactly(length)
    if b"transfer-encoding: chunked" in lower:
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, bytes(body)
            body.extend(chunk[:-2])
    raise ValueError("response without Content-Length")


async def load(
    target: Target, prepared: Prepared, connections: int, seconds: float, keep: bool
) -> Run:
    run = Run()
    requests = prepared.raw
    total = len(requests)
    counter = iter(range(total))
    deadline = 0.0

    async def worker() -> None:
        reader = writer = None
        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            i = next(counter, None)
            if i is None:
                run.exhausted = True
                break
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(target.host, target.port)
                t0 = time.perf_counter()
                writer.write(requests[i])
                status, body = await read_response(reader)  # type: ignore[arg-type]
                t1 = time.perf_counter()
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                name = type(exc).__name__
                run.errors[name] = run.errors.get(name, 0) + 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            run.latencies.append(t1 - t0)
            run.statuses[status] = run.statuses.get(status, 0) + 1
            if keep:
                run.bodies.append((i, status, body))
        if writer is not None:
            writer.close()

    run.started = time.perf_counter()
    deadline = run.started + seconds
    await asyncio.gather(*(worker() for _ in range(connections)))
    run.ended = time.perf_counter()
    return run


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine spent busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


KINDS = (
    ("case opened", "已为您登记工单"),
    ("case merged", "已并入该工单"),
    ("asked for address", "请告诉我具体位置"),
    ("policy answer", "依据："),
    ("policy: cannot answer", "暂时回答不了"),
    ("error apology", "系统暂时出了点问题"),
)


def reply_kind(content: str) -> str:
    for name, marker in KINDS:
        if marker in content:
            return name
    return "other"


def verify(platform: Platform, target: Target, prepared: Prepared, run: Run) -> dict[str, Any]:
    """Decrypt and check every kept reply (after the timing)."""
    counts: dict[str, int] = {}
    samples: dict[str, str] = {}
    bad: list[str] = []
    by_input: dict[str, dict[str, int]] = {"question": {}, "report": {}}
    for i, status, body in run.bodies:
        if status != 200:
            counts[f"HTTP {status}"] = counts.get(f"HTTP {status}", 0) + 1
            continue
        text = body.decode("utf-8", "replace")
        if text == "success":
            counts["success (answer deferred)"] = counts.get("success (answer deferred)", 0) + 1
            continue
        try:
            fields = platform.read_reply(text)
        except Exception as exc:
            counts["unreadable reply"] = counts.get("unreadable reply", 0) + 1
            if len(bad) < 3:
                bad.append(f"{type(exc).__name__}: {text[:120]}")
            continue
        content = fields.get("Content", "")
        if fields.get("ToUserName") != prepared.senders[i] or fields.get("MsgType") != "text":
            counts["misaddressed reply"] = counts.get("misaddressed reply", 0) + 1
            continue
        if target.echo:
            kind = "echo ok" if content == prepared.texts[i] else "echo mismatch"
        else:
            kind = reply_kind(content) if content else "empty"
            per = by_input[prepared.kinds[i]]
            per[kind] = per.get(kind, 0) + 1
        counts[kind] = counts.get(kind, 0) + 1
        flat = " ".join(content.split())[:90]
        samples.setdefault(kind, f"{prepared.texts[i]} -> {flat}")
    return {"counts": counts, "samples": samples, "bad": bad, "by_input": by_input}


def summarize(run: Run, cpu: dict[str, float], elapsed_cpu_window: float) -> dict[str, Any]:
    lat = sorted(run.latencies)
    n = len(lat)
    seconds = run.ended - run.started
    return {
        "requests": n,
        "seconds": seconds,
        "rps": n / seconds if seconds else 0.0,
        "p50_ms": percentile(lat, 50) * 1000,
        "p90_ms": percentile(lat, 90) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "max_ms": (lat[-1] if lat else float("nan")) * 1000,
        "mean_ms": (sum(lat) / n * 1000) if n else float("nan"),
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "errors": run.errors,
        "exhausted": run.exhausted,
        "server_cpu_pct": cpu["server"] / elapsed_cpu_window * 100,
        "loadgen_cpu_pct": cpu["loadgen"] / elapsed_cpu_window * 100,
        "other_cpu_pct": max(0.0, cpu["machine"] - cpu["server"] - cpu["loadgen"])
        / elapsed_cpu_window
        * 100,
    }


def start_profiler(
    target: Target, args: argparse.Namespace, seconds: float
) -> subprocess.Popen[bytes] | None:
    """py-spy on the server for the timed run only (--profile NAME=PATH)."""
    wanted = dict(item.split("=", 1) for item in args.profile)
    if target.name not in wanted:
        return None
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = wanted[target.name]
    fmt = "raw"
    if out.endswith((".json", ".svg")):
        fmt = "speedscope" if out.endswith(".json") else "flamegraph"
    cmd = [exe, "record", "--pid", str(target.pid), "--rate", "250", "--threads"]
    cmd += ["--format", fmt, "--output", out]
    cmd.append("--native" if args.native else "--nonblocking")  # --native must pause it
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=sys.stderr)
    time.sleep(0.3)  # let it attach
    return proc


async def measure(
    platform: Platform,
    mix: Mix,
    target: Target,
    args: argparse.Namespace,
) -> dict[str, Any]:

    def log(msg: str) -> None:
        print(f"[loadgen] {target.name}: {msg}", file=sys.stderr, flush=True)

    # Warm up (its own requests; not counted), and learn the rate to size the timed batch.
    warm_count = max(args.connections * 20, 1000)
    warm = build(platform, mix, target, warm_count)
    warm_run = await load(target, warm, args.connections, args.warmup, keep=False)
    warm_rate = len(warm_run.latencies) / max(warm_run.ended - warm_run.started, 1e-9)
    warm_bad = sum(v for k, v in warm_run.statuses.items() if k != 200) + sum(
        warm_run.errors.values()
    )
    log(f"warm-up {len(warm_run.latencies)} requests, {warm_rate:.0f}/s, {warm_bad} failed")
    if args.requests:
        count, seconds = args.requests, float("inf")
    else:
        count = max(MIN_REQUESTS, int(warm_rate * args.seconds * 1.6) + args.connections * 50)
        seconds = args.seconds
    built_at = time.perf_counter()
    prepared = build(platform, mix, target, count)
    log(f"built {count} requests in {time.perf_counter() - built_at:.1f}s; measuring")
    await asyncio.sleep(0.5)  # let the server settle after the warm-up
    spy = start_profiler(target, args, seconds)
    cpu0 = {
        "server": cpu_seconds(target.pid),
        "loadgen": time.process_time(),
        "machine": machine_busy_seconds(),
    }
    wall0 = time.perf_counter()
    run = await load(target, prepared, args.connections, seconds, keep=True)
    wall = time.perf_counter() - wall0
    if spy is not None:
        spy.send_signal(2)  # py-spy writes its output on SIGINT
        spy.wait()
    cpu = {
        "server": cpu_seconds(target.pid) - cpu0["server"],
        "loadgen": time.process_time() - cpu0["loadgen"],
        "machine": machine_busy_seconds() - cpu0["machine"],
    }
    result = summarize(run, cpu, wall)
    result["warmup_requests"] = len(warm_run.latencies)
    result["warmup_failed"] = warm_bad
    result["verification"] = verify(platform, target, prepared, run)
    log(f"{result['requests']} requests, {result['rps']:.0f}/s, p99 {result['p99_ms']:.1f} ms")
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    targets = [Target(**t) for t in json.loads(args.targets)]
    if args.only:
        targets = [t for t in targets if t.name == args.only]
    platform = Platform(
        token=os.environ["BENCH_WECHAT_TOKEN"],
        aes_key=os.environ["BENCH_WECHAT_AES_KEY"],
        app_id=os.environ["BENCH_WECHAT_APP_ID"],
    )
    mix = Mix(senders=args.senders, seed=args.seed)
    results: dict[str, Any] = {t.name: [] for t in targets}
    for _ in range(args.rounds):
        for target in targets:
            results[target.name].append(await measure(platform, mix, target, args))
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", required=True, help="JSON list of Target fields")
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--requests", type=int, default=0, help="a fixed count instead of --seconds")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--senders", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True)
    p.add_argument("--profile", action="append", default=[], metavar="NAME=PATH")
    p.add_argument("--native", action="store_true", help="py-spy --native")
    p.add_argument("--only", help="measure only this target")
    args = p.parse_args()
    results = asyncio.run(main_async(args))
    Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
