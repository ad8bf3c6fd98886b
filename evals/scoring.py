"""Score answer quality on JSONL datasets: pass rate, retrieval, citations, refusals, language, latency.

Deterministic and offline with the composer; the same chain users get answers every case.
"""

from __future__ import annotations

import json
import re
import statistics
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bot.errors import BadQuestion, DatasetError
from bot.text import detect_lang

KINDS = ("classify", "compare", "explain", "list", "correct", "refuse", "followup")


@dataclass
class Case:
    id: str
    question: str
    lang: str
    kind: str
    history: list[dict]
    all: list[list[str]]
    none: list[str]
    refuse: bool
    sources: list[str]
    origin: str = ""
    lead: list[list[str]] = field(default_factory=list)  # groups that must occur in the reply's opening


@dataclass
class Result:
    id: str
    question: str
    lang: str
    kind: str
    answer: str
    refused: bool
    sources: list[str]
    passed: bool
    failed_groups: list[list[str]]
    found_none: list[str]
    hit_at_5: bool | None
    rr: float | None
    citations_valid: bool
    lang_ok: bool
    latency_ms: float
    intent: str = ""
    expect_refuse: bool = False
    judge: dict = field(default_factory=dict)
    lead_ok: bool | None = None  # None when the case has no `expect.lead`
    chars: int = 0  # reply length in characters
    size: int = 0  # the prose's length as the length targets count it: Chinese characters, English words
    curated: str = ""  # the curated Q&A pair that answered, if any
    backend: str = ""  # composer, or the LLM that answered


def _fail(path: Path, line: int, msg: str) -> DatasetError:
    return DatasetError(f"{path}:{line}: {msg}")


