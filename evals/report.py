"""Render an evaluation run: terminal table, report.json, report.md, a PNG chart, and a diff with the last run."""

from __future__ import annotations

import json
from pathlib import Path

from evals.scoring import KINDS

COLS = (
    "cases",
    "pass_rate",
    "hit_at_5",
    "mrr",
    "refusal_accuracy",
    "citation_validity",
    "lang_match",
    "lead_rate",
    "chars_p50",
    "chars_p90",
    "p50_ms",
    "p95_ms",
)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if v <= 1.0 else f"{v:.1f}"
    return str(v)


def table(summary: dict) -> str:
    rows = [("all", summary)]
    rows += [(f"lang={k}", v) for k, v in summary["by_lang"].items()]
    rows += [(f"kind={k}", v) for k, v in summary["by_kind"].items()]
    head = ["scope", *COLS]
    body = [[name, *(_fmt(block.get(c)) for c in COLS)] for name, block in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True))  # noqa: E731
    lines = [line(head), line(["-" * w for w in widths]), *(line(r) for r in body)]
    units = {"zh": "characters", "en": "words"}
    for lang, kinds in summary.get("size_p50", {}).items():
        shown = ", ".join(f"{k} {v:g}" for k, v in kinds.items())
        lines.append(f"median reply length, lang={lang} ({units.get(lang, 'characters')}): {shown}")
    return "\n".join(lines)


def diff_with_previous(out: Path, results: list[dict]) -> dict:
    prev_path = out / "report.json"
    if not prev_path.exists():
        return {"previous": False, "newly_failing": [], "newly_passing": []}
    try:
        prev = {c["id"]: c["passed"] for c in json.loads(prev_path.read_text(encoding="utf-8"))["cases"]}
    except (ValueError, KeyError, TypeError):
        return {"previous": False, "newly_failing": [], "newly_passing": []}
    now = {c["id"]: c["passed"] for c in results}
    return {
        "previous": True,
        "newly_failing": sorted(i for i, p in now.items() if not p and prev.get(i) is True),
        "newly_passing": sorted(i for i, p in now.items() if p and prev.get(i) is False),
    }


def write_reports(out: Path, summary: dict, results: list[dict], diff: dict, failures: list[str], meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report = {"summary": summary, "thresholds_failed": failures, "diff": diff, "meta": meta, "cases": results}
    tmp = out / "report.json.tmp"
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(out / "report.json")
    md = [
        "# Evaluation report",
        "",
        f"Backend: `{meta.get('backend')}` · embeddings: `{meta.get('embeddings')}` · datasets: {', '.join(meta.get('datasets', []))}",
        "",
        "```",
        table(summary),
        "```",
        "",
        "Thresholds: " + ("all hold" if not failures else "; ".join(failures)),
        "",
    ]
    if diff.get("previous"):
        md += [
            f"Newly failing: {', '.join(diff['newly_failing']) or 'none'}",
            f"Newly passing: {', '.join(diff['newly_passing']) or 'none'}",
            "",
        ]
    failed = [r for r in results if not r["passed"]]
    if failed:
        md += ["## Failing cases", ""]
        for r in failed:
            groups = " · ".join("/".join(g) for g in r["failed_groups"]) or "-"
            md.append(f"- `{r['id']}` ({r['lang']}, {r['kind']}): {r['question']} — missing: {groups}; refused={r['refused']}")
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    chart(out / "pass_rate.png", summary, results)


def chart(path: Path, summary: dict, results: list[dict]) -> None:
    """Pass rate by kind, one bar per language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in KINDS if k in summary["by_kind"]]
    langs = list(summary["by_lang"])
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    width = 0.8 / max(1, len(langs))
    for i, lang in enumerate(langs):
        vals = []
        for k in kinds:
            rs = [r for r in results if r["kind"] == k and r["lang"] == lang]
            vals.append(sum(r["passed"] for r in rs) / len(rs) if rs else 0.0)
        ax.bar(
            [x + i * width for x in range(len(kinds))],
            vals,
            width,
            label=f"lang={lang} ({summary['by_lang'][lang]['pass_rate']:.0%})",
        )
    ax.set_xticks([x + width * (len(langs) - 1) / 2 for x in range(len(kinds))], kinds)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("pass rate")
    ax.axhline(0.9, color="grey", linestyle="--", linewidth=1)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(f"pass rate {summary['pass_rate']:.1%} of {summary['cases']} cases, by kind and language")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
