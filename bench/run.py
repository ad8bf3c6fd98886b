"""The benchmark's main path: ours vs the stock LangChain recipe, start-up, our costs, and growth with corpus size.

Every figure is measured in this run on this machine; targets are reported next to them, not
asserted. Heavy parts run in their own processes (bench.worker, bench.startup, `python -m bot
ask|serve`) so peak RSS and start-up are each process's own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.growth import measure_growth
from bench.report import FORMAT_VERSION, targets, write_report
from bench.serving import measure_serve
from bench.startup import env, measure_startup
from bench.worker import eval_cases
from bot.settings import REPO_ROOT, Settings


def run(quick: bool, out: Path, log=print) -> dict:
    """Run every measurement, write out/bench.json and out/growth.png, return the report."""
    started = time.perf_counter()
    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    ours_data, stock_data = tmp / "ours", tmp / "stock"
    flag = ["--quick"] if quick else []

    log("ours: full ingest and no-op re-ingest ...")
    ingest = _worker("ours-ingest", ours_data, flag)
    log("ours: answering the evaluation set ...")
    ours = _worker("ours-eval", ours_data, flag)
    log("stock recipe: ingest ...")
    stock_ingest = _worker("stock-ingest", stock_data, flag)
    log("stock recipe: answering the evaluation set ...")
    stock = _worker("stock-eval", stock_data, flag)

    log("start-up: bot ask, bot serve and the stack import ...")
    startup = measure_startup(ours_data, runs=3 if quick else 7, serve_runs=1 if quick else 3)
    log("bot serve: RSS and throughput ...")
    serve = measure_serve(ours_data, eval_cases(quick), requests=80 if quick else 200)

    log("growth ...")
    settings = dataclasses.replace(Settings.from_env(), data_dir=ours_data)
    sec_per_chunk = ingest["embed_s"] / max(1, ingest["chunks"])
    growth = measure_growth(settings, (1, 10) if quick else (1, 10, 100), eval_cases(quick), tmp, sec_per_chunk, log=log)

    report = {
        "format": FORMAT_VERSION,
        "mode": "quick" if quick else "full",
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_start": [round(x, 2) for x in load_start],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "comparison": compare(ours, stock, ingest, stock_ingest),
        "costs": {
            "startup": startup,
            "full_ingest_s": ingest["full_ingest_s"],
            "full_ingest_embed_s": ingest["embed_s"],
            "model_load_s": ingest["model_load_s"],
            "chunks": ingest["chunks"],
            "noop_ingest_s": ingest["noop_ingest_median_s"],
            "noop_ingest_runs_s": ingest["noop_ingest_s"],
            "stages_ms": ours["stages_ms"],
            "answer_p50_ms": ours["summary"]["p50_ms"],
            "answer_p95_ms": ours["summary"]["p95_ms"],
            "serve": serve,
        },
        "growth": growth,
    }
    report["targets"] = targets(report)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    shutil.rmtree(tmp, ignore_errors=True)
    write_report(report, out)
    return report


def _worker(mode: str, data: Path, extra: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", mode, "--data", str(data), *extra],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.worker {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- ours vs the stock recipe ---------------------------------------------------------------------


def _side(ev: dict, ing: dict) -> dict:
    s = ev["summary"]
    return {
        "cases": s["cases"],
        "pass_rate": s["pass_rate"],
        "hit_at_5": s["hit_at_5"],
        "by_lang": {lang: {"pass_rate": b["pass_rate"], "hit_at_5": b["hit_at_5"]} for lang, b in s["by_lang"].items()},
        "p50_ms": s["p50_ms"],
        "p95_ms": s["p95_ms"],
        "peak_rss_mb": ev["peak_rss_mb"],
        "load_s": ev["load_s"],
        "full_ingest_s": ing["full_ingest_s"],
        "chunks": ing["chunks"],
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def compare(ours_ev: dict, stock_ev: dict, ours_ing: dict, stock_ing: dict) -> dict:
    ours, stock = _side(ours_ev, ours_ing), _side(stock_ev, stock_ing)
    keys = ("pass_rate", "hit_at_5", "p50_ms", "p95_ms", "peak_rss_mb", "full_ingest_s")
    ratios = {k: _ratio(ours[k], stock[k]) for k in keys}
    for lang in ours["by_lang"]:
        for k in ("pass_rate", "hit_at_5"):
            ratios[f"{k}_{lang}"] = _ratio(ours["by_lang"][lang][k], stock["by_lang"].get(lang, {}).get(k))
    return {"ours": ours, "stock": stock, "ratios_ours_over_stock": ratios}
