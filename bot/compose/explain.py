"""Explain and correct answers: the entity's summary and the most relevant retrieved sentences; the article's claim and the truth."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.chunking import Chunk
from bot.compose.citations import SECTION_WORDS, Citations
from bot.compose.common import (
    EXPLAIN_SENTENCES,
    FLOOR_AFTER,
    MAX_SENTENCE_CHARS,
    MECHANISM_SENTENCES,
    PART_BONUS,
    RELEVANCE_FLOOR,
    RESTATES,
    TROUBLE_SENTENCES,
    Kit,
    axis_lines,
    broken_quote,
    category_phrase,
    display_name,
    errata_notes,
    list_fragment,
    part_chunk,
    source_link,
    unbullet,
)
from bot.question import Question
from bot.retrieve import Hit
from bot.rules import CLAIM_OVERLAP
from bot.text import is_question, normalize, split_sentences


def explain(k: Kit, q: Question, hits: list[Hit], cites: Citations) -> str:
    t = k.phrases[q.lang]
    lines = []
    if not q.entities and q.about_article:
        meta = k.corpus.article.meta
        n = cites.article()
        lines.append(
            t["article_meta"].format(title=meta.get("title", ""), author=meta.get("author", "")) + (f" [{n}]" if n else "")
        )
    # A specific question (yes/no, how, why, when...) is answered by the axis it asks about or the best
    # retrieved sentence, first; the entity's summary leads only a "what is it" question.
    main = k.corpus.notes[q.entities[0]] if q.entities else None
    # "What is EPT?" asks about a part of Intel VT-x: the sentences about that part answer, not VT-x's card.
    parts = _parts_of(q, main)
    answer_first = q.yes_no or q.how or q.why or not q.what or bool(parts)

    def summary() -> str:  # the main entity's summary, cited (numbered when first called)
        return f"{main.summary[q.lang]} {cites.mark(main.id, 'summary', q.lang)}".rstrip()

    if main is not None:
        if not answer_first:
            lines.append(f"**{display_name(main, q.lang)}**{t['colon']}{summary()}")
        lines += axis_lines(k, q, [main])
    pool = hits
    wanted = []
    if q.entities and (q.asks_mechanism or parts):
        wanted.append("how")  # "How does X work?", "why is X fast?": X's mechanism section
    elif q.entities and q.howto:
        wanted.append("practice")  # "How do I turn X on?": X's practical section
    if q.entities and hits and hits[0].chunk.entity == q.entities[0] and hits[0].chunk.lang != q.lang:
        # The best match is the other language's text of a section ("Dalvik 跟 ART 哪里不一样" finds the
        # English "How it works" first): the same section in the question's language.
        wanted += [key for key, words in SECTION_WORDS.items() if any(w in hits[0].chunk.heading.lower() for w in words)]
    for part in parts:
        # "JVM 和 Dalvik 有什么区别": retrieval found the JVM's notes; Dalvik's sentence is in the process VM's.
        if not any(part in normalize(h.chunk.text) for h in pool[:6] if h.chunk.lang == q.lang):
            found = _part_chunk(k, cites, part, q.lang)
            if found is not None:
                pool = [Hit(found, hits[0].score if hits else 1.0, {"lookup": 1}), *pool]
    for key in reversed(list(dict.fromkeys(wanted))):  # "how" ends up first
        found = cites.find(q.entities[0], key, q.lang)
        if found is not None and all(h.chunk.chunk_id != found.chunk_id for h in pool[:6]):
            pool = [Hit(found, hits[0].score if hits else 1.0, {"lookup": 1}), *pool]
    picked = mmr_sentences(
        q,
        pool,
        MECHANISM_SENTENCES if q.asks_mechanism else EXPLAIN_SENTENCES,
        k.tokens,
        k.idf,
        best_first=answer_first,
        anaphor=k.anaphor,
        article=_article_aside(k, q),
        parts=parts,
        defines=k.defines,
        resolve=_subject_resolver(k),
    )
    if answer_first and main is not None and not lines and not picked:
        lines.append(f"**{display_name(main, q.lang)}**{t['colon']}{summary()}")
    body = " ".join(f"{sent} [{cites.add(chunk)}]" for chunk, sent in picked)
    # "why / how": the mechanism first, then what the thing is, for the reader who does not know it.
    restated = main is not None and any(_overlap(k, main.summary[q.lang], sent) >= RESTATES for _, sent in picked)
    tail = summary() if answer_first and not q.yes_no and main is not None and picked and not restated else ""
    if not lines and not body:
        return t["nothing"]
    text = "\n\n".join(part for part in ("\n".join(lines), body, tail) if part)
    quoted = [sent for chunk, sent in picked if chunk.doc_id == "article"]
    return "\n".join([text, *errata_notes(k, q, q.entities[:2], cites, quoted)]).strip()


def correct(k: Kit, q: Question, cites: Citations) -> str:
    t = k.phrases[q.lang]
    out = []
    for i, e in enumerate(q.errata[:2]):
        n = cites.erratum(e.title[q.lang])
        mark = f" [{n}]" if n else ""
        # The verdict first: the claim is wrong, and what is true, in one sentence.
        out.append(t["correct_lead"].format(title=e.title[q.lang]) if i == 0 else f"**{e.title[q.lang]}**")
        out.append(f"- {t['says']}{t['colon']}「{e.quote}」")
        out.append(f"- {t['truth']}{t['colon']}{e.truth[q.lang]}{mark}")
        if e.sources:
            out.append(f"- {t['sources']}{t['colon']}" + t["sep"].join(source_link(s) for s in e.sources[:3]))
        for eid in [x for x in e.entities if k.corpus.notes[x].kind != "concept"][:2]:
            out.append(f"- {t['ours']}{t['colon']}" + category_phrase(k, k.corpus.notes[eid], q.lang, cites))
        out.append("")
    return "\n".join(out).strip()


def mmr_sentences(
    q: Question,
    hits: list[Hit],
    k: int,
    tokens: Callable[[str], list[str]],
    idf: Callable[[str], float],
    lam: float = 0.7,
    best_first: bool = False,
    anaphor: re.Pattern | None = None,
    article: re.Pattern | None = None,
    parts: tuple[str, ...] = (),
    defines: re.Pattern | None = None,
    resolve: Callable[[Chunk, str, str], str] | None = None,
) -> list[tuple[Chunk, str]]:
    """Pick k sentences relevant to the question and not redundant with each other (MMR, Carbonell & Goldstein 1998).

    Relevance mixes the rank of the sentence's chunk with the IDF-weighted share of the question's
    tokens it contains, plus a bonus for naming a part the question asks about; redundancy is token-set overlap with sentences already picked.
    """
    qt = set(tokens(q.standalone))
    q_weight = sum(idf(t) for t in qt) or 1.0
    cands: list[tuple[float, Chunk, str, set[str], float]] = []
    top = max((h.score for h in hits), default=1.0) or 1.0
    same_lang = [h for h in hits if h.chunk.lang == q.lang] or hits
    how = q.asks_mechanism
    for h in same_lang[:7]:
        if h.chunk.heading in ("概要", "Summary"):  # front-matter digest: the summary line already says it
            continue
        # "How does X work?" and "why ...?" are best answered from the notes' mechanism sections.
        # Only the main entity's: another note's mechanism answers a question about something else.
        mechanism = any(w in h.chunk.heading.lower() for w in ("工作原理", "how it works"))
        bonus = 0.5 if how and mechanism and h.chunk.entity in q.entities[:1] else 0.0
        prev = ""
        for raw in split_sentences(h.chunk.text):
            # Fragments, broken quotations, flattened lists and questions (a note's "Can I ...?" before
            # its answer) read badly alone.
            s = unbullet(raw)
            if resolve is not None:
                s, prev = resolve(h.chunk, prev, s), s
            if not 8 <= len(s) <= MAX_SENTENCE_CHARS or broken_quote(s) or list_fragment(raw) or is_question(s):
                continue
            st = set(tokens(s))
            named = _part_bonus(s, parts, defines, mechanism and h.chunk.entity in q.entities)
            rel = 0.5 * (h.score / top) + 0.5 * (sum(idf(t) for t in qt & st) / q_weight) + bonus + named
            cands.append((rel, h.chunk, s, st, named))
    if any(c[4] for c in cands):
        # "What is EPT?": the sentences about EPT answer; the rest of Intel VT-x's notes is a tangent here.
        cands = [c for c in cands if c[4]]
    picked: list[tuple[float, Chunk, str, set[str], float]] = []
    while cands and len(picked) < k:

        def mmr(c):
            red = max((len(c[3] & p[3]) / max(1, len(c[3] | p[3])) for p in picked), default=0.0)
            return lam * c[0] - (1 - lam) * red

        best = max(cands, key=mmr)
        cands.remove(best)
        # The same fact from two notes ("NPT 比 EPT 早约一年" in both vendors' notes) is said once.
        if any(best[2] == p[2] or len(best[3] & p[3]) >= RESTATES * max(1, min(len(best[3]), len(p[3]))) for p in picked):
            continue
        picked.append(best)
    if picked:
        floor = RELEVANCE_FLOOR * max(p[0] for p in picked)
        picked = picked[:FLOOR_AFTER] + [p for p in picked[FLOOR_AFTER:] if p[0] >= floor]
    # Readable order: by the rank of their chunk, then their position in it (after the best one, when
    # the answer must open with it).
    if best_first and anaphor is not None and picked:
        # The opening must stand on its own: the best sentence that does not lean on an unseen one, and
        # that answers about the thing rather than about what the article says of it (unless asked).
        def opens(p) -> bool:
            return not anaphor.search(p[2]) and not (article is not None and (p[1].doc_id == "article" or article.search(p[2])))

        alone = next((i for i, p in enumerate(picked) if opens(p)), None)
        if alone is None:
            alone = next((i for i, p in enumerate(picked) if not anaphor.search(p[2])), 0)
        picked.insert(0, picked.pop(alone))
    order = {id(h.chunk): i for i, h in enumerate(hits)}
    lead = picked[:1] if best_first else []
    picked = lead + sorted(picked[len(lead) :], key=lambda p: (order.get(id(p[1]), 99), p[1].text.find(p[2])))
    return [(p[1], p[2]) for p in picked]


def _subject_resolver(k: Kit) -> Callable[[Chunk, str, str], str]:
    """A sentence that opens with "It"/"它" right after one whose subject is its note's entity ("WSL 2 needs …;
    it runs on Home too") gets that name back, so that it can stand alone."""

    def resolve(chunk: Chunk, prev: str, sentence: str) -> str:
        m = k.pronoun.match(sentence)
        note = k.corpus.notes.get(chunk.entity)
        if not m or note is None:
            return sentence
        low = prev.lower()
        name = max((a for a in (note.name, *note.aliases) if low.startswith(a.lower())), key=len, default="")
        if not name or re.match(r"\w", prev[len(name) : len(name) + 1]):
            return sentence
        rest = sentence[m.end() :].lstrip()
        sep = " " if name[-1].isascii() or rest[:1].isascii() else ""
        return prev[: len(name)] + sep + rest

    return resolve


