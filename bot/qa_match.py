"""Match a question to a curated Q&A pair: dense + lexical similarity over the pairs' phrasings.

A pair is a candidate only when the entities its phrasing names are exactly the entities the question
is about ("why does LXC start fast" never takes Docker's answer), a technique named beside a technology
that uses it aside ("Docker 容器" is about Docker), and it answers only above a
threshold calibrated by `python -m bot qa-calibrate` (leave-one-phrasing-out over the pairs
themselves, no evaluation case involved); the figure is in the README.

Phrasing vectors are cached beside the index (`data/index/qa-<embedder>.npz`, keyed by a hash of each
phrasing), so a start embeds only phrasings that changed since the last ingest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.corpus import Corpus
from bot.lexicon import Lexicon, load_lexicon
from bot.qa import LANGS, QaPair
from bot.question import Intent
from bot.text import AliasMatcher, alias_fingerprint, normalize

# Calibrated with `python -m bot qa-calibrate` (README, "Curated answers"): the lowest score at which
# a held-out phrasing's best match is its own pair at least 95% of the time.
THRESHOLD = 0.75
# ... or, below it, a score of at least MARGIN_FLOOR that leads the runner-up by MARGIN, in a question about
# two technologies or more: one pair stands out among those about the same things ("whats the diffrence
# between kvm and xen" scores 0.69 for the KVM-vs-Xen pair, and no other pair is near). Held out the same
# way, the rule answers 45% of the phrasings instead of 41%, at a precision of 0.91 (`python -m bot.qa_calibrate`).
MARGIN_FLOOR = 0.6
MARGIN = 0.2
# How a score is made: meaning (dense cosine), shared words (IDF-weighted F1), and the question's form
# (what / why / how / yes-no / list / history / compare / use, and the axes it asks about, from the
# lexicon's cues): "What is Docker?" and "How does Docker work?" name the same things and differ mostly in form.
MANY_NAMES = 3  # entities named in a question from which a pair about all but one of them may answer it
DENSE_WEIGHT = 0.5
LEXICAL_WEIGHT = 0.25
FORM_WEIGHT = 0.25
FORMS = ("what", "why", "how", "yes_no", "list", "history", "strong_compare", "use", "either_or")
# Curated pairs about mechanisms or history cannot answer a classification question
# ("How would you classify X?" asks for a category, not how X works).
MECHANISM_ASKS = ("how", "why", "history", "practice")


@dataclass(frozen=True)
class QaMatch:
    pair: QaPair
    score: float
    phrasing: str  # the curated phrasing that matched best


@dataclass(frozen=True)
class _Phrasing:
    pair: QaPair
    text: str
    lang: str
    entities: frozenset[str]
    tokens: frozenset[str]
    form: frozenset[str]


class QaMatcher:
    """Built once per process; `match` is cheap (one matrix-vector product over the phrasings)."""

    def __init__(
        self,
        pairs: list[QaPair],
        vectors: np.ndarray,
        entities: AliasMatcher,
        tokens: Callable[[str], list[str]],
        idf: Callable[[str], float],
        threshold: float = THRESHOLD,
        lexicon: Lexicon | None = None,
        known: dict[str, list[list[str]]] | None = None,
        phrasings: list[_Phrasing] | None = None,
        techniques: dict[str, tuple[str, ...]] | None = None,
        concepts: frozenset[str] = frozenset(),
    ) -> None:
        lex = lexicon or load_lexicon()
        # The question's form, and the comparison axes it asks about ("performance", "startup"...).
        self._forms = {name: lex.cue(name) for name in FORMS} | {f"axis:{a}": cue for a, cue in lex.axis_cues.items()}
        self._choose = lex.cue("choose")
        # `phrasings` come from the start-up snapshot (bot.snapshot) when it is current.
        self.phrasings = phrasings if phrasings is not None else phrasings_of(pairs, entities, tokens, self.form, known)
        assert len(self.phrasings) == len(vectors), "one vector per phrasing"
        self.vectors = _unit(vectors)
        self.tokens = tokens
        self.idf = idf
        self.threshold = threshold
        self._techniques = techniques or {}
        self._concepts = concepts
        self._by_entities: dict[frozenset[str], list[int]] = {}
        for i, p in enumerate(self.phrasings):
            self._by_entities.setdefault(self._subjects(p.entities), []).append(i)

    @classmethod
    def cached(cls, corpus: Corpus, retriever, embeddings: Embeddings, cache: Path) -> QaMatcher:
        """The matcher for a corpus's pairs, with phrasing vectors and features kept beside the index in `cache`."""
        vectors = phrasing_vectors(corpus.qa, embeddings, cache)
        fingerprint, features_file = alias_fingerprint(corpus.alias_map()), cache.with_suffix(".features.json")
        known = load_features(features_file, fingerprint)
        before = len(known)
        matcher = cls._of(corpus, vectors, retriever, known=known)
        if len(known) != before:
            save_features(features_file, fingerprint, known)
        return matcher

    @classmethod
    def restored(cls, corpus: Corpus, vectors: np.ndarray, phrasings: list[_Phrasing], retriever) -> QaMatcher:
        """The matcher again from what a snapshot kept (bot.snapshot): nothing is segmented or embedded."""
        return cls._of(corpus, vectors, retriever, phrasings=phrasings)

    @classmethod
    def _of(cls, corpus: Corpus, vectors: np.ndarray, retriever, **given) -> QaMatcher:
        """The matcher for a corpus, with the retriever's alias matcher, tokens and IDF."""
        return cls(
            corpus.qa,
            vectors,
            retriever.matcher,
            retriever.tokenizer.tokens,
            retriever.idf,
            techniques=techniques_of(corpus),
            concepts=concepts_of(corpus),
            **given,
        )

    def match(
        self,
        text: str,
        entities: tuple[str, ...],
        vector: list[float],
        own_words: str = "",
        intent: Intent | None = None,
    ) -> QaMatch | None:
        """The best pair for a question about exactly `entities`, or None below the threshold (or when the
        best pair cannot answer a question of this `intent`).

        `own_words` is what the user typed when `text` is a follow-up completed from history ("AMD 那边
        呢" after a VT-x question): the pair must then share a word with it, not only the carried name.
        """
        ranked = self.ranked(text, entities, vector)
        # A clear lead is enough only for a question about two technologies or more ("venv in a Docker
        # container"): about one (with or without a concept such as "a VM"), the pairs left are its other
        # questions, and the best of them is often another question about it ("is the CLR a VM?" for "does the
        # CLR sandbox code like a VM?"); and a classification, list or correction has the notes' own answer.
        if not ranked or not self.confident(ranked, self.lead_counts(entities, intent)):
            return None
        best = ranked[0]
        if intent == Intent.CLASSIFY and (best.pair.ask in MECHANISM_ASKS or _practical(best.pair)):
            return None
        if intent == Intent.CLASSIFY and self._choose.search(best.phrasing) and not self._choose.search(text):
            return None  # "wine是模拟器还是虚拟机" asks which kind Wine is, not "Wine 还是虚拟机好?" (which to use)
        if own_words:
            typed = set(self.tokens(own_words))
            phrasings = [p for p in self.phrasings if p.pair.id == best.pair.id]
            if not any(typed & p.tokens for p in phrasings):
                return None
        return best

    def lead_counts(self, entities: tuple[str, ...] | frozenset[str], intent: Intent | None) -> bool:
        """Whether a clear lead over the runner-up may answer a question about `entities` (see `match`)."""
        techs = [e for e in self._subjects(frozenset(entities)) if e not in self._concepts]
        return len(techs) >= 2 and intent not in (Intent.CLASSIFY, Intent.LIST, Intent.CORRECT)

    def confident(self, ranked: list[QaMatch], lead_ok: bool) -> bool:
        """Whether the best of the ranked candidates answers: above the threshold, or (`lead_ok`) clearly ahead."""
        best = ranked[0].score
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        return best >= self.threshold or (lead_ok and best >= MARGIN_FLOOR and best - runner_up >= MARGIN)

    def ranked(self, text: str, entities: tuple[str, ...], vector: list[float], exclude: str = "") -> list[QaMatch]:
        """Candidate pairs, best first, each scored by its best phrasing (`exclude` skips one phrasing)."""
        named = self._subjects(frozenset(entities))
        idx = list(self._by_entities.get(named, []))
        if len(named) >= MANY_NAMES:
            # A post that names three or more things ("VirtualBox says VT-x is not available under Vagrant")
            # is usually about all but one of them: pairs about any such subset are candidates too.
            idx += [i for e in sorted(named) for i in self._by_entities.get(named - {e}, [])]
        if not idx:
            return []
        q = _unit(np.asarray([vector], dtype=np.float32))[0]
        dense = self.vectors[idx] @ q
        q_tokens = set(self.tokens(text))
        q_form = self.form(text)
        best: dict[str, QaMatch] = {}
        for j, i in enumerate(idx):
            p = self.phrasings[i]
            if p.text == exclude:
                continue
            form = len(q_form & p.form) / len(q_form | p.form) if q_form | p.form else 1.0
            score = DENSE_WEIGHT * float(dense[j]) + LEXICAL_WEIGHT * self._overlap(q_tokens, p.tokens) + FORM_WEIGHT * form
            if p.pair.id not in best or score > best[p.pair.id].score:
                best[p.pair.id] = QaMatch(p.pair, round(score, 4), p.text)
        return sorted(best.values(), key=lambda m: -m.score)

    def _subjects(self, entities: frozenset[str]) -> frozenset[str]:
        """The entities a text is about: a technique named beside a technology that uses it is that technology's
        ("Docker 容器", "Firecracker vs Docker containers"), so a pair about the technology answers."""
        return frozenset(e for e in entities if not any(e in self._techniques.get(other, ()) for other in entities if other != e))

    def form(self, text: str) -> frozenset[str]:
        """The forms a question takes ("why", "how", "yes_no", ...)."""
        return frozenset(name for name, cue in self._forms.items() if cue.search(text))

    def _overlap(self, a: set[str], b: frozenset[str]) -> float:
        """IDF-weighted F1 of the two token sets (0 to 1)."""
        shared = sum(self._weight(t) for t in a & b)
        if not shared:
            return 0.0
        precision = shared / sum(self._weight(t) for t in b)
        recall = shared / sum(self._weight(t) for t in a)
        return 2 * precision * recall / (precision + recall)

    def _weight(self, token: str) -> float:
        # Unknown tokens (not in any chunk) still count, as much as a rare one.
        return self.idf(token) or math.log(1000)


