"""Cut corpus documents into retrievable chunks: by heading, then by sentence, with overlap."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from bot.corpus import Corpus, Document, Note
from bot.text import AliasMatcher, detect_lang, split_sentences

MAX_CHARS = 420  # a chunk holds whole sentences up to about this size
OVERLAP_SENTENCES = 1  # the last sentence of a chunk opens the next one in the same section


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    text: str  # what is shown as a snippet
    title: str  # document title
    heading: str  # heading path, "中文 > 分类与理由"
    lang: str
    source: str  # corpus-relative path with #anchor
    entities: tuple[str, ...] = field(default_factory=tuple)
    keywords: str = ""  # searchable but not shown (a note's aliases)

    @property
    def entity(self) -> str:
        return self.entities[0] if self.entities else ""

    def embed_text(self) -> str:
        """The text given to the embedder and BM25: title and heading make a chunk self-describing."""
        return f"{self.title} · {self.heading}\n{self.text}" + (f"\n{self.keywords}" if self.keywords else "")

    def metadata(self) -> dict[str, str]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "heading": self.heading,
            "lang": self.lang,
            "source": self.source,
            "entities": ",".join(self.entities),
            "entity": self.entity,
            "text": self.text,
            "keywords": self.keywords,
        }


def anchor(heading: str) -> str:
    """A GitHub-style anchor for a heading (lower case, spaces to dashes, punctuation dropped)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _sections(body: str) -> list[tuple[list[str], str]]:
    """(heading path, text) for each run of text under a heading."""
    stack: list[tuple[int, str]] = []  # (level, heading) of the headings above the current line
    out: list[tuple[list[str], str]] = []
    buf: list[str] = []

    def flush() -> None:
        text = "\n".join(buf).strip()
        if text:
            out.append(([h for _, h in stack], text))
        buf.clear()

    for line in body.splitlines():
        m = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if m:
            flush()
            level = len(m.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, m.group(2)))
        else:
            buf.append(line)
    flush()
    return out


def _blocks(text: str) -> list[str]:
    """Sentences, but a Markdown list item stays one unit (its own sentences are rarely useful alone)."""
    units: list[str] = []
    para: list[str] = []
    for line in text.splitlines() + [""]:
        if re.match(r"^\s*([-*+]|\d+\.)\s+", line) or not line.strip():
            if para:
                units.extend(split_sentences(" ".join(para)))
                para = []
            if line.strip():
                units.append(line.strip())
        else:
            para.append(line.strip())
    return units


def _pack(units: list[str]) -> list[str]:
    chunks: list[str] = []
    cur: list[str] = []
    for u in units:
        if cur and sum(len(x) for x in cur) + len(u) > MAX_CHARS:
            chunks.append(" ".join(cur))
            cur = cur[-OVERLAP_SENTENCES:] if OVERLAP_SENTENCES and len(cur) > OVERLAP_SENTENCES else []
        cur.append(u)
    if cur:
        chunks.append(" ".join(cur))
    return chunks


def chunk_document(doc: Document, title: str, entities_for: callable, rel_path: str) -> list[Chunk]:
    chunks = []
    for path, text in _sections(doc.body):
        heading = " > ".join(path) if path else title
        lang = (
            "zh" if any("中文" in p for p in path) else "en" if any("english" in p.lower() for p in path) else detect_lang(text)
        )
        for piece in _pack(_blocks(text)):
            ents = entities_for(path, piece)
            chunks.append(
                Chunk("", doc.doc_id, piece, title, heading, lang, f"{rel_path}#{anchor(path[-1] if path else title)}", ents)
            )
    return chunks


def _summary_chunks(note: Note, corpus: Corpus, rel_path: str) -> list[Chunk]:
    """One chunk per language from the note's front matter: names, category and summary."""
    cat = corpus.categories[note.category].name
    out = []
    for lang, head in (("zh", "概要"), ("en", "Summary")):
        names = ", ".join(dict.fromkeys(a.lower() for a in (note.name, *note.aliases)))
        text = f"{note.summary[lang]} {note.is_virtualization[lang]}"
        source = f"{rel_path}#{anchor(head)}"
        out.append(Chunk("", note.doc.doc_id, text, note.name, head, lang, source, (note.id,), f"{cat[lang]}; {names}"))
    return out


def chunk_corpus(corpus: Corpus) -> list[Chunk]:
    """All chunks of the corpus, each with a stable content-derived id."""
    matcher = AliasMatcher(corpus.alias_map())
    errata_by_title = {}
    for e in corpus.errata:
        for lang in ("zh", "en"):
            errata_by_title[e.title[lang]] = e.entities
    chunks: list[Chunk] = []
    for doc in corpus.documents:
        rel = f"corpus/{doc.path.parent.name}/{doc.path.name}" if doc.doc_id.startswith("notes/") else "corpus/article.md"
        note = corpus.notes.get(doc.doc_id.removeprefix("notes/"))
        if note is not None:
            title = note.name
            chunks += _summary_chunks(note, corpus, rel)

            def ents(path, text, note=note):
                return (note.id, *[e for e in matcher.find(text) if e != note.id])
        elif doc.doc_id == "notes/article-errata":
            title = str(doc.meta.get("name", "Article errata"))

            def ents(path, text):
                fixed = errata_by_title.get(path[-1] if path else "", ())
                return tuple(dict.fromkeys([*fixed, *matcher.find(text)]))
        else:
            title = str(doc.meta.get("title") or doc.meta.get("name") or doc.doc_id)

            def ents(path, text):
                return tuple(matcher.find(" ".join(path[-1:]) + " " + text))

        chunks += chunk_document(doc, title, ents, rel)
    return _with_ids(chunks)


def _with_ids(chunks: list[Chunk]) -> list[Chunk]:
    seen: dict[str, int] = {}
    out = []
    for c in chunks:
        h = hashlib.sha1(
            f"{c.doc_id}\n{c.heading}\n{c.source}\n{','.join(c.entities)}\n{c.text}\n{c.keywords}".encode()
        ).hexdigest()[:20]
        n = seen.get(h, 0)
        seen[h] = n + 1
        cid = f"{c.doc_id}:{h}" + (f"-{n}" if n else "")
        out.append(Chunk(cid, c.doc_id, c.text, c.title, c.heading, c.lang, c.source, c.entities, c.keywords))
    return out