def _part_bonus(sentence: str, parts: tuple[str, ...], defines: re.Pattern | None, mechanism: bool) -> float:
    """Relevance for naming a part asked about, more for defining it ("EPT (Extended Page Tables) …") and for
    naming it where its owner's mechanism is explained."""
    if not parts:
        return 0.0
    sentence = normalize(sentence)
    spots = [m.end() for p in parts for m in re.finditer(re.escape(p), sentence)]
    if not spots:
        return 0.0
    defined = defines is not None and any(defines.match(sentence, i) for i in spots)
    return PART_BONUS * (1 + defined + mechanism) / 3


def _part_chunk(k: Kit, cites: Citations, part: str, lang: str) -> Chunk | None:
    """The chunk of the part's own note that explains it."""
    owner = next((n.id for n in k.corpus.notes.values() if part in {normalize(a) for a in n.parts}), None)
    return part_chunk(cites.fetch, [owner] if owner else [], part, lang)


def _parts_of(q: Question, main) -> tuple[str, ...]:
    """The parts of named entities the question names, when it asks about them rather than a yes/no ("What is EPT?",
    "JVM 和 Dalvik 有什么区别": Dalvik is an example of the process VM)."""
    return () if main is None or q.yes_no else q.parts


def _article_aside(k: Kit, q: Question) -> re.Pattern | None:
    """What marks a sentence about the article, when that is an aside for this question: one that neither
    asks about the article nor restates one of its claims."""
    restates = max(q.errata_overlap.values(), default=0.0) >= CLAIM_OVERLAP
    return None if q.about_article or restates else k.article


