"""What every part of the composer shares: its kit (corpus, phrases, scoring), and small text helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.chunking import Chunk
from bot.compose.citations import Citations
from bot.corpus import Corpus, Note
from bot.question import Question
from bot.rules import CLAIM_OVERLAP
from bot.text import has_han, split_sentences

MAX_SENTENCE_CHARS = 420
EXPLAIN_SENTENCES = 3  # retrieved sentences an explanation adds after the entity's summary
MECHANISM_SENTENCES = 4  # ... and for a why or how question, which needs the mechanism
TROUBLE_SENTENCES = 2  # the points most likely to explain a reported problem
FLOOR_AFTER = 2  # retrieved sentences an explanation keeps whatever their relevance (the MMR picks' first ones)
PART_SECTIONS = ("how", "what", "compare", "practice")  # where a note explains a part of it, in order of preference
PART_BONUS = (
    0.75  # most relevance added to a sentence about the part asked about ("EPT" of VT-x): naming, defining, explaining it
)
RELEVANCE_FLOOR = 0.75  # ... and a later one only if its relevance is this share of the best one's: tangents stay out
RESTATES = 0.6  # share of a retrieved sentence's words in the summary at which it already says the same
COMPARE_AXES = (
    "virtualizes",
    "isolation",
    "host_kernel",
    "guest_modification",
    "hardware_support",
    "performance",
    "startup",
    "typical_use",
)


@dataclass(frozen=True)
class Kit:
    """What composing needs besides the question and hits."""

    corpus: Corpus
    phrases: dict[str, dict[str, Any]]  # lang -> phrase key -> template
    negative: re.Pattern  # an axis value that says "no" ("不需要；…", "None; …", "No, …", "N/A")
    article: re.Pattern  # words that name the article ("原文", "the article"): a text that already talks about it
    anaphor: re.Pattern  # a sentence that leans on the one before it ("It adds...", "这也..."): never the opening
    inverts: re.Pattern  # words that turn a yes/no question around ("without", "still", "不开")
    pronoun: re.Pattern  # a sentence's opening pronoun subject ("It ", "它"), which the sentence before may name
    defines: re.Pattern  # what follows a name its sentence defines ("EPT (Extended…", "runc is", "TCG（")
    # How sentences are matched to the question: retrieval's tokens and IDF when given, so a rare
    # word the question shares ("Azure", "Dom0") outweighs common ones.
    idf: Callable[[str], float]
    tokens: Callable[[str], list[str]]
    # The entities a text names, read as the question is (longest alias first: "process virtual machines"
    # names the process VM, not the hypervisor whose alias "virtual machines" it contains).
    named: Callable[[str], list[str]]


def part_chunk(fetch: Callable[..., Chunk | None], entities: list[str], part: str, lang: str) -> Chunk | None:
    """The first chunk, of these entities' sections where a note explains a part of it (PART_SECTIONS), that
    mentions `part` ("EPT", "dalvik"); `fetch(entity, section, lang, containing)` looks a section's chunk up."""
    for entity in entities:
        for section in PART_SECTIONS:
            found = fetch(entity, section, lang, (part,))
            if found is not None:
                return found
    return None


def axis_lines(k: Kit, q: Question, notes: list[Note]) -> list[str]:
    """The comparison axes the question asks about ("does it need VT-x?"), stated first."""
    t = k.phrases[q.lang]
    return [
        f"- **{k.corpus.axes[axis][q.lang]}**{t['colon']}"
        + (
            t["sep"].join(f"{display_name(n, q.lang)} — {n.axes[axis][q.lang]}" for n in notes)
            if len(notes) > 1
            else notes[0].axes[axis][q.lang]
        )
        for axis in q.axes[:2]
    ]


