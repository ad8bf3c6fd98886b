"""Result types handed from the chain to the CLI, the web layer, Slack and the evals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    entity: str
    title: str
    snippet: str
    source: str
    chunk_id: str = ""
    heading: str = ""

    @classmethod
    def from_chunk(cls, n: int, chunk, limit: int = 300) -> Citation:
        """Citation number n for a retrieved chunk, with a snippet of at most `limit` characters."""
        text = chunk.text if len(chunk.text) <= limit else chunk.text[: limit - 1] + "…"
        return cls(n, chunk.doc_id, chunk.entity, chunk.title, text, chunk.source, chunk.chunk_id, chunk.heading)


@dataclass
class Answer:
    text: str
    lang: str
    intent: str
    entities: list[str]
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[dict] = field(default_factory=list)
    backend: str = "composer"
    timings_ms: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    question: str = ""
    standalone: str = ""
    curated: str = ""  # id of the curated Q&A pair the answer comes from, if any

    def to_dict(self) -> dict:
        return asdict(self)
