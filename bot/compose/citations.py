"""Citation numbering for one answer: only retrieved chunks (or ones fetched by section, then recorded) are cited."""

from __future__ import annotations

from collections.abc import Callable

from bot.answer import Citation
from bot.chunking import Chunk
from bot.corpus import Note
from bot.retrieve import Hit
from bot.text import split_sentences

SECTION_WORDS = {
    "summary": ("概要", "summary"),
    "classification": ("分类与理由", "classification"),
    "compare": ("与相近技术比较", "compared with neighbours"),
    "how": ("工作原理", "how it works"),
    "what": ("是什么", "what it is"),
    "misconceptions": ("常见误解", "misconceptions"),
    "practice": ("实际使用", "in practice"),
}


class Citations:
    """Numbers the chunks an answer cites; only retrieved chunks (or fetched ones, then recorded) qualify."""

    def __init__(self, hits: list[Hit], fetch: Callable[..., Chunk | None]) -> None:
        self.hits = hits
        self.fetch = fetch
        self.list: list[Citation] = []
        self._n: dict[str, int] = {}

    def add(self, chunk: Chunk) -> int:
        if chunk.chunk_id not in self._n:
            n = len(self.list) + 1
            self._n[chunk.chunk_id] = n
            self.list.append(Citation.from_chunk(n, chunk))
        return self._n[chunk.chunk_id]

    def find(self, entity: str, section: str, lang: str) -> Chunk | None:
        words = SECTION_WORDS[section]
        for h in self.hits:
            c = h.chunk
            if c.entity == entity and c.lang == lang and any(w in c.heading.lower() for w in words):
                return c
        return self.fetch(entity, section, lang)

    def mark(self, entity: str, section: str, lang: str) -> str:
        c = self.find(entity, section, lang)
        return f"[{self.add(c)}]" if c else ""

    def section(self, entity: str, section: str, lang: str) -> tuple[Chunk, int] | None:
        c = self.find(entity, section, lang)
        return (c, self.add(c)) if c else None

    def sentence_mentioning(self, entity: str, section: str, lang: str, other: Note) -> str:
        """The first sentence of the entity's section that names `other`, cited; "" when none does."""
        names = tuple(nm for nm in (other.name.lower(), *(a.lower() for a in other.aliases)) if nm)
        c = self.find(entity, section, lang)
        if c is not None and not any(nm in c.text.lower() for nm in names):
            c = self.fetch(entity, section, lang, names)  # the section's other chunks
        if not c:
            return ""
        for s in split_sentences(c.text):
            if any(nm in s.lower() for nm in names):
                return f"{s} [{self.add(c)}]"
        return ""

    def article(self) -> int | None:
        """Cite the article itself: its best retrieved chunk, else its first one."""
        for h in self.hits:
            if h.chunk.doc_id == "article":
                return self.add(h.chunk)
        c = self.fetch("", "article", "")
        return self.add(c) if c else None

    def erratum(self, title: str) -> int | None:
        for h in self.hits:
            if h.chunk.doc_id == "notes/article-errata" and h.chunk.heading.endswith(title):
                return self.add(h.chunk)
        c = self.fetch("", f"erratum:{title}", "")
        return self.add(c) if c else None
