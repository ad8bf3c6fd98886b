"""Golden files: what the question reader and the composer produce for a fixed set of questions, without an index.

`tests/golden/questions.json` lists the questions (with history); `intent.json` and `composer.json` hold
what the current rules and phrases make of them. After a deliberate change to a cue, rule or phrase,
regenerate with `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_intent.py tests/test_composer.py`
and read the diff before committing it.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from bot.chunking import Chunk, chunk_corpus
from bot.compose import Composer
from bot.corpus import Corpus, load_corpus
from bot.intent import Interpreter
from bot.question import Question
from bot.retrieve import Hit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def questions() -> list[dict]:
    return json.loads((HERE / "questions.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def corpus() -> Corpus:
    return load_corpus(REPO / "corpus")


@lru_cache(maxsize=1)
def chunks() -> tuple[Chunk, ...]:
    return tuple(chunk_corpus(corpus()))


@lru_cache(maxsize=1)
def interpreter() -> Interpreter:
    """The real rules over the real corpus; the corpus's own words stand in for the index's vocabulary."""
    from bot.text import terms

    vocabulary: set[str] = set()
    for c in chunks():
        vocabulary |= terms(c.embed_text())
    return Interpreter(
        corpus(),
        2000,
        on_topic=lambda text: any(w in text.lower() for w in ("dom0", "popek")),
        known_word=lambda word: word in vocabulary,
        mentioned=lambda word: word.lower() in vocabulary,
    )


def ask(case: dict) -> Question:
    history = [{"role": "user", "content": h} for h in case["history"]]
    return interpreter().interpret(case["question"], history)


def hits_for(q: Question, k: int = 8) -> list[Hit]:
    """Hand-made retrieval: the chunks about the question's entities, in corpus order, then the errata it touches."""
    wanted = [c for c in chunks() if c.entity in q.entities and c.lang == q.lang][: k - 2]
    titles = {e.title[q.lang] for e in q.errata[:2]}
    wanted += [c for c in chunks() if c.doc_id == "notes/article-errata" and c.heading.rsplit(" > ", 1)[-1] in titles][:2]
    return [Hit(c, 1.0 / (i + 1), {"hand": i + 1}) for i, c in enumerate(wanted)]


def fetch(entity: str, section: str, lang: str, containing: tuple[str, ...] = ()) -> Chunk | None:
    """The chain's lookup over the corpus's chunks: an entity's section (the chunk mentioning `containing`),
    the article or an erratum."""
    from bot.chain import _matches

    pool = [c for c in chunks() if c.doc_id in ("article", "notes/article-errata")] if not entity else chunks()
    return next(
        (
            c
            for c in pool
            if _matches(c, entity, section, lang) and (not containing or any(w in c.text.lower() for w in containing))
        ),
        None,
    )


def compose(q: Question) -> tuple[str, list]:
    return Composer(corpus()).compose(q, hits_for(q), fetch)


def check(name: str, actual: list) -> list:
    """Compare with the golden file `name` (or rewrite it under UPDATE_GOLDEN=1); returns the stored rows."""
    path = HERE / name
    if UPDATE or not path.exists():
        path.write_text(json.dumps(actual, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return json.loads(path.read_text(encoding="utf-8"))
