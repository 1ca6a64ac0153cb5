"""Summarize a py-spy raw (collapsed stacks) profile: where the samples are, by function.

    .venv/bin/python bench/spy_summary.py PROFILE.txt [--top 30] [--under handle]

Prints the share of samples per thread kind, then per function inclusive (the function is on
the stack) and self (the function is the leaf), line numbers dropped. With --under NAME only
stacks through that function count, and shares are of those stacks.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('func')} ({path})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--under", help="only stacks through this function name")
    args = p.parse_args()

    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in Path(args.profile).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else ""
        names = [frame_name(f) for f in (frames[1:] if thread else frames)]
        if args.under and not any(n.split(" (")[0] == args.under for n in names):
            continue
        kind = re.sub(r"[_-]?\d+$", "", thread.split(": ", 1)[-1]) if thread else "?"
        threads[kind] += count
        total += count
        for name in set(names):
            inclusive[name] += count
        if names:
            leaf[names[-1]] += count
    if not total:
        print("no samples")
        return
    print(f"{total} samples" + (f" through {args.under}" if args.under else ""))
    print("\nby thread:")
    for name, n in threads.most_common():
        print(f"  {n / total:6.1%}  {name or 'main'}")
    print(f"\ninclusive (top {args.top}):")
    for name, n in inclusive.most_common(args.top):
        print(f"  {n / total:6.1%}  {name}")
    print(f"\nself (top {args.top}):")
    for name, n in leaf.most_common(args.top):
        print(f"  {n / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
