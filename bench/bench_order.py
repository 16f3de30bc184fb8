#!/usr/bin/env python3
"""Reordered event delivery: how many random orders of the scenario in
tests/unit/test_event_order.py (renames, shared aliases, deletes, drafts, edits, a category
site.yaml adds later, a settings change), with duplicates and stream replays, leave a site
bucket or table different from in-order delivery.

    python bench/bench_order.py [--orders 1000] [--first 0]

Prints the number of orders tried, how many diverged, and each difference with its count.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit"))

import test_event_order as harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--first", type=int, default=0, help="first seed")
    args = parser.parse_args()
    started = time.perf_counter()
    scenario = harness.scenario()
    expected = harness.in_order(scenario)
    seeds = range(args.first, args.first + args.orders)
    found = harness.divergences(scenario, expected, seeds)
    seconds = time.perf_counter() - started
    print(f"orders tried: {args.orders} (seeds {seeds.start}-{seeds.stop - 1}), {seconds:.0f} s")
    print(f"orders that diverged: {found.pop('orders')}")
    for item, count in found.items():
        print(f"{count:6d}  {item}")


if __name__ == "__main__":
    main()
