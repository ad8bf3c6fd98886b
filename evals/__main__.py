"""Score the bot's answers on the evaluation datasets.

    python -m evals                          # every evals/datasets/*.jsonl, composer backend (~30 s)
    python -m evals --dataset my.jsonl --out /tmp/ev --only compare --lang zh

Writes OUT/report.json, OUT/report.md and OUT/pass_rate.png (default OUT: evals/out/).
Exit 0 when evals/thresholds.toml holds, 1 when a threshold fails, 2 on bad arguments or data.
"""

from evals.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
