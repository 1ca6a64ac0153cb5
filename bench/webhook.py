"""Webhook benchmark: our WeChat endpoint in safe mode, side by side with a bare echo.

    .venv/bin/python bench/webhook.py [--seconds 15] [--connections 32] [--startup-runs 5]

What it does, in one run (figures only, nothing asserted):
1. A temporary SQLite database file, migrated (`python -m bot migrate`) and seeded with the demo
   community (`python -m bot seed`); a fake WeChat API (bench/fake_wechat_api.py) on 127.0.0.1
   that `wechat.api_base_url` points at, so nothing reaches the internet.
2. Startup: launches `python -m bot serve` --startup-runs times and times each launch until
   `GET /healthz` answers 200.
3. Serves our service (`python -m bot serve`: bot.app.create_app over bot.runtime.make_deps) and
   the baseline (bench/echo_server.py: wechatpy + Starlette, decrypt, parse, echo, encrypt), each
   in its own uvicorn process on 127.0.0.1, log level warning.
4. bench/loadgen.py (a third process) warms each up, then drives it with `--connections`
   keep-alive connections for `--seconds`, with safe-mode pushes built beforehand exactly like
   WeChat's (a mix of policy questions and reports from `--senders` residents, unique MsgIds),
   and verifies every reply afterwards; echo and ours take turns `--rounds` times and each
   one's median round (by requests/s) is reported.
5. Memory (VmRSS, VmHWM) of our serving process after the load.
Targets: ours ≥ 50% of the echo's requests/s, p99 ≤ 50 ms, RSS ≤ 250 MiB, startup < 5 s.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
HOST = "127.0.0.1"

TARGET_RATIO = 50.0  # % of the echo's requests/s
TARGET_P99_MS = 50.0
TARGET_RSS_MIB = 250.0
TARGET_STARTUP_S = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def healthz(port: int) -> int | None:
    """The status of GET /healthz, or None when nothing answers yet."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen[bytes], port: int, started: float, limit: float) -> float:
    """Seconds from `started` until /healthz answers 200."""
    while True:
        if healthz(port) == 200:
            return time.perf_counter() - started
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering /healthz")
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"/healthz did not answer 200 within {limit:.0f}s")
        time.sleep(0.005)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown (runs the lifespan end)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MiB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def bot_env(tmp: Path, account: dict[str, str], port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        {
            "BOT_STORAGE__URL": f"sqlite:///{tmp / 'bench.db'}",
            "BOT_WECHAT__API_BASE_URL": f"http://{HOST}:{account['api_port']}/cgi-bin/",
            "BOT_WECHAT__APP_SECRET": account["secret"],
            "BOT_WECHAT__TOKEN": account["token"],
            "BOT_WECHAT__ENCODING_AES_KEY": account["aes_key"],
            "BOT_WECHAT__APP_ID": account["app_id"],
            "BOT_SERVER__HOST": HOST,
            "BOT_SERVER__PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def bench_env(account: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        {
            "BENCH_WECHAT_TOKEN": account["token"],
            "BENCH_WECHAT_AES_KEY": account["aes_key"],
            "BENCH_WECHAT_APP_ID": account["app_id"],
        }
    )
    return env


