"""Run every benchmark in one go (the numbers in BENCHMARKS.md come from this command).

Usage: python bench/run_all.py    (or `make bench`); each script prints a markdown table.
Long: the 10,000-article build comparison with Hugo takes several minutes; bench_calls.py
loads a million-article site in memory (about 40 s and 1.5 GB), and the fanned-out full
re-render at 1,000,000 articles (bench_fanout.py) takes about half an hour.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_publish.py",
    "bench_views.py",
    "bench_rebuild.py",
    "bench_calls.py",
    "bench_fanout.py",
    "bench_images.py",
    "bench_search.py",
]


def main() -> int:
    for script in SCRIPTS:
        print(f"\n## {script}\n", flush=True)
        done = subprocess.run([sys.executable, str(BENCH / script)], check=False)
        if done.returncode != 0:
            return done.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