def techniques_of(corpus: Corpus) -> dict[str, tuple[str, ...]]:
    """Each entity's techniques (the concepts it uses), from the notes' front matter."""
    return {n.id: n.techniques for n in corpus.notes.values()}


def concepts_of(corpus: Corpus) -> frozenset[str]:
    """The entities that are concepts (a technique or term), not technologies."""
    return frozenset(n.id for n in corpus.notes.values() if n.kind == "concept")


def phrasings_of(
    pairs: list[QaPair],
    entities: AliasMatcher,
    tokens: Callable[[str], list[str]],
    form: Callable[[str], frozenset[str]],
    known: dict[str, list[list[str]]] | None = None,
) -> list[_Phrasing]:
    """Every phrasing of every pair, in a fixed order, with the entities and tokens it carries.

    `known` maps a phrasing to its [entities, tokens] from an earlier start (see `features_cache`);
    it is updated in place with what had to be computed, since segmenting 2,700 phrasings takes a second.
    """
    known = {} if known is None else known
    out = []
    for pair in pairs:
        for lang in LANGS:
            for text in pair.questions[lang]:
                if text not in known:
                    known[text] = [entities.find(text), [t for t in tokens(text) if not t.startswith("ent:")]]
                ents, toks = known[text]
                out.append(_Phrasing(pair, text, lang, frozenset(ents), frozenset(toks), form(text)))
    return out


