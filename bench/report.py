"""The benchmark's report: the targets it is held to, the table `python -m bench` prints, bench.json and growth.png."""

from __future__ import annotations

import json
from pathlib import Path

FORMAT_VERSION = 2  # 2: start-up measured beside the stack import (costs.startup), cold_start_s dropped
WIDE_MARGIN = 0.20  # "beats by a wide margin": at least 20 points better, per language and metric
ASK_OVER_STACK = 2.0  # `bot ask` from exec to exit, at most this many times `import chromadb, langchain_core`
SERVE_OVER_STACK = 2.5  # `bot serve` from exec to a healthy /healthz, likewise

# Start-up phases in the order the bot goes through them, with what each one covers.
PHASES = [
    ("import_stack", "import chromadb, langchain_core"),
    ("import_bot", "import the bot (LCEL and langsmith, langchain-chroma)"),
    ("snapshot_key", "hash the corpus and code (snapshot key)"),
    ("index_open", "open Chroma, read the active generation"),
    ("snapshot", "load the start-up snapshot (bot.snapshot)"),
    ("corpus", "corpus: read and check the notes"),
    ("index", "index: the generation's vector store (chunks known)"),
    ("jieba", "jieba: dictionary and aliases"),
    ("retriever", "retriever: BM25 and chunks by entity"),
    ("qa", "curated Q&A matcher"),
    ("bot", "interpreter and composer"),
    ("encoder_tokenizer", "encoder: SentencePiece tokenizer"),
    ("encoder_model", "encoder: weights"),
    ("first_query", "first question"),
]


def _t(name: str, target: str, value, passed: bool | None, note: str = "") -> dict:
    return {"name": name, "target": target, "value": value, "passed": passed, **({"note": note} if note else {})}


def targets(r: dict) -> list[dict]:
    c, cmp_, g = r["costs"], r["comparison"], r["growth"]
    start = c["startup"]
    out = [_t("offline answer p95 warm", "< 100 ms", c["answer_p95_ms"], c["answer_p95_ms"] < 100)]
    if start.get("measured"):
        out.append(
            _t(
                "bot ask cold start / stack import",
                f"<= {ASK_OVER_STACK}",
                start["ask_over_stack"],
                start["ask_over_stack"] <= ASK_OVER_STACK,
            )
        )
        ratio = start.get("serve_over_stack")
        out.append(
            _t(
                "bot serve healthy / stack import",
                f"<= {SERVE_OVER_STACK}",
                ratio,
                ratio is not None and ratio <= SERVE_OVER_STACK,
            )
        )
    else:
        out.append(_t("bot ask cold start / stack import", f"<= {ASK_OVER_STACK}", None, False, start.get("reason", "")))
    out.append(_t("no-op re-ingest", "< 3 s", c["noop_ingest_s"], c["noop_ingest_s"] < 3))
    big = next((row for row in g if row["scale"] == 100), None)
    if big and big.get("query_p95_ms") is None:
        out.append(_t("query p95 at 100x / 1x", "< 3", None, False, big.get("error", "")))
    elif big and g:
        ratio = round(big["query_p95_ms"] / g[0]["query_p95_ms"], 2)
        out.append(_t("query p95 at 100x / 1x", "< 3", ratio, ratio < 3))
    else:
        out.append(_t("query p95 at 100x / 1x", "< 3", None, None, "not measured: --quick stops at 10x"))
    serve = c["serve"]
    if serve.get("measured"):
        out.append(_t("bot serve RSS after 100 questions", "< 600 MB", serve["peak_rss_mb"], serve["peak_rss_mb"] < 600))
    else:
        out.append(_t("bot serve RSS after 100 questions", "< 600 MB", None, None, serve.get("reason", "")))
    for lang, ours in cmp_["ours"]["by_lang"].items():
        stock = cmp_["stock"]["by_lang"].get(lang, {})
        for k in ("hit_at_5", "pass_rate"):
            margin = round((ours[k] or 0) - (stock.get(k) or 0), 4)
            out.append(_t(f"{k} ours - stock ({lang})", f">= +{WIDE_MARGIN}", margin, margin >= WIDE_MARGIN))
    return out