def serve_ours(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [PYTHON, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def serve_echo(
    env: dict[str, str],
    port: int,
    log: Path,
    record: Path | None = None,
    *,
    understand: bool = False,
) -> subprocess.Popen[bytes]:
    floor = ["--record", str(record)] if record is not None else []
    if understand:
        floor.append("--understand")
    with log.open("ab") as out:
        return subprocess.Popen(
            [PYTHON, str(BENCH / "echo_server.py"), "--host", HOST, "--port", str(port), *floor],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )


def serve_fake_api(account: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                PYTHON,
                str(BENCH / "fake_wechat_api.py"),
                *("--host", HOST, "--port", account["api_port"], "--secret", account["secret"]),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )


def api_stats(account: dict[str, str]) -> dict[str, int]:
    conn = http.client.HTTPConnection(HOST, int(account["api_port"]), timeout=5)
    try:
        conn.request("GET", "/stats")
        return dict(json.loads(conn.getresponse().read()))
    except OSError:
        return {}
    finally:
        conn.close()


def measure_startup(tmp: Path, account: dict[str, str], runs: int) -> list[float]:
    times = []
    for n in range(runs):
        port = free_port()
        env = bot_env(tmp, account, port)
        started = time.perf_counter()
        proc = serve_ours(env, tmp / "startup.log")
        try:
            times.append(wait_ready(proc, port, started, limit=60))
        finally:
            stop(proc)
        print(f"[bench] startup run {n + 1}: {times[-1]:.2f}s", file=sys.stderr, flush=True)
    return times


def log_problems(log: Path) -> list[str]:
    lines = log.read_text("utf-8", "replace").splitlines() if log.exists() else []
    return [
        line
        for line in lines
        if " WARNING " in line or " ERROR " in line or "Traceback" in line or "CRITICAL" in line
    ]


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER"


def merged(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round by requests/s (with --rounds > 1)."""
    return sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2]


COLUMNS = {
    "echo": "echo (wechatpy+Starlette)",
    "floor": "floor (echo + 1 INSERT)",
    "understand": "echo + understanding, no storage",
    "understand+record": "echo + understanding + 1 INSERT",
    "ours": "ours (python -m bot serve)",
}


def report(
    args: argparse.Namespace,
    results: dict[str, list[dict[str, Any]]],
    mem: dict[str, dict[str, float]],
    startup: list[float],
    problems: list[str],
    *,
    extra: dict[str, Any],
) -> None:
    runs = {name: merged(results[name]) for name in COLUMNS if results.get(name)}
    print()
    print(
        f"Webhook benchmark, {datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
    before, after = extra["load_before"], extra["load_after"]
    print(
        "load average (1/5/15 min) before: "
        + "/".join(f"{v:.2f}" for v in before)
        + ", after: "
        + "/".join(f"{v:.2f}" for v in after)
    )
    mode = f"{args.requests} requests" if args.requests else f"{args.seconds:g} s"
    print(
        f"safe mode (AES), {args.connections} keep-alive connections, {mode} per target "
        f"after {args.warmup:g} s warm-up, {args.senders} senders, ~50% reports"
        + (f", median of {args.rounds} rounds" if args.rounds > 1 else "")
    )
    print()
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("requests", lambda r: f"{r['requests']:,}"),
        ("seconds", lambda r: fmt(r["seconds"], 2)),
        ("requests/s", lambda r: fmt(r["rps"])),
        ("latency p50 ms", lambda r: fmt(r["p50_ms"], 2)),
        ("latency p90 ms", lambda r: fmt(r["p90_ms"], 2)),
        ("latency p99 ms", lambda r: fmt(r["p99_ms"], 2)),
        ("latency max ms", lambda r: fmt(r["max_ms"], 2)),
        ("HTTP statuses", lambda r: " ".join(f"{k}:{v}" for k, v in r["statuses"].items())),
        ("non-200", lambda r: str(sum(v for k, v in r["statuses"].items() if k != "200"))),
        ("connection errors", lambda r: str(sum(r["errors"].values()))),
        ("server CPU % (1 core=100)", lambda r: fmt(r["server_cpu_pct"], 0)),
        ("loadgen CPU %", lambda r: fmt(r["loadgen_cpu_pct"], 0)),
        ("rest of the machine CPU %", lambda r: fmt(r["other_cpu_pct"], 0)),
    ]
    width = 28
    print(f"{'':<{width}}" + "".join(f"{COLUMNS[name]:>30}" for name in runs))
    for label, get in rows:
        print(f"{label:<{width}}" + "".join(f"{get(r):>30}" for r in runs.values()))
    if args.rounds > 1:
        for name in runs:
            each = ", ".join(fmt(r["rps"], 0) for r in results[name])
            print(f"{'requests/s each round':<{width}}{name}: {each}")
    print()
    print("replies (all decrypted and checked after the timing):")
    for name, r in runs.items():
        v = r["verification"]
        counts = ", ".join(f"{k} {n:,}" for k, n in sorted(v["counts"].items()))
        print(f"  {name}: {counts}")
        for bad in v["bad"]:
            print(f"    unreadable: {bad}")
    ours, echo = runs.get("ours"), runs.get("echo")
    if ours is not None:
        v = ours["verification"]
        for kind, per in v["by_input"].items():
            if per:
                line = ", ".join(f"{k} {n:,}" for k, n in sorted(per.items()))
                print(f"  ours, for the {kind}s: {line}")
        for kind, sample in v["samples"].items():
            print(f"    e.g. {kind}: {sample}")
    stats = extra["api"]
    if stats:
        print(
            f"  fake WeChat API received: {stats.get('tokens_issued', 0)} token fetches, "
            f"{stats.get('customer_service', 0)} customer-service messages, "
            f"{stats.get('template', 0)} template messages"
        )
    if problems:
        print(f"  our server logged {len(problems)} warnings/errors, first: {problems[0][:160]}")
    else:
        print("  our server logged no warnings or errors")
    print()
    print(f"{'figure':<40}{'measured':>14}{'target':>14}{'':>7}")
    lines = []
    if ours is not None and echo is not None:
        ratio = ours["rps"] / echo["rps"] * 100 if echo["rps"] else 0.0
        lines.append(
            ("ours / echo requests/s", f"{ratio:.1f}%", f">= {TARGET_RATIO:.0f}%",
             ratio >= TARGET_RATIO)
        )  # fmt: skip
    if ours is not None:
        lines.append(
            ("ours latency p99", f"{ours['p99_ms']:.1f} ms", f"<= {TARGET_P99_MS:.0f} ms",
             ours["p99_ms"] <= TARGET_P99_MS)
        )  # fmt: skip
    rss = mem["ours"]
    lines += [
        ("ours RSS after load (VmRSS)", f"{rss['VmRSS']:.1f} MiB",
         f"<= {TARGET_RSS_MIB:.0f} MiB", rss["VmRSS"] <= TARGET_RSS_MIB),
        ("ours peak RSS (VmHWM)", f"{rss['VmHWM']:.1f} MiB",
         f"<= {TARGET_RSS_MIB:.0f} MiB", rss["VmHWM"] <= TARGET_RSS_MIB),
    ]  # fmt: skip
    if startup:
        median = statistics.median(startup)
        lines.append(
            (f"startup to /healthz 200, median of {len(startup)}", f"{median:.2f} s",
             f"< {TARGET_STARTUP_S:.0f} s", median < TARGET_STARTUP_S)
        )  # fmt: skip
    for label, value, target, ok in lines:
        print(f"{label:<40}{value:>14}{target:>14}{verdict(ok):>7}")
    for name in ("floor", "understand", "understand+record"):
        run = runs.get(name)
        if run is not None and echo is not None and echo["rps"]:
            share = run["rps"] / echo["rps"] * 100
            print(f"{name + ' / echo requests/s (no target)':<40}{share:>13.1f}%")
            print(f"{name + ' latency p99 (no target)':<40}{run['p99_ms']:>11.1f} ms")
    if startup:
        each = ", ".join(f"{t:.2f}" for t in startup)
        print(f"{'startup min (each run)':<40}{min(startup):>12.2f} s    ({each})")
    print(f"{'ours RSS when ready, before load':<40}{mem['ours_idle']['VmRSS']:>10.1f} MiB")
    echo_rss = mem["echo"]
    print(
        f"{'echo RSS after load, for scale':<40}{echo_rss['VmRSS']:>10.1f} MiB"
        f"    (VmHWM {echo_rss['VmHWM']:.1f} MiB)"
    )
    busy = [name for name, r in runs.items() if r["other_cpu_pct"] > 25]
    if busy:
        print(
            f"note: other processes kept the machine busy during the {' and '.join(busy)} "
            "run (rest of the machine CPU % above): figures are noisier than usual"
        )
    if echo is not None and echo["loadgen_cpu_pct"] > 85:
        print(
            "note: the load generator used most of a core during the echo run, so the echo's "
            "figure may be limited by the generator"
        )
    for name, r in runs.items():
        if r["exhausted"]:
            print(f"note: {name} ran out of pre-built requests before the time was up")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=15.0, help="timed load per target")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--requests", type=int, default=0, help="a fixed count instead of --seconds")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    p.add_argument("--senders", type=int, default=1000, help="distinct residents writing")
    p.add_argument("--rounds", type=int, default=3, help="alternate echo/ours this many times")
    p.add_argument("--startup-runs", type=int, default=5)
    p.add_argument("--json", help="also write every figure to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="keep the servers up this many seconds after the load (to attach a profiler)",
    )
    p.add_argument(
        "--only", choices=["echo", "ours"], help="load only one server (e.g. while profiling)"
    )
    p.add_argument(
        "--profile",
        metavar="PATH",
        help="record our server with py-spy during the timed run (.svg flame graph, "
        ".json speedscope, else raw collapsed stacks); needs `pip install py-spy`",
    )
    p.add_argument("--native", action="store_true", help="with --profile: py-spy --native")
    p.add_argument(
        "--floor",
        action="store_true",
        help="also load the floors: the echo plus one INSERT + COMMIT per message "
        "(bench/echo_server.py --record), the echo plus the service's understanding and FAQ "
        "answer without storage (--understand), and both (--understand --record)",
    )
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bot-bench-"))
    account = {
        "token": "bench-wechat-token",
        "aes_key": base64.b64encode(os.urandom(32)).decode().rstrip("="),
        "app_id": "wx5e1f0a3b7c9d2e4f",
        "secret": "bench-app-secret",
        "api_port": str(free_port()),
    }
    print(f"[bench] temporary directory {tmp}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        api = serve_fake_api(account, tmp / "api.log")
        procs.append(api)
        deadline = time.perf_counter() + 30
        while not api_stats(account):
            if api.poll() is not None or time.perf_counter() > deadline:
                print("[bench] the fake WeChat API did not start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        for command in ("migrate", "seed"):
            done = subprocess.run(
                [PYTHON, "-m", "bot", command],
                check=False,
                cwd=ROOT,
                env=bot_env(tmp, account, 8000),
                capture_output=True,
                text=True,
            )
            if done.returncode:
                print(done.stdout, done.stderr, file=sys.stderr)
                return 1
            print(f"[bench] {command}: {done.stdout.strip()}", file=sys.stderr, flush=True)

        startup = measure_startup(tmp, account, args.startup_runs)

        ours_port, echo_port = free_port(), free_port()
        ours = serve_ours(bot_env(tmp, account, ours_port), tmp / "ours.log")
        procs.append(ours)
        echo = serve_echo(bench_env(account), echo_port, tmp / "echo.log")
        procs.append(echo)
        floors: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        if args.floor:
            for name, record, understand in (
                ("floor", tmp / "floor.db", False),
                ("understand", None, True),
                ("understand+record", tmp / "understand.db", True),
            ):
                port = free_port()
                log_file = tmp / f"{name.replace('+', '-')}.log"
                proc = serve_echo(
                    bench_env(account) | bot_env(tmp, account, port),
                    port,
                    log_file,
                    record,
                    understand=understand,
                )
                procs.append(proc)
                floors[name] = (proc, port)
        started = time.perf_counter()
        wait_ready(ours, ours_port, started, limit=60)
        wait_ready(echo, echo_port, started, limit=60)
        for proc, port in floors.values():
            wait_ready(proc, port, started, limit=60)
        idle = memory(ours.pid)
        print(
            f"[bench] ours pid {ours.pid} on :{ours_port}, echo pid {echo.pid} on :{echo_port}",
            file=sys.stderr,
            flush=True,
        )

        targets = [
            {"name": "echo", "host": HOST, "port": echo_port, "path": "/wechat",
             "pid": echo.pid, "echo": True},
            {"name": "ours", "host": HOST, "port": ours_port, "path": "/wechat",
             "pid": ours.pid, "echo": False},
        ]  # fmt: skip
        for i, (name, (proc, port)) in enumerate(floors.items()):
            targets.insert(1 + i, {"name": name, "host": HOST, "port": port, "path": "/wechat",
                                   "pid": proc.pid, "echo": name == "floor"})  # fmt: skip
        out = tmp / "loadgen.json"
        gen = [
            PYTHON,
            str(BENCH / "loadgen.py"),
            "--targets",
            json.dumps(targets),
            "--seconds",
            str(args.seconds),
            "--warmup",
            str(args.warmup),
            "--connections",
            str(args.connections),
            "--senders",
            str(args.senders),
            "--rounds",
            str(args.rounds),
            "--out",
            str(out),
        ]
        if args.requests:
            gen += ["--requests", str(args.requests)]
        if args.only:
            gen += ["--only", args.only]
        if args.profile:
            gen += ["--profile", f"ours={Path(args.profile).resolve()}"]
        if args.native:
            gen.append("--native")
        if subprocess.run(gen, check=False, cwd=ROOT, env=bench_env(account)).returncode:
            print("[bench] the load generator failed", file=sys.stderr)
            return 1
        results = json.loads(out.read_text())
        mem = {"ours": memory(ours.pid), "echo": memory(echo.pid), "ours_idle": idle}
        extra: dict[str, Any] = {"load_before": load_before, "load_after": os.getloadavg()}
        if args.hold:
            print(f"[bench] holding the servers for {args.hold:g}s", file=sys.stderr, flush=True)
            time.sleep(args.hold)
        time.sleep(1.0)  # let the outbox drain what the load queued
        extra["api"] = api_stats(account)
        for proc in (ours, echo, *(proc for proc, _ in floors.values())):
            stop(proc)
        problems = log_problems(tmp / "ours.log")
        report(args, results, mem, startup, problems, extra=extra)
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "results": {
                            name: [
                                {k: v for k, v in r.items() if k != "verification"}
                                | {"replies": r["verification"]["counts"]}
                                for r in rounds
                            ]
                            for name, rounds in results.items()
                        },
                        "memory_mib": mem,
                        "startup_s": startup,
                        "load_average": [extra["load_before"], extra["load_after"]],
                        "fake_api": extra["api"],
                    },
                    ensure_ascii=False,
                    indent=1,
                )
            )
        return 0
    finally:
        for proc in procs:
            stop(proc)
        if args.keep:
            print(f"[bench] kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
