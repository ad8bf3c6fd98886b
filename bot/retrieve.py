"""Hybrid retrieval: BM25 over jieba tokens + dense vectors in Chroma, fused by reciprocal rank.

RRF (Cormack et al., SIGIR 2009) adds 1 / (K + rank) over the legs, so a chunk ranked well by
either leg rises without the two score scales having to agree. On top of it, chunks about an
entity the question names get a boost (alias match), chunks in the question's language a small
one, and no document may take more than `per_doc` of the top k.
"""

from __future__ import annotations

import difflib
import functools
import heapq
import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.chunking import Chunk
from bot.errors import StoreUnavailableError
from bot.rules import LONG_POST
from bot.store import Index
from bot.text import (
    LATIN_WORD,
    STOP_TERMS,
    AliasMatcher,
    Tokenizer,
    alias_fingerprint,
    detect_lang,
    has_han,
    normalize,
    word_pairs,
)

RRF_K = 60
LATIN_PIECE = re.compile(r"[a-z0-9]+")  # the parts of "server-side", "node.js"
DENSE_CANDIDATES = 40
BM25_CANDIDATES = 40
NAMED_BOOST = 1.0 / (RRF_K + 1)  # as if an extra leg ranked the chunks of named entities first
MENTION_BOOST = 0.3 / (RRF_K + 1)  # the chunk mentions a named entity but is about something else
LANG_BOOST = 0.25 / (RRF_K + 1)
# The article is the text we critique; on a tie our curated notes should answer first.
ARTICLE_WEIGHT = 0.85
# How much more common in the corpus (share of chunks) than in general Chinese (share of jieba's word
# counts) a word must be to mark a question as being about the corpus's subject: "bios", "x86", "popek"
# and "镜像" are; the general computing words the corpus also uses ("memory", "interface", "compile",
# "编译", "隔离", "pip", 1,000 to 6,000 times) are not, and "virtual memory" or "pip 换源" is another subject.
KEYNESS = 10_000
NEAR_WORD = 0.8  # difflib ratio for a typo of a corpus word: "ununtu"~"ubuntu" (0.83), "type1"~"type-1" (0.91)
DISTINCTIVE_SHARE = 0.10  # a term in at most 10% of chunks is specific to the subject ("dom0", "popek")
URL = re.compile(r"https?://\S+|www\.\S+")
# Everyday English words that say nothing about a question's topic (Chinese ones are dropped by the tokenizer).
COMMON_WORDS = set(
    "have has had should would could can will shall may might must take make made get got give do did does done "
    "go going want need like know tell me my mine you your yours we our they their them he she his her i "
    "there here about into onto out up down over under again very really just also only some any all every "
    "last next first good best better bad new old one two who whom whose where when why which please thanks "
    "other others another same such many much more most".split()
)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # leg -> 1-based rank, for evals and debugging


@dataclass
class LexicalIndex:
    """What the retriever builds from the chunks' tokens: BM25, document frequencies, chunks by entity."""

    bm25: object  # a bm25s.BM25
    df: Counter
    # Chunk positions by the entity they are about, and by every entity they mention: the alias
    # boost then touches only those chunks, so a query's cost does not grow with the corpus.
    about: dict[str, list[int]]
    mentions: dict[str, list[int]]
    words: frozenset[str]  # every Latin word the chunks use, lower case, as written (not as tokenised)
    pairs: frozenset[tuple[str, str]]  # every two adjacent Latin words the chunks use ("shadow page")

    @classmethod
    def build(cls, chunks: list[Chunk], tokenized: list[list[str]]) -> LexicalIndex:
        from bot.seams import import_bm25s

        bm25 = import_bm25s().BM25()
        bm25.index(tokenized, show_progress=False)
        about: dict[str, list[int]] = {}
        mentions: dict[str, list[int]] = {}
        for i, c in enumerate(chunks):
            about.setdefault(c.entity, []).append(i)
            for e in c.entities:
                mentions.setdefault(e, []).append(i)
        words = frozenset(w.lower() for c in chunks for w in LATIN_WORD.findall(c.embed_text()))
        pairs = frozenset(p for c in chunks for p in word_pairs(c.embed_text()))
        return cls(bm25, Counter(t for toks in tokenized for t in set(toks)), about, mentions, words, pairs)


