"""The offline answer composer: builds grounded answers from note fields and retrieved chunks.

Every statement comes from a note's front matter or a retrieved sentence, and every citation
marker points at a retrieved chunk. The words around the facts are data (bot/lexicon/phrases.*.toml);
each intent has its own module here.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.answer import Citation
from bot.chunking import Chunk
from bot.compose.citations import Citations
from bot.compose.classify import classify
from bot.compose.common import Kit
from bot.compose.compare import compare
from bot.compose.curated import curated
from bot.compose.explain import correct, explain, not_covered, troubleshooting
from bot.compose.listing import listing
from bot.corpus import Corpus
from bot.lexicon import Lexicon, load_lexicon
from bot.qa_match import QaMatch
from bot.question import Intent, Question
from bot.retrieve import Hit
from bot.text import AliasMatcher, terms


class Composer:
    """Compose an answer for a Question from hits; `fetch` retrieves an entity's chunk by section."""

    def __init__(
        self,
        corpus: Corpus,
        idf: Callable[[str], float] | None = None,
        tokens: Callable[[str], list[str]] | None = None,
        lexicon: Lexicon | None = None,
        named: Callable[[str], list[str]] | None = None,
    ) -> None:
        lex = lexicon or load_lexicon()
        self.kit = Kit(
            corpus=corpus,
            phrases=lex.phrases,
            negative=lex.cue("negative"),
            article=lex.cue("article"),
            anaphor=lex.cue("anaphor"),
            inverts=lex.cue("inverts"),
            defines=lex.cue("defines"),
            pronoun=lex.cue("pronoun"),
            idf=idf or (lambda t: 1.0),
            tokens=tokens or (lambda text: sorted(terms(text))),
            named=named or AliasMatcher(corpus.alias_map()).find,
        )

    def compose(
        self,
        q: Question,
        hits: list[Hit],
        fetch: Callable[..., Chunk | None],  # (entity, section, lang[, containing]) -> chunk
        match: QaMatch | None = None,
    ) -> tuple[str, list[Citation]]:
        """The answer text and its citations; a matched curated pair answers first when there is one."""
        k = self.kit
        cites = Citations(hits, fetch)
        t = k.phrases[q.lang]
        if q.intent == Intent.REFUSE:
            return t["refuse"], []
        if q.intent == Intent.CHAT:
            return t["chat"], []
        if match is not None:
            return curated(k, q, match, cites), cites.list
        if q.rule == "not-covered":
            return not_covered(k, q, hits), []
        if q.trouble and q.intent != Intent.CORRECT:
            return troubleshooting(k, q, hits, cites), cites.list
        if q.intent == Intent.CORRECT and q.errata:
            return correct(k, q, cites), cites.list
        if q.intent == Intent.COMPARE and len(q.entities) >= 2:
            return compare(k, q, cites), cites.list
        if q.intent == Intent.LIST:
            text = listing(k, q, cites)
            if text:
                return text, cites.list
        if q.intent == Intent.CLASSIFY and q.entities:
            return classify(k, q, cites), cites.list
        return explain(k, q, hits, cites), cites.list
