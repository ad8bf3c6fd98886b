"""An optional LLM judge for the evals: faithfulness and correctness, advisory, cached, never guessed.

Deterministic by construction where it can be: temperature 0, JSON out, and every verdict cached
by a hash of the model and the prompt, so a second run asks the model nothing. A reply that is
not the JSON we asked for counts as a judge error, never as a score.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage

JUDGE_PROMPT = """You grade one answer of a question-answering bot about virtualization technologies.
Score two things from 0 to 1:
- faithfulness: every claim in the answer is supported by the numbered sources (1 = fully supported).
- correctness: the answer answers the question and agrees with the expected facts (1 = fully).
Reply with one JSON object and nothing else: {"faithfulness": <number>, "correctness": <number>, "reason": "<one sentence>"}"""


class Judge:
    """Scores (question, answer, sources, expected facts) with a chat model; verdicts cached on disk."""

    def __init__(self, chat, model_name: str, cache_path: Path) -> None:
        self.chat = chat
        self.model_name = model_name
        self.cache_path = cache_path
        try:
            self.cache: dict[str, dict] = json.loads(cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.cache = {}

    def __call__(self, case, answer) -> dict:
        sources = "\n".join(f"[{c.n}] {c.title}: {c.snippet}" for c in answer.citations) or "(none)"
        expected = "; ".join(" or ".join(group) for group in case.all) or "(no specific facts)"
        user = f"Question: {case.question}\n\nAnswer:\n{answer.text}\n\nSources:\n{sources}\n\nExpected facts: {expected}"
        key = hashlib.sha256(f"{self.model_name}\n{JUDGE_PROMPT}\n{user}".encode()).hexdigest()
        if key in self.cache:
            return self.cache[key]
        try:
            reply = str(self.chat.invoke([SystemMessage(JUDGE_PROMPT), HumanMessage(user)]).content)
        except Exception as exc:  # an unreachable judge is an error for this case, not a score
            return {"error": f"judge unavailable ({type(exc).__name__})"}
        verdict = parse_verdict(reply)
        self.cache[key] = verdict
        return verdict

    def save(self) -> None:
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.cache, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.cache_path)


def parse_verdict(reply: str) -> dict:
    """The judge's JSON verdict, or {"error": ...} when it is not one."""
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", reply.strip())
    try:
        data = json.loads(text)
        scores = {k: float(data[k]) for k in ("faithfulness", "correctness")}
    except (ValueError, TypeError, KeyError):
        return {"error": "unparseable verdict", "raw": reply[:200]}
    if not all(0.0 <= v <= 1.0 for v in scores.values()):
        return {"error": "score outside 0..1", "raw": reply[:200]}
    return {**scores, "reason": str(data.get("reason", ""))[:300]}


def summarize_judge(verdicts: list[dict]) -> dict:
    scored = [v for v in verdicts if "error" not in v]
    return {
        "judged": len(scored),
        "judge_errors": len(verdicts) - len(scored),
        "faithfulness": round(statistics.mean(v["faithfulness"] for v in scored), 4) if scored else None,
        "correctness": round(statistics.mean(v["correctness"] for v in scored), 4) if scored else None,
    }
