"""Curated answers: a matched Q&A pair's direct answer first, its supporting detail after, cited to its note sections."""

from __future__ import annotations

import re

from bot.compose.citations import Citations
from bot.compose.common import Kit, category_phrase, errata_notes
from bot.compose.compare import compared_notes, table
from bot.qa_match import QaMatch
from bot.question import Intent, Question


def _verdict(words: str) -> re.Pattern:
    """One of `words` standing alone at the start of an answer, with its punctuation and any "but"."""
    return re.compile(rf"^\s*({words})\s*[。，,.!！:：]\s*(but\s+|但是?\s*)?", re.I)


# A yes/no word standing alone at the start of an answer: "不是。", "No. ", "Yes, ", "Yes, but".
BARE_VERDICT = _verdict("是的|不是|不算|可以|不能|不行|需要|不需要|yes|no")
# A yes or no that only means something against the question's own wording ("Yes:", "是的，"); "需要：",
# "可以，", "不是。" state the fact itself and hold however the question is turned.
RELATIVE_VERDICT = _verdict("是的|对|不对|yes|no")


def facts_only(answer: str, verdict: re.Pattern = BARE_VERDICT) -> str:
    """The answer without its leading verdict ("Yes, but noticeably slower: ..." -> "Noticeably slower: ...")."""
    rest = verdict.sub("", answer, count=1)
    return (rest[:1].upper() + rest[1:]) if rest else answer


def curated(k: Kit, q: Question, match: QaMatch, cites: Citations) -> str:
    """The pair's answer first; then, for a comparison the pair answers, the table (asked axes first); for a classification,
    the category line; then the pair's detail, and a correction where the question touches the article's claim."""
    pair, lang = match.pair, q.lang
    answer = pair.answer[lang]
    if pair.ask == "yesno" and q.either_or:
        # "模拟器还是虚拟机？" is not a yes/no question: the pair's bare "不是。" would answer the wrong thing.
        answer = facts_only(answer)
    elif pair.ask == "yesno" and bool(k.inverts.search(q.text)) != bool(k.inverts.search(match.phrasing)):
        # "Can I skip VT-x?" asks the pair's "does it need VT-x?" the other way round: its "Yes:" would be wrong.
        answer = facts_only(answer, RELATIVE_VERDICT)
    marks = list(dict.fromkeys(m for m in (cites.mark(e, section, lang) for e, section in pair.cites) if m))
    lines = [f"{answer} {marks[0] if marks else ''}".rstrip()]
    if pair.more:
        lines += ["", f"{pair.more[lang]} {' '.join(marks[1:] or marks[:1])}".rstrip()]
    notes = compared_notes(k, q)
    if q.intent == Intent.COMPARE and pair.ask in ("compare", "which") and len(notes) >= 2:
        lines += ["", *table(k, q, notes, cites)]
    elif q.intent == Intent.CLASSIFY or q.asks_virtualization:
        techs = [e for e in q.entities if k.corpus.notes[e].kind != "concept"] or list(q.entities)
        note = k.corpus.notes[techs[0]]
        if k.corpus.categories[note.category].name[lang].lower() not in answer.lower():  # else the answer has said it
            lines += ["", "- " + category_phrase(k, note, lang, cites)]
    # An answer that already corrects the article needs no second correction, unless the article is what was asked about.
    if q.about_article or q.intent == Intent.CORRECT or not k.article.search(answer):
        lines += errata_notes(k, q, list(pair.about), cites)
    return "\n".join(lines).strip()