def table(r: dict) -> str:
    m, cmp_, c = r["machine"], r["comparison"], r["costs"]
    o, s, ratio = cmp_["ours"], cmp_["stock"], cmp_["ratios_ours_over_stock"]
    lines = [
        f"bench ({r['mode']}) on {m['cores']} cores, load avg {m['loadavg_start'][0]} -> {m['loadavg_end'][0]}, {r.get('wall_s', '?')} s",
        "",
        f"{'':24}{'ours':>10}{'stock':>10}{'ours/stock':>12}",
    ]
    rows = [("pass rate", "pass_rate"), ("hit@5", "hit_at_5")]
    for label, k in rows:
        lines.append(f"{label:24}{o[k]:>10}{s[k]:>10}{ratio[k]!s:>12}")
        for lang in o["by_lang"]:
            lines.append(
                f"{'  ' + label + ' ' + lang:24}{o['by_lang'][lang][k]!s:>10}{s['by_lang'][lang][k]!s:>10}{ratio.get(f'{k}_{lang}')!s:>12}"
            )
    for label, k in (
        ("p50 ms", "p50_ms"),
        ("p95 ms", "p95_ms"),
        ("peak RSS MB", "peak_rss_mb"),
        ("full ingest s", "full_ingest_s"),
    ):
        lines.append(f"{label:24}{o[k]:>10}{s[k]:>10}{ratio[k]!s:>12}")
    lines += ["", *startup_lines(c["startup"])]
    serve = c["serve"]
    lines += [
        "",
        f"full ingest                      {c['full_ingest_s']} s ({c['chunks']} chunks, {c['full_ingest_embed_s']} s embedding)",
        f"no-op re-ingest                  {c['noop_ingest_s']} s",
        f"retrieve p50/p95                 {c['stages_ms']['retrieve']['p50']} / {c['stages_ms']['retrieve']['p95']} ms",
        f"compose p50/p95                  {c['stages_ms']['answer']['p50']} / {c['stages_ms']['answer']['p95']} ms",
    ]
    if serve.get("measured"):
        lines += [
            f"bot serve peak RSS (100 q)       {serve['peak_rss_mb']} MB",
            f"POST /api/ask, {serve['concurrency']} clients         {serve['requests_per_s']} req/s "
            f"({serve['ok']}/{serve['requests']} ok, p95 {serve['latency_p95_ms']} ms)",
        ]
    else:
        lines.append(f"bot serve                        {serve.get('reason')}")
    lines += ["", f"{'scale':>6}{'chunks':>9}{'ingest s':>10}{'projected s':>13}{'query p50':>11}{'query p95':>11}"]
    for g in r["growth"]:
        lines.append(
            f"{g['scale']:>5}x{g['chunks']:>9}{g['ingest_s']:>10}{g['ingest_projected_s']:>13}{g['query_p50_ms']!s:>11}{g['query_p95_ms']!s:>11}"
            + (f"  {g['error'][:90]}" if g.get("error") else "")
        )
    lines += ["", "targets:"]
    for t in r.get("targets", []):
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[t["passed"]]
        lines.append(f"  {verdict} {t['name']}: {t['value']} (target {t['target']}){'  ' + t['note'] if t.get('note') else ''}")
    return "\n".join(lines)


def startup_lines(st: dict) -> list[str]:
    """Start-up beside the stack import, then where the time goes, phase by phase."""
    if not st.get("measured"):
        return [f"start-up                         {st.get('reason')}"]
    runs = len(st["ask_runs_s"])
    lines = [
        "start-up (medians)                    s  / stack import",
        f"  {st['stack_import']:<34}{st['stack_import_s']:>6}      1.00  runs {st['stack_import_runs_s']}",
        f"  {'python -m bot ask (exec to exit)':<34}{st['ask_s']:>6}{st['ask_over_stack']:>10}  runs {st['ask_runs_s']}",
    ]
    if "serve_healthy_s" in st:
        lines.append(
            f"  {'python -m bot serve to /healthz 200':<34}{st['serve_healthy_s']:>6}{st['serve_over_stack']:>10}  runs {st['serve_runs_s']}"
        )
    if "serve_chat_s" in st:
        chat = st["serve_chat_s"]
        lines.append(f"  {'  ... and to the chat at / (ui ready)':<34}{chat:>6}{round(chat / st['stack_import_s'], 2):>10}")
    if "ask_first_s" in st:
        lines.append(
            f"  {'first ask after ingest (snapshot)':<34}{st['ask_first_s']:>6}{round(st['ask_first_s'] / st['stack_import_s'], 2):>10}"
        )
    ph = st.get("phases_s", {})
    if "error" in ph:
        return [*lines, f"  phases not measured: {ph['error'][-200:]}"]
    lines += ["", f"start-up phases, one after another in one process ({runs} ask runs above overlap some):"]
    for key, label in PHASES:
        if key in ph or f"{key}_before" in ph:
            now, before = ph.get(key), ph.get(f"{key}_before")
            shown = f"{now:>7} s" if now is not None else f"{'in snapshot':>9}"
            lines.append(f"  {label:<52}{shown}" + (f"   (was {before} s)" if before is not None else ""))
    lines.append(f"  {'sum':<52}{ph.get('total', '?'):>7} s")
    return lines


def plot(growth: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [g["chunks"] for g in growth]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(x, [g["ingest_s"] for g in growth], "o-", label="measured (vectors reused)")
    a.plot(x, [g["ingest_projected_s"] for g in growth], "o--", label="projected with embedding")
    a.set(xscale="log", yscale="log", xlabel="chunks", ylabel="seconds", title="full ingest")
    a.legend()
    done = [g for g in growth if g.get("query_p95_ms") is not None]  # a scale the bot could not load has no latency
    b.plot([g["chunks"] for g in done], [g["query_p95_ms"] for g in done], "o-", label="answer p95")
    b.plot([g["chunks"] for g in done], [g["retrieve_p95_ms"] for g in done], "o--", label="retrieve p95")
    b.set(xscale="log", xlabel="chunks", ylabel="ms", title="query latency")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if report.get("growth"):
        plot(report["growth"], out / "growth.png")