def _overlap(k: Kit, a: str, b: str) -> float:
    """Share of the shorter text's words (the retrieval's tokens) that the other one also has."""
    ta, tb = set(k.tokens(a)), set(k.tokens(b))
    return len(ta & tb) / max(1, min(len(ta), len(tb)))


def not_covered(k: Kit, q: Question, hits: list[Hit]) -> str:
    """A short "not in our notes" for a product no note covers, naming the nearest entities the notes do cover."""
    t = k.phrases[q.lang]
    nearby = list(dict.fromkeys([*q.entities, *(h.chunk.entity for h in hits if h.chunk.entity in k.corpus.notes)]))[:3]
    names = t["comma"].join(q.uncovered)
    if not nearby:
        return t["not_covered_alone"].format(names=names)
    return t["not_covered"].format(names=names, nearby=t["comma"].join(display_name(k.corpus.notes[e], q.lang) for e in nearby))


def troubleshooting(k: Kit, q: Question, hits: list[Hit], cites: Citations) -> str:
    """A problem report the notes cannot debug: the retrieved points most likely to explain it first, then
    that the notes do not diagnose particular setups (a reply that opens with "I can't" reads as no answer)."""
    t = k.phrases[q.lang]
    picked = mmr_sentences(
        q,
        hits,
        TROUBLE_SENTENCES,
        k.tokens,
        k.idf,
        best_first=True,
        anaphor=k.anaphor,
        article=_article_aside(k, q),
        resolve=_subject_resolver(k),
    )
    if not picked:
        return t["not_troubleshooting"]
    points = " ".join(f"{sent} [{cites.add(chunk)}]" for chunk, sent in picked)
    return f"{points}\n\n{t['troubleshooting_caveat']}"
