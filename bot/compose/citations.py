"""Citation numbering for one answer: only retrieved chunks (or ones fetched by section, then recorded) are cited."""

from __future__ import annotations

import re
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

    def sentence_mentioning(self, this: Note, section: str, lang: str, other: Note, named: Callable[[str], list[str]]) -> str:
        """The first sentence of `this` note's section that names `other`, cited; "" when none does.

        A sentence names `other` when the entity matcher (`named`, longest alias first) finds it there by
        a name that is not part of `this` note's own names: "process virtual machines" is not the
        hypervisor's "virtual machines", and in the JVM's note "VM" ("Java VM", "bytecode VM") is the JVM."""
        names = _names_in(other, this)

        def mentions(s: str) -> bool:
            low = s.lower()
            return any(
                re.search(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])", low) if n.isascii() else n in low for n in names
            ) and other.id in named(s)

        c = self.find(this.id, section, lang)
        if c is not None and not any(mentions(s) for s in split_sentences(c.text)):
            c = self.fetch(this.id, section, lang, names)  # the section's other chunks
        if not c:
            return ""
        for s in split_sentences(c.text):
            if mentions(s):
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


def _names_in(other: Note, this: Note) -> tuple[str, ...]:
    """The names to look for `other` by in `this` note's chunks: its name and aliases, less those inside one
    of `this` note's own names ("VM" in "JVM", "虚拟机" in "Java 虚拟机"), which would find every chunk."""
    own = [n.lower() for n in (this.name, *this.aliases)]
    names = dict.fromkeys(n.lower() for n in (other.name, *other.aliases) if n)
    return tuple(n for n in names if not any(n in o for o in own))