class Retriever:
    """Built once per process from a loaded index; `search` is cheap and thread-safe."""

    def __init__(
        self,
        index: Index,
        embeddings: Embeddings,
        aliases: dict[str, str],
        *,
        per_doc: int = 3,
        lexical: LexicalIndex | None = None,
    ) -> None:
        self.index = index
        self.embeddings = embeddings
        self.matcher = AliasMatcher(aliases)
        self.tokenizer = Tokenizer(aliases)
        self.per_doc = per_doc
        self.chunks = index.chunks
        self._pos = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        if lexical is None:
            stored = index.tokens if index.record.get("aliases") == alias_fingerprint(aliases) else None
            tokenized = [
                (stored[i] if stored and stored[i] is not None else self.tokenizer.tokens(c.embed_text())) or ["∅"]
                for i, c in enumerate(self.chunks)
            ]
            lexical = LexicalIndex.build(self.chunks, tokenized)
        self.lexical = lexical  # kept whole in the start-up snapshot (bot.snapshot)

    def idf(self, token: str) -> float:
        """Inverse document frequency of a token over the chunks (0 for unknown tokens)."""
        df = self.lexical.df.get(token, 0)
        return math.log(len(self.chunks) / df) if df else 0.0

    def mentions(self, word: str) -> bool:
        """Whether any chunk uses this Latin word (lower case), as written, not as tokenised."""
        return word.lower() in self.lexical.words

    def mentions_or_nearly(self, word: str) -> bool:
        """Whether the chunks use this Latin word or one a typo away ("ununtu" for ubuntu, "type1" for type-1)."""
        if self.mentions(word):
            return True
        word = word.lower()
        return bool(difflib.get_close_matches(word, self._words_by_initial.get(word[:1], []), n=1, cutoff=NEAR_WORD))

    @functools.cached_property
    def _words_by_initial(self) -> dict[str, list[str]]:
        """The corpus's Latin words by first letter: a typo is looked for among few candidates."""
        by: dict[str, list[str]] = {}
        for w in self.lexical.words:
            by.setdefault(w[:1], []).append(w)
        return by

    def knows(self, token: str) -> bool:
        """Whether the corpus uses this token at all."""
        return self.lexical.df.get(token, 0) > 0

    def on_topic(self, text: str) -> bool:
        """Whether a question that names no entity still talks about the corpus's subject.

        True when most of its content words occur in the corpus and either one of them is specific to
        it (in few chunks, and far more common there than in general language) or two adjacent ones are
        written together in it: "What is Dom0?", "Popek and Goldberg requirements" and "What does a
        shadow page table do?" are on topic; "Who won the NBA finals?", "风扇转速慢是什么原因" and "my
        component runs twice on every load" are not.
        """
        # A link's host and path ("developer.mozilla.org/.../Container_queries") are not the asker's words.
        text = URL.sub(" ", text)
        # Whole words only: jieba cuts a Latin word it does not know into dictionary pieces ("JavaScript"
        # -> "javas", "cri", "pt"), and a piece that is a corpus term says nothing about the subject.
        norm = normalize(text)  # as the tokenizer sees it: full-width letters folded, lower case
        words = {*LATIN_WORD.findall(norm), *LATIN_PIECE.findall(norm)}
        content = [
            t
            for t in self.tokenizer.tokens(text)
            if len(t) > 1 and not t.startswith("ent:") and t not in COMMON_WORDS and (has_han(t) or t in words)
        ]
        if not content:
            return False
        known = [t for t in content if self.lexical.df.get(t, 0) > 0]
        if len(known) * 2 <= len(content):
            return False
        limit = max(2, int(DISTINCTIVE_SHARE * len(self.chunks)))
        # One specific word settles a short question; a long post ("my notebook kernel keeps restarting
        # whenever I load …") uses one by chance, so it needs two.
        needed = 1 if len(text) < LONG_POST else 2
        if len({t for t in known if self.lexical.df[t] <= limit and self._keyword(t)}) >= needed:
            return True
        # Everyday English words the corpus writes together: "shadow page", "guest boot".
        return any(
            a not in COMMON_WORDS and b not in COMMON_WORDS and not {a, b} & STOP_TERMS
            for a, b in word_pairs(norm) & self.lexical.pairs
        )

    def _keyword(self, token: str) -> bool:
        """Whether a word is far more common in the corpus than in general language ("虚拟化", "内核",
        "hypervisor"; not "自动", "实际", "data", "runs", which any question may use)."""
        if not has_han(token) and len(token) < 3:
            return False  # "io", "js": too short to name a subject
        general = self.tokenizer.general_share(token)
        if not general:
            return True  # a word general language never uses ("dom0", "popek")
        return self.lexical.df[token] / len(self.chunks) >= KEYNESS * general

    def entities_in(self, text: str) -> list[str]:
        return self.matcher.find(text)

    def search(
        self,
        query: str,
        k: int = 8,
        *,
        entities: list[str] | None = None,
        lang: str | None = None,
        vector: list[float] | None = None,
    ) -> list[Hit]:
        """Top-k chunks for a query; `entities` defaults to those the query names, `vector` to the query's embedding."""
        # An ordered set: the order entities are visited in decides which hit a missing entity displaces,
        # and a plain set's order changes with each process's hash seed.
        named = dict.fromkeys(self.entities_in(query) if entities is None else entities)
        lang = lang or detect_lang(query)
        scores: dict[int, float] = {}
        ranks: dict[int, dict[str, int]] = {}

        bm = self.lexical.bm25.get_scores(self.tokenizer.query_tokens(query) or ["∅"])
        order = np.argsort(-bm)[:BM25_CANDIDATES]
        for r, i in enumerate(o for o in order if bm[o] > 0):
            scores[int(i)] = scores.get(int(i), 0.0) + 1.0 / (RRF_K + r + 1)
            ranks.setdefault(int(i), {})["bm25"] = r + 1

        vec = vector if vector is not None else self.embeddings.embed_query(query)
        try:
            docs = self.index.store.similarity_search_by_vector(vec, k=min(DENSE_CANDIDATES, len(self.chunks)))
        except Exception as exc:  # a Chroma server that went away, or files damaged under us
            # No reconnect needed: the HTTP client works again as soon as the server is back.
            raise StoreUnavailableError(
                f"the vector store did not answer ({type(exc).__name__}: {exc}); if BOT_CHROMA_URL is set, "
                "check that the Chroma server is running, else run `python ingest.py --rebuild`"
            ) from exc
        for r, d in enumerate(docs):
            i = self._pos.get(d.id)
            if i is None:
                continue
            scores[i] = scores.get(i, 0.0) + 1.0 / (RRF_K + r + 1)
            ranks.setdefault(i, {})["dense"] = r + 1

        about = {i for e in named for i in self.lexical.about.get(e, ())}
        mentioning = {i for e in named for i in self.lexical.mentions.get(e, ())} - about
        for i in about:
            scores[i] = scores.get(i, 0.0) + NAMED_BOOST
        for i in mentioning:
            scores[i] = scores.get(i, 0.0) + MENTION_BOOST
        for i in scores:
            if self.chunks[i].lang == lang:
                scores[i] += LANG_BOOST
            if self.chunks[i].doc_id == "article":
                scores[i] *= ARTICLE_WEIGHT

        # Diversifying needs the leaders, plus the best chunk of each named entity; not every scored chunk.
        ranked = heapq.nsmallest(k * self.per_doc * 8, scores, key=lambda i: (-scores[i], self.chunks[i].chunk_id))
        for e in named:
            best = max(self.lexical.about.get(e, ()), key=lambda i: scores.get(i, 0.0), default=None)
            if best is not None and best not in ranked:
                ranked.append(best)
        ranked.sort(key=lambda i: (-scores[i], self.chunks[i].chunk_id))
        return self._diversify([Hit(self.chunks[i], scores[i], ranks.get(i, {})) for i in ranked], k, named)

    def chunks_about(self, entity: str) -> list[Chunk]:
        """Every chunk whose main entity is `entity`, in index order."""
        return [self.chunks[i] for i in self.lexical.about.get(entity, ())]

    def _diversify(self, hits: list[Hit], k: int, named: dict[str, None]) -> list[Hit]:
        """At most per_doc chunks per document, and every named entity represented when it has chunks."""
        out: list[Hit] = []
        per: dict[str, int] = {}
        for h in hits:
            if per.get(h.chunk.doc_id, 0) < self.per_doc:
                out.append(h)
                per[h.chunk.doc_id] = per.get(h.chunk.doc_id, 0) + 1
        top = out[:k]
        missing = [e for e in named if not any(h.chunk.entity == e for h in top)]
        for e in missing:
            best = next((h for h in out if h.chunk.entity == e), None)
            if best is None:
                continue
            if len(top) >= k:
                top.pop(_least_needed(top, named))
            top.append(best)
        # Hits about a named entity before hits about unnamed ones: "What is a container? ... Docker's
        # website says" is about containers too, not only about Docker and its neighbours.
        return sorted(top, key=lambda h: (h.chunk.entity not in named, -h.score))


def _least_needed(top: list[Hit], named: dict[str, None]) -> int:
    """Index of the hit to give up for a missing entity: the lowest-ranked one about an unnamed
    entity, else the lowest-ranked one whose entity has other hits left (never a sole representative)."""
    counts = Counter(h.chunk.entity for h in top)
    for want in (lambda h: h.chunk.entity not in named, lambda h: counts[h.chunk.entity] > 1):
        for j in range(len(top) - 1, -1, -1):
            if want(top[j]):
                return j
    return len(top) - 1
