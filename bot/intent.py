"""Understand a question: clean it, resolve follow-ups, find the entities, and decide once what is asked.

The cue words are data (bot/lexicon/cues.*.toml); this module gathers the facts; the ordered list of
named rules (RULES) picks the intent, and the result is one frozen Question the later steps only read.
Nothing here knows any particular question.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from bot.corpus import Corpus, Erratum
from bot.errors import BadQuestion
from bot.lexicon import Lexicon, load_lexicon
from bot.question import Intent, ListKind, Question
from bot.rules import EVERYDAY_WORD_SHARE, LONG_POST, NO_ERRATA_RULES, RULES, SHORT_QUESTION, Facts
from bot.text import (
    LATIN_RUN,
    STOP_TERMS,
    AliasMatcher,
    asking_clauses,
    camel_parts,
    clean,
    detect_lang,
    english_share,
    has_han,
    normalize,
    terms,
    to_simplified,
)

FUZZY_CUTOFF = 0.85  # difflib ratio: "dockr"~"docker" (0.91) passes, "virtual"~"virtualbox" (0.82) does not
HISTORY_TURNS = 10  # earlier turns a follow-up may refer to


class Interpreter:
    """Turns raw text (plus history) into a Question, using the corpus's aliases and errata."""

    def __init__(
        self,
        corpus: Corpus,
        max_chars: int = 2000,
        on_topic: Callable[[str], bool] | None = None,
        known_word: Callable[[str], bool] | None = None,
        lexicon: Lexicon | None = None,
        mentioned: Callable[[str], bool] | None = None,
    ) -> None:
        self.corpus = corpus
        self.max_chars = max_chars
        self.lex = lexicon or load_lexicon()
        # Whether a question naming no entity still uses the corpus's own vocabulary ("Dom0", "Popek");
        # without a retriever to tell, such questions are out of scope.
        self.on_topic = on_topic or (lambda text: False)
        self.known_word = known_word or (lambda word: True)
        # Whether any corpus text uses a Latin word at all (case-insensitive): names it never uses are not covered.
        self.mentioned = mentioned or (lambda word: True)
        self._latin_aliases = {
            normalize(a): e for a, e in corpus.alias_map().items() if re.fullmatch(r"[a-z][a-z0-9\-]{3,}", normalize(a))
        }
        self.entities = AliasMatcher(corpus.alias_map())
        # Spaces between Latin and Han letters are optional to the alias matcher ("Android虚拟机"), so here too.
        self._parts = {normalize(a).replace(" ", ""): (n.id, normalize(a)) for n in corpus.notes.values() for a in n.parts}
        cat_aliases = {}
        for c in corpus.categories.values():
            if c.id == "concept":
                continue
            for a in (c.name["zh"], c.name["en"], *c.aliases):
                cat_aliases[a] = c.id
        self.categories = AliasMatcher(cat_aliases)
        self._errata_terms = {e.id: terms(e.quote + " " + e.title["zh"] + " " + e.title["en"]) for e in corpus.errata}

    def has(self, cue: str, text: str) -> bool:
        return bool(self.lex.cue(cue).search(text))

    def interpret(self, raw: str, history: list[dict] | None = None) -> Question:
        if not isinstance(raw, str):
            raise BadQuestion("the question must be text")
        notices: list[str] = []
        # Cut before cleaning: NFKC can expand a character many times over, so cleaning first would let
        # one request cost far more than its length.
        if len(raw) > self.max_chars * 2:
            raw = raw[: self.max_chars * 2]
        # Traditional characters read as the corpus's simplified ones: "cpu虛擬化技術有什麼用" is answered, not refused.
        text = to_simplified(clean(raw))
        if not text:
            raise BadQuestion("the question is empty: ask about a virtualization technology, e.g. “KVM 属于哪一类虚拟化？”")
        if len(text) > self.max_chars:
            text = text[: self.max_chars]
            notices.append(f"question truncated to {self.max_chars} characters")
        history = history or []
        ents = self._entities(text)
        if len(text) >= LONG_POST:
            ents = self._without_everyday_names(text, ents)
        standalone = intent_text = text
        prior = self._history_entities(history)
        carried: list[str] = []
        # A greeting or "thanks" mid-conversation is still small talk, not a question about the last topic.
        small_talk = not ents and self.has("chat", text) and not self.has("domain", text)
        prev = self._last_user_turn(history)
        if prior and ents and prev and self._only_names(text):
            # "那 WebAssembly 呢？" after "eBPF 属于哪类虚拟化？": the same question about the new entity.
            standalone = intent_text = self._substitute(prev, ents)
            ents = self._entities(standalone)
        elif (
            prior
            and not small_talk
            and (not ents or self.has("followup", text) or (len(ents) == 1 and self.has("strong_compare", text)))
        ):
            # "how does that compare with Hyper-V?": one name plus a comparison means the other is the last topic.
            carried = [e for e in prior if e not in ents]
            if not ents:
                carried = carried[:2] if self.has("compare", text) else carried[:1]
            else:
                carried = carried[:1]
            ents = carried + ents
            names = " / ".join(self.corpus.notes[e].name for e in carried)
            standalone = f"{names}: {text}" if carried else text
        cats = self.categories.find(intent_text)
        if self.has("not_virtualization", intent_text) and self.has("list", intent_text):
            cats += [c.id for c in self.corpus.categories.values() if c.is_virtualization == "false" and c.id not in cats]
        errata = self.match_errata(intent_text, ents)
        # The axes a question asks about are named where it asks: in "能不能适配 Hyper-V？我觉得它性能最好"
        # performance is the asker's reason, not what they want to know.
        asked = asking_clauses(intent_text)
        axes = tuple(axis for axis, cue in self.lex.axis_cues.items() if cue.search(asked))
        uncovered = self._unknown_names(text)
        spans = self._part_spans(intent_text)
        parts = tuple(dict.fromkeys(w for e, w, part in spans if part and e in ents))
        q_terms = terms(intent_text)
        overlap = {e.id: self._claim_overlap(intent_text, q_terms, e) for e in errata}
        rule, intent, ents = self._decide(
            intent_text,
            ents,
            cats,
            errata,
            axes,
            asked,
            followup=bool(carried),
            uncovered=bool(uncovered),
            claim_overlap=max(overlap.values(), default=0.0),
            parts_only=bool(parts) and all(_named_by_parts_only(spans, e) for e in ents),
            concept_by_example=any(self.corpus.notes[e].kind == "concept" and _named_by_parts_only(spans, e) for e in ents),
        )
        if intent == Intent.EXPLAIN and len(ents) > 1 and not carried:
            # "Windows 家庭版没有 Hyper-V，还能用 WSL 2 吗": the thing the asking clause names is what is asked about;
            # the one named in the context before it is the circumstance.
            asked_ents = [e for e in self._entities(asked) if e in ents]
            if asked_ents and len(asked_ents) < len(ents):
                ents = asked_ents + [e for e in ents if e not in asked_ents]
        if rule in NO_ERRATA_RULES:
            errata = []
            overlap = {}
        list_kind = self._list_kind(text, ents, cats, axes) if intent == Intent.LIST else ListKind.NONE
        return Question(
            text=text,
            standalone=standalone,
            lang=detect_lang(text),
            intent=intent,
            entities=tuple(ents),
            categories=tuple(cats),
            errata=tuple(errata),
            errata_overlap=overlap,
            notices=tuple(notices),
            axes=axes,
            list_kind=list_kind,
            yes_no=self.has("yes_no", text),
            either_or=self.has("either_or", text),
            same=self.has("same", asked),
            how=self.has("how", text),
            howto=self.has("howto", text),
            why=self.has("why", text),
            trouble=self.has("trouble", text),
            what=self.has("what", text) or self.has("overview", text),
            about_article=self.has("article", text),
            asks_virtualization=self.has("asks_virtualization", text),
            followup=bool(carried),
            parts=parts,
            uncovered=tuple(uncovered),
            rule=rule,
        )

    def _decide(
        self,
        text: str,
        ents: list[str],
        cats: list[str],
        errata: list[Erratum],
        axes: tuple[str, ...],
        asked: str,  # the clauses of `text` that ask (bot.text.asking_clauses)
        followup: bool,
        uncovered: bool = False,
        claim_overlap: float = 0.0,
        parts_only: bool = False,
        concept_by_example: bool = False,
    ) -> tuple[str, Intent, list[str]]:
        notes = self.corpus.notes
        facts = Facts(
            text=text,
            entities=tuple(ents),
            techs=tuple(e for e in ents if notes[e].kind != "concept"),
            concepts_only=bool(ents) and all(notes[e].kind == "concept" for e in ents),
            categories=tuple(cats),
            errata=tuple(errata),
            followup=followup,
            # A domain word is enough in a short question ("what is a sandbox?"); a long post needs the
            # corpus's own evidence: "kernel" in a Jupyter report or "sandbox" in a PayPal one is not it.
            on_topic=bool(ents or cats or (self.has("domain", text) and len(text) <= SHORT_QUESTION) or self.on_topic(text)),
            uncovered=uncovered,
            claim_overlap=claim_overlap,
            parts_only=parts_only,
            concept_by_example=concept_by_example,
            cue=lambda name: self.has(name, text),
            asks=lambda name: self.has(name, asked),
        )
        rule, intent = next((name, intent) for name, test, intent in RULES if test(facts))
        if intent in (Intent.COMPARE, Intent.EXPLAIN) and "hardware_support" in axes:
            # "Does WSL need VT-x?" asks about WSL's hardware needs, not for a WSL-vs-VT-x table; and "how
            # do I skip VT-x for VirtualBox?" is about VirtualBox, whichever name comes first.
            others = [e for e in ents if notes[e].category != "hardware-extension"]
            if len(others) == 1 and len(ents) > 1:
                if intent == Intent.COMPARE:
                    rule, intent = "needs-hardware", Intent.EXPLAIN
                ents = others + [e for e in ents if e not in others]
        if (
            intent.answers_from_corpus
            and self.has("list", text)
            and axes
            and all(notes[e].kind == "concept" or notes[e].category == "hardware-extension" for e in ents)
        ):
            rule, intent = "list-by-axis", Intent.LIST  # "哪些技术必须开 VT": technologies sorted by an axis
        return rule, intent, ents

    def _list_kind(self, text: str, ents: list[str], cats: list[str], axes: tuple[str, ...]) -> ListKind:
        """What a list question enumerates, in order of precedence."""
        if axes and not cats:
            return ListKind.BY_AXIS
        if not ents and not cats and self.has("all_categories", text):
            return ListKind.ALL_CATEGORIES
        if cats:
            return ListKind.CATEGORIES
        if ents and all(self.corpus.notes[e].kind == "concept" for e in ents):
            return ListKind.CONCEPT_MEMBERS
        if self.has("techniques", text):
            return ListKind.TECHNIQUES
        if self.has("article", text):
            return ListKind.ERRATA if self.has("mistakes", text) else ListKind.ARTICLE_GROUPS
        return ListKind.NONE

    def _part_spans(self, text: str) -> list[tuple[str, str, bool]]:
        """(entity, matched text, whether it names a part) for every alias occurrence ("EPT" in "AMD-V 的 NPT 和
        Intel 的 EPT" names a part of Intel VT-x)."""
        norm = normalize(text)
        out = []
        for a, b, e in self.entities.find_spans(norm):
            word = norm[a:b].replace(" ", "")
            owner, alias = self._parts.get(word) or self._parts.get(word.removesuffix("s")) or (None, word)
            out.append((e, alias, owner == e))
        return out

    def entities_in(self, text: str) -> list[str]:
        """The entities a text names, in order of mention (aliases and their typos)."""
        return self._entities(text)

    def _entities(self, text: str) -> list[str]:
        """Entities in order of mention: exact alias matches, plus words that are a typo of one
        ("dockr", "kubernets"): a word the corpus never uses, close to a single-word alias."""
        norm = normalize(text)
        spans = self.entities.find_spans(norm)
        found = [(start, e) for start, _, e in spans]
        for m in re.finditer(r"[a-z][a-z0-9\-]{4,}", norm):
            if self.known_word(m.group()) or any(a <= m.start() < b for a, b, _ in spans):
                continue
            close = difflib.get_close_matches(m.group(), self._latin_aliases, n=1, cutoff=FUZZY_CUTOFF)
            if close:
                found.append((m.start(), self._latin_aliases[close[0]]))
        return list(dict.fromkeys(e for _, e in sorted(found)))

    def _without_everyday_names(self, text: str, ents: list[str]) -> list[str]:
        """In a long post, an entity named only by an everyday English word ("container queries" in a CSS
        post, "at a glance", "the wine list") is the post's vocabulary, not its subject, unless the post is
        otherwise about the corpus: it names something by a real name, or its words are on topic. A
        capitalised "Wine" is the product's name."""
        cased = re.sub(r"\s+", " ", clean(text)).strip()  # `normalize` without lower-casing: the same offsets
        norm = cased.lower()
        spans = self.entities.find_spans(norm) if len(norm) == len(cased) else []

        def everyday(a: int, b: int) -> bool:
            word = norm[a:b]
            return bool(re.fullmatch(r"[a-z]+", word)) and not cased[a].isupper() and english_share(word) >= EVERYDAY_WORD_SHARE

        weak = {e for e in ents if any(x == e for _, _, x in spans) and all(everyday(a, b) for a, b, x in spans if x == e)}
        if not weak or len(weak) < len(ents) or self.on_topic(text):
            return ents
        return []

    def _unknown_names(self, text: str) -> list[str]:
        """Product-like names no note mentions ("Nutanix AHV", "bhyve 和 KVM"): Latin words in a Chinese
        question, or capitalised words after the first in an English one, that the corpus never uses and
        that are not a typo of an alias. The answer then says what is not covered instead of guessing."""
        chinese = has_han(text)
        names: list[list[tuple[int, int]]] = []  # runs of adjacent unknown words ("Nutanix AHV")
        for m in LATIN_RUN.finditer(text):
            word, low = m.group(), m.group().lower()
            if self.mentioned(low) or self.entities.find(word) or self.has("not_a_name", word):
                continue
            parts = camel_parts(word)
            if len(parts) > 1 and all(self.mentioned(p) for p in parts):
                continue  # "AppleSilicon", "VirtualMachine": known words written together
            if difflib.get_close_matches(low, self._latin_aliases, n=1, cutoff=FUZZY_CUTOFF):
                continue
            if chinese or (m.start() > 0 and any(c.isupper() for c in word)):
                if names and text[names[-1][-1][1] : m.start()] == " ":
                    names[-1].append(m.span())
                else:
                    names.append([m.span()])
        return list(dict.fromkeys(text[run[0][0] : run[-1][1]] for run in names))

    def _user_turns(self, history: list[dict]) -> list[str]:
        """Earlier user turns, most recent first (assistant turns mention too much)."""
        return [
            t["content"]
            for t in reversed(history[-HISTORY_TURNS:])
            if isinstance(t, dict) and t.get("role") == "user" and isinstance(t.get("content"), str)
        ]

    def _last_user_turn(self, history: list[dict]) -> str:
        turns = self._user_turns(history)
        return to_simplified(clean(turns[0][: self.max_chars * 2]))[: self.max_chars] if turns else ""

    def _history_entities(self, history: list[dict]) -> list[str]:
        out: list[str] = []
        for turn in self._user_turns(history):
            for e in self.entities.find(to_simplified(turn[: self.max_chars * 2])):
                if e not in out:
                    out.append(e)
        return out

    def _only_names(self, text: str) -> bool:
        """Whether a follow-up is just names plus filler ("那 WebAssembly 呢？", "what about Xen?")."""
        norm = normalize(text)
        for start, end, _ in reversed(self.entities.find_spans(norm)):
            norm = norm[:start] + " " + norm[end:]
        return not self.lex.cue("filler").sub("", norm)

    def _substitute(self, previous: str, new: list[str]) -> str:
        """The previous question with its named technologies replaced by the new ones (first-named first).

        Only as many names as the follow-up gives are replaced, so "what about Xen?" after "Is KVM a
        type 1 hypervisor?" becomes "Is Xen a type 1 hypervisor?", not "Is Xen a Xen?".
        """
        norm = normalize(previous)
        spans = self.entities.find_spans(norm)
        if not spans:
            return norm
        old_ids = list(dict.fromkeys(e for _, _, e in spans))
        techs = [e for e in old_ids if self.corpus.notes[e].kind != "concept"] or old_ids
        mapping = {old: new[i] for i, old in enumerate(techs[: len(new)])}
        names = {i: n.name for i, n in self.corpus.notes.items()}
        for start, end, eid in reversed(spans):
            if eid in mapping:
                norm = norm[:start] + names[mapping[eid]] + norm[end:]
        return norm

    def _claim_overlap(self, text: str, q_terms: set[str], e: Erratum) -> float:
        """Share of the question's terms found in the erratum's claim; 0 when all it shares is names.

        "What is paravirtualization?" shares only the word "paravirtualization" with the claim "Xen is only
        paravirtualization" and does not touch it; "Is Xen paravirtualization?" names both sides of it.
        """
        shared = (q_terms & self._errata_terms[e.id]) - STOP_TERMS
        spans = self.entities.find_spans(text)
        named = {eid for _, _, eid in spans}
        if len(named & set(e.entities)) < 2:
            # All it shares are names, even of two different things ("Docker 是虚拟机吗" and a claim about
            # Docker and container virtualization): it names the claim's subject without restating it.
            norm = normalize(text)
            names = set().union(*(terms(norm[a:b]) for a, b, _ in spans))
            if shared <= names:
                return 0.0
        return len(q_terms & self._errata_terms[e.id]) / max(1, len(q_terms))

    def match_errata(self, text: str, ents: list[str]) -> list[Erratum]:
        """Errata about the named entities, ranked by how much of the claim's wording the question shares."""
        q = terms(text)
        scored = []
        for e in self.corpus.errata:
            shared = set(ents) & set(e.entities)
            if not shared:
                continue
            overlap = len(q & self._errata_terms[e.id]) / max(1, len(q))
            scored.append((len(shared) + 2 * overlap, e))
        scored.sort(key=lambda x: -x[0])
        return [e for _, e in scored]


def _named_by_parts_only(spans: list[tuple[str, str, bool]], entity: str) -> bool:
    """Whether every mention of `entity` among `Interpreter._part_spans` names a part of it ("Dalvik", not "JVM")."""
    named = [part for e, _, part in spans if e == entity]
    return bool(named) and all(named)