def errata_notes(k: Kit, q: Question, entities: list[str], cites: Citations, quoted: list[str] = ()) -> list[str]:
    """Warn where the answer touches a claim the errata list, with the correction.

    An erratum qualifies when the answer repeats the article's wrong sentence, or when it is about
    the answer's entities and the question shares the claim's wording or asks about the article; an
    erratum merely retrieved alongside is not enough. At most one, unless the answer quotes more.
    """
    t = k.phrases[q.lang]
    repeated = [e for e in k.corpus.errata if any(same_claim(e.quote, s) for s in quoted)]
    related = [
        e
        for e in q.errata
        if set(e.entities) & set(entities) and (q.errata_overlap.get(e.id, 0) >= CLAIM_OVERLAP or q.about_article)
    ][:1]
    related = list({e.id: e for e in [*repeated[:2], *related]}.values())[:2]
    out = []
    for e in related:
        n = cites.erratum(e.title[q.lang])
        # The correction's first sentences: the full erratum is one question away ("原文哪里错了？").
        truth = " ".join(split_sentences(e.truth[q.lang])[:2])
        out.append(f"> {t['errata']}**{e.title[q.lang]}** — {truth}" + (f" [{n}]" if n else ""))
    return ([""] + out) if out else []


def category_phrase(k: Kit, note: Note, lang: str, cites: Citations) -> str:
    t = k.phrases[lang]
    cat = k.corpus.categories[note.category].name[lang]
    isv = t[{"true": "yes", "partly": "partly", "false": "no"}[note.is_virtualization["value"]]]
    mark = cites.mark(note.id, "summary", lang)
    return t["category_phrase"].format(name=display_name(note, lang), cat=cat, is_virt=t["is_virt"], isv=isv, mark=mark).rstrip()


def display_name(note: Note, lang: str) -> str:
    """'半虚拟化 / Paravirtualization' -> the part in the answer's language; a name whose parts are all
    Latin ("chroot / FreeBSD jails / Solaris Zones") is one name and stays whole."""
    parts = [p.strip() for p in note.name.split(" / ")]
    zh = [p for p in parts if has_han(p)]
    en = [p for p in parts if not has_han(p)]
    if not zh:
        return note.name
    return zh[0] if lang == "zh" else (en or parts)[0]


def a_or_an(phrase: str) -> str:
    """English indefinite article for a phrase ("an OS-level …", "a type-1 …"), with its space."""
    return "an " if re.match(r"[aeiouAEIOU]|OS\b|NFV|ABI|API|UI\b|In-kernel", phrase) else "a "


def same_claim(quote: str, sentence: str) -> bool:
    """Whether a sentence repeats an errata quote (ignoring punctuation, either containing the other)."""
    a, b = (re.sub(r"[\W_]+", "", x).lower() for x in (quote, sentence))
    return bool(a) and bool(b) and (a in b or (len(b) >= 12 and b in a))


def broken_quote(sentence: str) -> bool:
    """A sentence cut inside a quotation ("」实际上…", "…更加安全,因为…」") is unreadable alone."""
    for open_, close in (("「", "」"), ("“", "”"), ("『", "』")):
        if sentence.count(open_) != sentence.count(close):
            return True
    return sentence.count('"') % 2 == 1


def list_fragment(sentence: str) -> bool:
    """Several list items or a table row flattened into one sentence ("- **Category** (virtualization: yes):
    A - **Category**: B", "The mapping: - …", "| KVM | Type 1 |"): a stray fragment outside its list.
    One bulleted sentence ("- 在 JVM 中，…") is a sentence; `unbullet` drops its mark."""
    s = sentence.lstrip()
    items = s[2:] if s.startswith(("- ", "* ")) else s
    return s.startswith(("- **", "|")) or " - " in items or any(m in s for m in (": - ", "：- ", "：-"))


def unbullet(sentence: str) -> str:
    """A sentence without its list mark: "- 在 JVM 中，…" -> "在 JVM 中，…"."""
    return re.sub(r"^\s*[-*]\s+", "", sentence)


def cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def source_link(s: dict) -> str:
    return f"[{s['title']}]({s['url']})" if s.get("url") else s["title"]


def first_clause(value: str) -> str:
    """An axis value up to its first semicolon: "No; each guest runs its own kernel" -> "No"."""
    return re.split(r"；|; ", value, maxsplit=1)[0].strip()