def load_features(path: Path, fingerprint: str) -> dict[str, list[list[str]]]:
    """Phrasing entities and tokens saved by an earlier start, if they were made with these aliases."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("features", {}) if data.get("aliases") == fingerprint else {}


def save_features(path: Path, fingerprint: str, features: dict[str, list[list[str]]]) -> None:
    """Write the phrasing features whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"aliases": fingerprint, "features": features}, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def phrasing_vectors(pairs: list[QaPair], embeddings: Embeddings, cache: Path | None) -> np.ndarray:
    """Vectors for every phrasing (order of `phrasings_of`), embedding only those not in the cache."""
    texts = [text for pair in pairs for lang in LANGS for text in pair.questions[lang]]
    keys = [hashlib.sha1(t.encode()).hexdigest()[:16] for t in texts]
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        try:
            with np.load(cache) as data:
                known = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            known = {}  # a damaged cache is rebuilt, never trusted
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if missing:
        for (k, _), v in zip(missing, embeddings.embed_documents([t for _, t in missing]), strict=True):
            known[k] = np.asarray(v, dtype=np.float32)
        if cache is not None:
            _save(cache, keys, [known[k] for k in keys])
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def cache_path(index_dir: Path, embedder_name: str) -> Path:
    return index_dir / f"qa-{re.sub(r'[^a-z0-9]+', '-', embedder_name.lower()).strip('-')}.npz"


def _save(path: Path, keys: list[str], vectors: list[np.ndarray]) -> None:
    """Write the cache whole or not at all (a killed process leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        keys=np.asarray(sorted(set(keys))),
        vectors=np.stack([dict(zip(keys, vectors, strict=True))[k] for k in sorted(set(keys))]),
    )
    os.replace(tmp, path)


def _practical(pair: QaPair) -> bool:
    """A pair grounded only in notes' In-practice sections answers a situation ("WSL 2 inside a VM?"), never
    what kind of thing something is ("wsl2 用的是虚拟机吗" shares its words)."""
    return bool(pair.cites) and all(section == "practice" for _, section in pair.cites)


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1, norms)


def normalize_phrasing(text: str) -> str:
    """A question reduced to its letters: case, spaces and punctuation do not make a new question."""
    return re.sub(r"[\W_]+", "", normalize(text))


def normalized_phrasings(pairs: list[QaPair]) -> set[str]:
    """Every phrasing, normalised, for the check that no pair copies an evaluation question."""
    return {normalize_phrasing(t) for p in pairs for lang in LANGS for t in p.questions[lang]}