def load_dataset(path: Path) -> list[Case]:
    """Parse and validate a JSONL dataset; any bad line is an error naming file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    cases: list[Case] = []
    for no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            d = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _fail(path, no, f"not valid JSON ({exc.msg})") from exc
        if not isinstance(d, dict):
            raise _fail(path, no, "each line must be a JSON object")
        for key, typ in (("id", str), ("question", str), ("lang", str), ("kind", str), ("expect", dict)):
            if not isinstance(d.get(key), typ):
                raise _fail(path, no, f"`{key}` is missing or not a {typ.__name__}")
        if d["lang"] not in ("zh", "en"):
            raise _fail(path, no, f"`lang` must be zh or en, got {d['lang']!r}")
        if d["kind"] not in KINDS:
            raise _fail(path, no, f"`kind` must be one of {', '.join(KINDS)}, got {d['kind']!r}")
        history = d.get("history", [])
        if not isinstance(history, list) or not all(
            isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str) for t in history
        ):
            raise _fail(path, no, '`history` must be a list of {"role": "user"|"assistant", "content": "..."}')
        e = d["expect"]
        groups = e.get("all", [])
        if not _groups_ok(groups):
            raise _fail(path, no, "`expect.all` must be a list of non-empty lists of strings")
        lead = e.get("lead", [])
        if not _groups_ok(lead):
            raise _fail(path, no, "`expect.lead` must be a list of non-empty lists of strings")
        none = e.get("none", [])
        if not isinstance(none, list) or not all(isinstance(s, str) and s for s in none):
            raise _fail(path, no, "`expect.none` must be a list of strings")
        if not isinstance(e.get("refuse", False), bool):
            raise _fail(path, no, "`expect.refuse` must be true or false")
        sources = e.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise _fail(path, no, "`expect.sources` must be a list of entity ids")
        if any(c.id == d["id"] for c in cases):
            raise _fail(path, no, f"duplicate case id {d['id']!r}")
        cases.append(
            Case(
                d["id"],
                d["question"],
                d["lang"],
                d["kind"],
                history,
                groups,
                none,
                e.get("refuse", False),
                sources,
                str(path),
                lead,
            )
        )
    if not cases:
        raise DatasetError(f"{path}: no cases")
    return cases


def _groups_ok(groups) -> bool:
    return isinstance(groups, list) and all(
        isinstance(g, list) and g and all(isinstance(s, str) and s for s in g) for g in groups
    )


_MARKUP = re.compile(r"\[\d+\]|\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)|`")
_LINE_MARK = re.compile(r"^\s*(#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)+")
_SENTENCE = re.compile(r"(?<=[。！？!?])|(?<=[.;])(?=\s)")


def opening(text: str, sentences: int = 2) -> str:
    """The reply's first sentences of prose, as `expect.lead` reads them (shared/INTERFACES.md):
    citation markers, emphasis and heading / quote / bullet marks removed, table rule lines skipped."""
    lines = []
    for line in text.splitlines():
        if re.fullmatch(r"\s*\|?\s*:?-{2,}.*", line):
            continue
        line = _MARKUP.sub("", _LINE_MARK.sub("", line)).strip()
        if line:
            lines.append(line)
    parts = [p.strip() for p in _SENTENCE.split(" ".join(lines)) if p.strip()]
    return " ".join(parts[:sentences])


def ranked_entities(answer) -> list[str]:
    """Entity ids of the retrieved chunks, in rank order, without repeats (lookups excluded)."""
    out: list[str] = []
    for r in answer.retrieved:
        if "lookup" in r.get("ranks", {}):
            continue
        for e in [r.get("entity")]:
            if e and e not in out:
                out.append(e)
    return out


def score_case(case: Case, answer, latency_ms: float) -> Result:
    text = answer.text
    low = text.lower()
    failed = [g for g in case.all if not any(s.lower() in low for s in g)]
    found_none = [s for s in case.none if s.lower() in low]
    if answer.refused != case.refuse:
        passed = False
    else:
        passed = case.refuse or (not failed and not found_none)
    ents = ranked_entities(answer)
    hit = rr = None
    if case.sources and not case.refuse:
        hit = all(s in ents[:5] for s in case.sources)
        ranks = [ents.index(s) + 1 for s in case.sources if s in ents]
        rr = 1.0 / min(ranks) if ranks else 0.0
    retrieved_ids = {r["chunk_id"] for r in answer.retrieved}
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
    cited = {c.n: c for c in answer.citations}
    citations_valid = markers <= set(cited) and all(c.chunk_id in retrieved_ids for c in answer.citations)
    plain = re.sub(r"\[\d+\]|[|*#>\-]", " ", text)
    lang_ok = detect_lang(plain) == case.lang
    lead_ok = None
    if case.lead and not case.refuse:
        head = opening(text).lower()
        lead_ok = all(any(s.lower() in head for s in g) for g in case.lead)
    return Result(
        case.id,
        case.question,
        case.lang,
        case.kind,
        text,
        answer.refused,
        ents,
        passed,
        failed,
        found_none,
        hit,
        rr,
        citations_valid,
        lang_ok,
        round(latency_ms, 2),
        answer.intent,
        case.refuse,
        lead_ok=lead_ok,
        chars=len(text),
        size=prose_size(text, case.lang),
        curated=getattr(answer, "curated", ""),
        backend=answer.backend,
    )


def prose_size(text: str, lang: str) -> int:
    """Characters (Chinese) or words (English) of a reply's prose: citation marks and the source list do not count."""
    prose = "\n".join(line for line in text.splitlines() if not re.match(r"\s*\[\d+\]\s", line))
    prose = re.sub(r"\[\d+\]|[*#|`>-]", " ", prose)
    if lang == "zh":
        return len(re.sub(r"\s", "", prose))
    return len(re.findall(r"[A-Za-z0-9][A-Za-z0-9'’.\-]*", prose))


