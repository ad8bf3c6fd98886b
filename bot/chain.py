"""The answer chain (LangChain LCEL): understand -> retrieve -> answer (composer or LLM) -> Answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from langchain_core.runnables import RunnableLambda

from bot import snapshot
from bot.answer import Answer
from bot.chunking import Chunk
from bot.compose import Composer
from bot.compose.citations import SECTION_WORDS
from bot.corpus import Corpus, load_corpus
from bot.embeddings import embeddings_name, make_embeddings, preload
from bot.intent import Interpreter
from bot.qa_match import QaMatch, QaMatcher, cache_path
from bot.question import Intent, Question
from bot.retrieve import Hit, Retriever
from bot.settings import Settings
from bot.store import load_index, open_active
from bot.text import asked_sentences


@dataclass
class _State:
    question: str
    history: list[dict]
    q: Question | None = None
    hits: list[Hit] = field(default_factory=list)
    match: QaMatch | None = None  # the curated Q&A pair that answers, if one does
    extra: list[Chunk] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    answer: Answer | None = None


class Bot:
    """Everything needed to answer, loaded once: corpus, index, retriever, composer, optional LLM."""

    def __init__(
        self,
        settings: Settings,
        corpus: Corpus,
        retriever: Retriever,
        llm=None,
        embedder: str = "",
        qa: QaMatcher | None = None,
    ) -> None:
        self.settings = settings
        self.corpus = corpus
        self.retriever = retriever
        self.interpreter = Interpreter(
            corpus, settings.max_question_chars, retriever.on_topic, retriever.knows, mentioned=retriever.mentions_or_nearly
        )
        self.composer = Composer(corpus, retriever.idf, retriever.tokenizer.tokens, named=retriever.entities_in)
        self.llm = llm  # an LlmAnswerer, or None for the offline composer
        self.qa = qa  # matches questions to curated Q&A pairs; None answers from the notes alone
        self.embedder = embedder
        self.from_snapshot = False  # whether from_settings loaded corpus and retriever from bot.snapshot
        # The article's and the errata's chunks, for lookups that name no entity.
        self._special_chunks = [c for c in retriever.chunks if c.doc_id in ("article", "notes/article-errata")]
        # Understanding and retrieval are shared by `ask` (the whole chain) and `stream` (which answers itself).
        self._prepare = RunnableLambda(self._understand) | RunnableLambda(self._retrieve)
        self.chain = self._prepare | RunnableLambda(self._answer)

    @classmethod
    def from_settings(cls, settings: Settings, embeddings=None) -> Bot:
        """Load corpus, index and models as configured (the slow part: ~2 s with the default embedder)."""
        emb = embeddings or make_embeddings(settings.embeddings)
        preload(emb)  # the encoder loads in a background thread while the steps below run
        name = embeddings_name(emb)
        corpus, retriever, qa, from_snapshot = cls._load_knowledge(settings, emb, name)
        llm = None
        if settings.llm:
            from bot.llm import LlmAnswerer

            llm = LlmAnswerer.from_settings(settings)
        bot = cls(settings, corpus, retriever, llm, name, qa)
        bot.from_snapshot = from_snapshot
        emb.embed_query("warm up")  # load the encoder now, not on the first user's question
        retriever.tokenizer.general_share("warm")  # and wordfreq's English list (0.3 s), used to judge scope
        return bot

    @staticmethod
    def _load_knowledge(settings: Settings, emb, name: str) -> tuple[Corpus, Retriever, QaMatcher, bool]:
        """Corpus, retriever and Q&A matcher: from the start-up snapshot when it is current, else built and snapshotted."""
        digest = snapshot.corpus_digest(settings.corpus_dir)
        opened = open_active(settings, name)
        path, made_for = snapshot.path_for(settings.index_dir, name), snapshot.key(digest, opened[1], settings.chroma_url)
        snap = snapshot.load(path, made_for)
        if snap is not None:
            index = load_index(settings, emb, name, opened=opened, chunks=snap.chunks)
            index.warm_in_background()
            retriever = Retriever(index, emb, snap.corpus.alias_map(), lexical=snap.lexical)
            qa = QaMatcher.restored(snap.corpus, snap.qa_vectors, snap.phrasings, retriever)
            return snap.corpus, retriever, qa, True
        corpus = load_corpus(settings.corpus_dir)
        index = load_index(settings, emb, name, opened=opened)
        index.warm_in_background()
        retriever = Retriever(index, emb, corpus.alias_map())
        qa = QaMatcher.cached(corpus, retriever, emb, cache_path(settings.index_dir, name))
        snapshot.save(path, made_for, snapshot.Snapshot(corpus, index.chunks, retriever.lexical, qa.phrasings, qa.vectors))
        return corpus, retriever, qa, False

    @property
    def backend(self) -> str:
        return self.llm.name if self.llm else "composer"

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        """Answer one question; raises BadQuestion for empty input."""
        return self.chain.invoke(_State(question, list(history or []))).answer

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[str | Answer]:
        """Yield text pieces as they are produced, then the final Answer."""
        state = self._prepare.invoke(_State(question, list(history or [])))
        if self.llm and state.q.intent.answers_from_corpus:
            final = None
            for piece in self.llm.stream(self._llm_request(state)):
                if isinstance(piece, Answer):
                    final = piece
                else:
                    yield piece
            yield final
            return
        answer = self._answer(state).answer
        yield from answer.text.splitlines(keepends=True)
        yield answer

    # --- chain steps -------------------------------------------------------------------------

    def _understand(self, s: _State) -> _State:
        t0 = time.perf_counter()
        s.q = self.interpreter.interpret(s.question, s.history)
        if self.llm and s.history and s.q.intent.answers_from_corpus:
            s.q = self.llm.condense(
                s.q, s.history, lambda text: self.interpreter.interpret(text, []), self.settings.max_question_chars
            )
        s.timings["understand"] = (time.perf_counter() - t0) * 1000
        return s

    def _retrieve(self, s: _State) -> _State:
        t0 = time.perf_counter()
        if s.q.intent.answers_from_corpus:
            entities = list(s.q.entities)
            if s.q.intent == Intent.LIST and s.q.categories:
                # A question about a category is about its members; the concept that names the
                # category ("hypervisor") would otherwise crowd them out of the top hits.
                members = [m for cid in s.q.categories for m in self.corpus.categories[cid].members]
                entities = list(dict.fromkeys(members + [e for e in entities if self.corpus.notes[e].kind != "concept"]))
            vector = self.retriever.embeddings.embed_query(s.q.standalone)
            s.hits = self.retriever.search(s.q.standalone, self.settings.top_k, entities=entities, lang=s.q.lang, vector=vector)
            self._promote_correction(s)
            if self.qa is not None and s.q.entities:
                own_words = s.q.text if s.q.followup else ""
                s.match = self.qa.match(s.q.standalone, s.q.entities, vector, own_words=own_words, intent=s.q.intent)
                if not s.q.followup:
                    s.match = self._match_asked_part(s, s.match)
        s.timings["retrieve"] = (time.perf_counter() - t0) * 1000
        return s

    def _match_asked_part(self, s: _State, best):
        """A post ("title. context... Can I do X? thanks") is matched by the sentences that ask, each with
        the names it uses itself, when one of them matches a curated question better than the whole."""
        for part in asked_sentences(s.q.text):
            names = tuple(e for e in self.interpreter.entities_in(part) if e in s.q.entities)
            if not names:
                continue
            m = self.qa.match(part, names, self.retriever.embeddings.embed_query(part), intent=s.q.intent)
            if m is not None and (best is None or m.score > best.score):
                best = m
        return best

    def _answer(self, s: _State) -> _State:
        t0 = time.perf_counter()
        if self.llm and s.q.intent.answers_from_corpus:
            s.answer = self.llm.answer(self._llm_request(s))
        else:
            s.answer = self._composed(s)
        s.timings["answer"] = (time.perf_counter() - t0) * 1000
        s.timings["total"] = sum(v for k, v in s.timings.items() if k != "total")
        s.answer.timings_ms = {k: round(v, 2) for k, v in s.timings.items()}
        return s

    def _composed(self, s: _State, notices: list[str] | None = None) -> Answer:
        text, cites = self.composer.compose(s.q, s.hits, lambda *key: self.lookup(s, *key), s.match)
        return self.make_answer(s, text, cites, "composer", notices)

    def _llm_request(self, s: _State):
        from bot.llm import LlmRequest

        return LlmRequest(
            q=s.q,
            hits=s.hits,
            finish=lambda text, cites, backend: self.make_answer(s, text, cites, backend),
            fallback=lambda note: self._composed(s, [note]),
            fetch=lambda entity, section, lang, containing=(): self.lookup(s, entity, section, lang, containing),
            match=s.match,
        )

    def _promote_correction(self, s: _State) -> None:
        """A question naming no entity whose best match is an erratum asks about a misconception: answer with the correction."""
        if s.q.intent != Intent.EXPLAIN or s.q.entities or not s.hits or s.hits[0].chunk.doc_id != "notes/article-errata":
            return
        title = s.hits[0].chunk.heading.rsplit(" > ", 1)[-1]
        erratum = next((e for e in self.corpus.errata if title in (e.title["zh"], e.title["en"])), None)
        if erratum is not None:
            s.q = replace(s.q, intent=Intent.CORRECT, errata=(erratum,), rule="errata-match")

    def make_answer(self, s: _State, text: str, cites, backend: str, notices: list[str] | None = None) -> Answer:
        q = s.q
        retrieved = [
            {
                "chunk_id": h.chunk.chunk_id,
                "doc_id": h.chunk.doc_id,
                "entity": h.chunk.entity,
                "score": round(h.score, 5),
                "ranks": h.ranks,
                "heading": h.chunk.heading,
            }
            for h in s.hits
        ] + [
            {
                "chunk_id": c.chunk_id,
                "doc_id": c.doc_id,
                "entity": c.entity,
                "score": 0.0,
                "ranks": {"lookup": 1},
                "heading": c.heading,
            }
            for c in s.extra
        ]
        return Answer(
            text=text,
            lang=q.lang,
            intent=q.intent.value,
            entities=list(q.entities),
            refused=q.intent == Intent.REFUSE,
            citations=list(cites),
            retrieved=retrieved,
            backend=backend,
            notices=[*q.notices, *(notices or [])],
            question=q.text,
            standalone=q.standalone,
            curated=s.match.pair.id if s.match and backend == "composer" else "",
        )

    def lookup(self, s: _State, entity: str, section: str, lang: str, containing: tuple[str, ...] = ()) -> Chunk | None:
        """Fetch a specific chunk (an entity's section, or an erratum) by metadata; it joins `retrieved`.
        With `containing`, the section's chunk that mentions one of those (lower-cased) words: a long
        section is split into several chunks."""

        def fits(c: Chunk) -> bool:
            return _matches(c, entity, section, lang) and (not containing or any(w in c.text.lower() for w in containing))

        for c in s.extra:
            if fits(c):
                return c
        special = section == "article" or section.startswith("erratum:")
        candidates = self._special_chunks if special else self.retriever.chunks_about(entity)
        for c in candidates:
            if fits(c):
                s.extra.append(c)
                return c
        return None


def _matches(c: Chunk, entity: str, section: str, lang: str) -> bool:
    if section == "article":
        return c.doc_id == "article"
    if section.startswith("erratum:"):
        return c.doc_id == "notes/article-errata" and c.heading.endswith(section.split(":", 1)[1])
    words = SECTION_WORDS.get(section, (section,))
    return c.entity == entity and c.lang == lang and any(w in c.heading.lower() for w in words)
