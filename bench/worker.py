"""One measured process for the benchmark: `python -m bench.worker MODE --data DIR [--quick]` prints one JSON line.

Each system (ours, the stock recipe) ingests in one process and answers in another, so the peak RSS
of the answering process is its own and not the ingest's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from langchain_core.embeddings import Embeddings

from bot.settings import REPO_ROOT, Settings
from evals.scoring import Case, load_dataset, percentile, score_case, summarize

QUICK_CASES = 60


def eval_cases(quick: bool) -> list[Case]:
    """Every evals/datasets/*.jsonl case; --quick takes an even spread of about 60 (both languages, every kind)."""
    cases = [c for p in sorted((REPO_ROOT / "evals" / "datasets").glob("*.jsonl")) for c in load_dataset(p)]
    if quick and len(cases) > QUICK_CASES:
        step = len(cases) / QUICK_CASES
        cases = [cases[int(i * step)] for i in range(QUICK_CASES)]
    return cases


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


class TimedEmbeddings(Embeddings):
    """Counts the seconds spent embedding documents, to split ingest time into embedding and the rest."""

    def __init__(self, inner: Embeddings, name: str) -> None:
        self.inner, self.name, self.seconds, self.texts = inner, name, 0.0, 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        t0 = time.perf_counter()
        out = self.inner.embed_documents(texts)
        self.seconds += time.perf_counter() - t0
        self.texts += len(texts)
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def ours_ingest(data: Path, repeats: int) -> dict:
    from bot.embeddings import embeddings_name, make_embeddings
    from bot.indexing import ingest

    settings = dataclasses.replace(Settings.from_env(), data_dir=data)
    t0 = time.perf_counter()
    base = make_embeddings(settings.embeddings)
    base.embed_query("warm up")
    load_s = time.perf_counter() - t0
    emb = TimedEmbeddings(base, embeddings_name(base))
    full = ingest(settings, emb, emb.name, rebuild=True)
    noop = [ingest(settings, emb, emb.name).seconds for _ in range(repeats)]
    return {
        "embedder": emb.name,
        "model_load_s": round(load_s, 2),
        "full_ingest_s": round(full.seconds, 2),
        "embed_s": round(emb.seconds, 2),
        "chunks": full.added,
        "noop_ingest_s": [round(s, 3) for s in noop],
        "noop_ingest_median_s": round(statistics.median(noop), 3),
        "noop_unchanged": full.added,
    }


def ours_eval(data: Path, quick: bool) -> dict:
    from bot.answer import Answer
    from bot.chain import Bot
    from bot.errors import BadQuestion

    settings = dataclasses.replace(Settings.from_env(), data_dir=data, llm="")
    t0 = time.perf_counter()
    bot = Bot.from_settings(settings)
    load_s = time.perf_counter() - t0
    results, stages = [], {"understand": [], "retrieve": [], "answer": []}
    for case in eval_cases(quick):
        t = time.perf_counter()
        try:
            answer = bot.ask(case.question, case.history)
        except BadQuestion as exc:
            answer = Answer(text=str(exc), lang=case.lang, intent="refuse", entities=[], refused=True)
        results.append(score_case(case, answer, (time.perf_counter() - t) * 1000))
        for k in stages:
            if k in answer.timings_ms:
                stages[k].append(answer.timings_ms[k])
    return {
        "load_s": round(load_s, 2),
        "summary": summarize(results),
        "stages_ms": {k: {"p50": percentile(v, 0.5), "p95": percentile(v, 0.95)} for k, v in stages.items()},
        "peak_rss_mb": peak_rss_mb(),
    }


def _minilm():
    from bot.embeddings import SentenceTransformerEmbeddings

    return SentenceTransformerEmbeddings("bundled")


def stock_ingest(data: Path) -> dict:
    from bench import baseline

    t0 = time.perf_counter()
    emb = _minilm()
    emb.embed_query("warm up")
    load_s = time.perf_counter() - t0
    store, seconds = baseline.build(REPO_ROOT / "corpus", data, emb)
    return {"model_load_s": round(load_s, 2), "full_ingest_s": round(seconds, 2), "chunks": store._collection.count()}


def stock_eval(data: Path, quick: bool) -> dict:
    from bench import baseline

    t0 = time.perf_counter()
    emb = _minilm()
    store = baseline.open_store(data, emb)
    emb.embed_query("warm up")
    load_s = time.perf_counter() - t0
    results = []
    for case in eval_cases(quick):
        t = time.perf_counter()
        answer = baseline.ask(store, case.question)
        results.append(score_case(case, answer, (time.perf_counter() - t) * 1000))
    return {"load_s": round(load_s, 2), "summary": summarize(results), "peak_rss_mb": peak_rss_mb()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    p.add_argument("mode", choices=("ours-ingest", "ours-eval", "stock-ingest", "stock-eval"))
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.mode == "ours-ingest":
        out = ours_ingest(args.data, 2 if args.quick else 3)
    elif args.mode == "ours-eval":
        out = ours_eval(args.data, args.quick)
    elif args.mode == "stock-ingest":
        out = stock_ingest(args.data)
    else:
        out = stock_eval(args.data, args.quick)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
