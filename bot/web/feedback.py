"""Like/dislike verdicts from the web chat, kept in SQLite and exportable as evaluation cases."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.answer import Answer

# Intents that are also evaluation kinds; anything else ("chat") is exported as "explain".
_KINDS = {"classify", "compare", "explain", "list", "correct", "refuse"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    time      TEXT NOT NULL,
    verdict   TEXT NOT NULL CHECK (verdict IN ('like', 'dislike')),
    question  TEXT NOT NULL,
    answer    TEXT NOT NULL,
    retrieved TEXT NOT NULL,  -- JSON list of {chunk_id, entity}
    comment   TEXT NOT NULL DEFAULT '',
    lang      TEXT NOT NULL DEFAULT '',
    intent    TEXT NOT NULL DEFAULT '',
    refused   INTEGER NOT NULL DEFAULT 0,
    history   TEXT NOT NULL DEFAULT '[]'  -- JSON list of {role, content} before the question
)
"""


@dataclass(frozen=True)
class Feedback:
    id: int
    time: str
    verdict: str
    question: str
    answer: str
    retrieved: list[dict]
    comment: str = ""
    lang: str = ""
    intent: str = ""
    refused: bool = False
    history: list[dict] = field(default_factory=list)

    @property
    def entities(self) -> list[str]:
        """Retrieved entity ids in rank order, without repeats."""
        return list(dict.fromkeys(r["entity"] for r in self.retrieved if r.get("entity")))


class FeedbackStore:
    """One SQLite file under `dir` (WAL mode, so the server can write while an export reads)."""

    def __init__(self, dir: Path, clock=time.time) -> None:
        self.path = Path(dir) / "feedback.sqlite3"
        self.clock = clock

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=10)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(_SCHEMA)
        return con

    def add(self, verdict: str, answer: Answer, comment: str = "", history: list[dict] | None = None) -> int:
        """Store one verdict ('like' or 'dislike') on an answer; returns its row id."""
        if verdict not in ("like", "dislike"):
            raise ValueError(f"verdict must be 'like' or 'dislike', got {verdict!r}")
        retrieved = [{"chunk_id": r.get("chunk_id", ""), "entity": r.get("entity", "")} for r in answer.retrieved]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))
        con = self._connect()
        try:
            with con:
                cur = con.execute(
                    "INSERT INTO feedback (time, verdict, question, answer, retrieved, comment, lang, intent, refused, history)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        stamp,
                        verdict,
                        answer.question,
                        answer.text,
                        json.dumps(retrieved, ensure_ascii=False),
                        comment.strip(),
                        answer.lang,
                        answer.intent,
                        int(answer.refused),
                        json.dumps(history or [], ensure_ascii=False),
                    ),
                )
            return int(cur.lastrowid)
        finally:
            con.close()

    def all(self) -> list[Feedback]:
        """Every stored verdict, oldest first."""
        if not self.path.exists():
            return []
        con = self._connect()
        try:
            rows = con.execute("SELECT * FROM feedback ORDER BY id").fetchall()
        finally:
            con.close()
        return [
            Feedback(
                id=r["id"],
                time=r["time"],
                verdict=r["verdict"],
                question=r["question"],
                answer=r["answer"],
                retrieved=json.loads(r["retrieved"]),
                comment=r["comment"],
                lang=r["lang"],
                intent=r["intent"],
                refused=bool(r["refused"]),
                history=json.loads(r["history"]),
            )
            for r in rows
        ]

    def export_cases(self, path: Path) -> int:
        """Write every verdict as an evaluation case (INTERFACES dataset JSONL); returns how many.

        `expect.all` and `expect.none` are left empty for a person to fill in; `expect.sources`
        holds what retrieval brought back, and `feedback` keeps the verdict, comment and answer.
        """
        cases = [_case(f) for f in self.all()]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for case in cases:
                out.write(json.dumps(case, ensure_ascii=False) + "\n")
        return len(cases)


def _case(f: Feedback) -> dict:
    kind = "followup" if f.history else (f.intent if f.intent in _KINDS else "explain")
    return {
        "id": f"feedback-{f.id}-{f.verdict}",
        "question": f.question,
        "lang": f.lang or "en",
        "kind": kind,
        "history": f.history,
        "expect": {"all": [], "none": [], "refuse": f.refused, "sources": f.entities[:5]},
        "feedback": {"verdict": f.verdict, "comment": f.comment, "answer": f.answer, "time": f.time},
    }
