"""`python -m evals`: parse arguments, build the bot as users get it, score, report."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from bot.errors import BotError, DatasetError
from bot.settings import REPO_ROOT, Settings
from evals.report import diff_with_previous, table, write_reports
from evals.scoring import KINDS, check_thresholds, evaluate, load_dataset, load_thresholds, results_json


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evals", description="Score answer quality on JSONL datasets.")
    p.add_argument("--dataset", action="append", type=Path, help="JSONL dataset (repeatable); default evals/datasets/*.jsonl")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "evals" / "out", help="report folder (default evals/out)")
    p.add_argument("--only", choices=KINDS, help="run only cases of this kind")
    p.add_argument("--lang", choices=("zh", "en"), help="run only cases in this language")
    p.add_argument("--backend", choices=("composer", "llm"), default="composer", help="answer path to score")
    p.add_argument("--thresholds", type=Path, default=REPO_ROOT / "evals" / "thresholds.toml")
    p.add_argument("--no-ingest", action="store_true", help="do not build the index when it is missing")
    p.add_argument("--judge", action="store_true", help="also score faithfulness/correctness with the LLM in BOT_LLM (advisory)")
    p.add_argument(
        "--judge-min",
        type=float,
        metavar="SCORE",
        help="with --judge: exit 1 when mean correctness is below SCORE (otherwise the judge never fails a run)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    paths = args.dataset or sorted((REPO_ROOT / "evals" / "datasets").glob("*.jsonl"))
    try:
        cases = [c for p in paths for c in load_dataset(p)]
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.only:
        cases = [c for c in cases if c.kind == args.only]
    if args.lang:
        cases = [c for c in cases if c.lang == args.lang]
    if not cases:
        print("error: no cases match the filters", file=sys.stderr)
        return 2

    settings = Settings.from_env()
    judge = None
    if args.judge:
        if not settings.llm:
            print("error: --judge needs BOT_LLM=openai:MODEL (and BOT_LLM_BASE_URL / BOT_LLM_API_KEY)", file=sys.stderr)
            return 2
        from bot.llm import LlmAnswerer
        from evals.judge import Judge

        llm = LlmAnswerer.from_settings(settings)
        judge = Judge(llm.chat, llm.name, args.out / "judge-cache.json")
    if args.backend == "composer":
        settings = dataclasses.replace(settings, llm="")
    elif not settings.llm:
        print(
            "error: --backend llm needs BOT_LLM=openai:MODEL (and BOT_LLM_BASE_URL / BOT_LLM_API_KEY) or BOT_LLM=replay:FILE",
            file=sys.stderr,
        )
        return 2
    try:
        bot = _bot(settings, ingest_if_missing=not args.no_ingest)
        results, summary = evaluate(bot, cases, judge)
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    thresholds = load_thresholds(args.thresholds)
    # The LLM path has its own marks ([llm.*] in thresholds.toml), where it has any.
    failures = check_thresholds(summary, thresholds.get("llm", thresholds) if args.backend == "llm" else thresholds)
    if judge is not None:
        judge.save()
        j = summary["judge"]
        print(
            f"judge ({judge.model_name}): faithfulness {j['faithfulness']}, correctness {j['correctness']}, "
            f"{j['judged']} judged, {j['judge_errors']} judge errors (advisory)"
        )
        if args.judge_min is not None and (j["correctness"] is None or j["correctness"] < args.judge_min):
            failures.append(f"judge correctness = {j['correctness']} < {args.judge_min}")
    rows = results_json(results)
    diff = diff_with_previous(args.out, rows)
    meta = {"backend": bot.backend, "embeddings": bot.embedder, "datasets": [str(p) for p in paths]}
    write_reports(args.out, summary, rows, diff, failures, meta)
    print(table(summary))
    if diff["previous"]:
        print(
            f"newly failing: {', '.join(diff['newly_failing']) or 'none'}; newly passing: {', '.join(diff['newly_passing']) or 'none'}"
        )
    for f in failures:
        print(f"THRESHOLD FAILED: {f}")
    print(f"report: {args.out / 'report.md'}")
    return 1 if failures else 0


def _bot(settings: Settings, ingest_if_missing: bool):
    from bot.chain import Bot
    from bot.embeddings import embeddings_name, make_embeddings
    from bot.errors import IndexMissingError
    from bot.indexing import ingest

    emb = make_embeddings(settings.embeddings)
    try:
        return Bot.from_settings(settings, emb)
    except IndexMissingError:
        if not ingest_if_missing:
            raise
        ingest(settings, emb, embeddings_name(emb))
        return Bot.from_settings(settings, emb)