def run_cases(bot, cases: list[Case], clock=time.perf_counter, judge=None) -> list[Result]:
    """Answer every case through the bot and score it; `judge(case, answer)` adds an advisory verdict."""
    results = []
    for case in cases:
        t0 = clock()
        try:
            answer = bot.ask(case.question, case.history)
        except BadQuestion as exc:
            from bot.answer import Answer

            answer = Answer(text=str(exc), lang=case.lang, intent="refuse", entities=[], refused=True)
        result = score_case(case, answer, (clock() - t0) * 1000)
        if judge is not None and not case.refuse:
            result.judge = judge(case, answer)
        results.append(result)
    return results


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, rounded to 0.01 (0.0 for no values)."""
    if not values:
        return 0.0
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(q * (len(s) - 1))))], 2)


def summarize(results: list[Result]) -> dict:
    def block(rs: list[Result]) -> dict:
        hits = [r.hit_at_5 for r in rs if r.hit_at_5 is not None]
        rrs = [r.rr for r in rs if r.rr is not None]
        lat = [r.latency_ms for r in rs]
        leads = [r.lead_ok for r in rs if r.lead_ok is not None]
        chars = [float(r.chars) for r in rs if not r.expect_refuse]
        return {
            "cases": len(rs),
            "passed": sum(r.passed for r in rs),
            "pass_rate": round(sum(r.passed for r in rs) / len(rs), 4) if rs else 0.0,
            "hit_at_5": round(sum(hits) / len(hits), 4) if hits else None,
            "mrr": round(statistics.mean(rrs), 4) if rrs else None,
            "refusal_accuracy": round(sum(r.refused == r.expect_refuse for r in rs) / len(rs), 4) if rs else 0.0,
            "citation_validity": round(sum(r.citations_valid for r in rs) / len(rs), 4) if rs else 0.0,
            "lang_match": round(sum(r.lang_ok for r in rs) / len(rs), 4) if rs else 0.0,
            "p50_ms": percentile(lat, 0.5),
            "p95_ms": percentile(lat, 0.95),
            "lead_rate": round(sum(leads) / len(leads), 4) if leads else None,
            "chars_p50": percentile(chars, 0.5),
            "chars_p90": percentile(chars, 0.9),
            "curated_rate": round(sum(bool(r.curated) for r in rs) / len(rs), 4) if rs else 0.0,
        }

    out = block(results)
    out["by_lang"] = {lang: block([r for r in results if r.lang == lang]) for lang in sorted({r.lang for r in results})}
    out["by_kind"] = {k: block([r for r in results if r.kind == k]) for k in KINDS if any(r.kind == k for r in results)}
    # Median reply length by language and kind, in the units the targets use (zh characters, en words).
    out["size_p50"] = {
        lang: {
            k: percentile([float(r.size) for r in results if r.lang == lang and r.kind == k and not r.expect_refuse], 0.5)
            for k in KINDS
            if any(r.lang == lang and r.kind == k and not r.expect_refuse for r in results)
        }
        for lang in sorted({r.lang for r in results})
    }
    return out


def evaluate(bot, cases: list[Case], judge=None) -> tuple[list[Result], dict]:
    results = run_cases(bot, cases, judge=judge)
    summary = summarize(results)
    if judge is not None:
        from evals.judge import summarize_judge

        summary["judge"] = summarize_judge([r.judge for r in results if r.judge])
    return results, summary


def load_thresholds(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def check_thresholds(summary: dict, thresholds: dict) -> list[str]:
    """Messages for every threshold that does not hold (empty when all pass)."""
    failures = []

    def check(scope: str, block: dict, limits: dict) -> None:
        for metric, minimum in limits.items():
            if isinstance(minimum, dict):
                continue
            value = block.get(metric)
            if value is not None and value < minimum:
                failures.append(f"{scope} {metric} = {value:.3f} < {minimum}")

    check("overall", summary, thresholds.get("overall", {}))
    for lang, limits in thresholds.get("lang", {}).items():
        if lang in summary["by_lang"]:
            check(f"lang={lang}", summary["by_lang"][lang], limits)
    for kind, limits in thresholds.get("kind", {}).items():
        if kind in summary["by_kind"]:
            check(f"kind={kind}", summary["by_kind"][kind], limits)
    return failures


def results_json(results: list[Result]) -> list[dict]:
    return [asdict(r) for r in results]
