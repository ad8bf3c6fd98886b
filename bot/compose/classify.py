"""Classify answers: which category an entity is in, why, and how the article's grouping differs."""

from __future__ import annotations

import re

from bot.compose.citations import Citations
from bot.compose.common import Kit, a_or_an, axis_lines, category_phrase, display_name, errata_notes, first_clause
from bot.corpus import Note
from bot.question import Question


def classify(k: Kit, q: Question, cites: Citations) -> str:
    t = k.phrases[q.lang]
    techs = [e for e in q.entities if k.corpus.notes[e].kind != "concept"]
    main = k.corpus.notes[(techs or q.entities)[0]]
    asked = [e for e in q.entities if e != main.id and k.corpus.notes[e].kind == "concept"]
    cat = k.corpus.categories[main.category].name[q.lang]
    s = cites.mark(main.id, "summary", q.lang)
    lines = []
    # A named category is more specific than a concept ("内核虚拟机" also contains "虚拟机").
    asked_all = list(q.categories) or asked
    if main.category in q.categories:  # "type 1 or type 2?": answer with the one that holds
        asked_all = [main.category]
    which = t["asked_which"].format(name=display_name(main, q.lang), cat=cat, a_cat=a_or_an(cat))
    if q.either_or and main.category in q.categories:
        lines.append(which)
    elif q.yes_no and q.asks_virtualization and not q.categories:
        lines.append(verdict_line(k, main, q.lang))
    elif q.yes_no and q.either_or:
        # "a hypervisor or a container thing?": name the one that holds, not a yes and a no; when the one
        # named does not hold ("full-system emulation or user mode?" names only one we know), what it is.
        holds = [e for e in asked_all if asked_holds(k, main, e)]
        others = [e for e in asked_all if e not in holds]
        if holds and others and _asked(k, main, holds[0], q.lang)[1] == t["rel_technique"]:
            # It is neither kind: say what it is, then which of the two it uses.
            what, other = (_asked(k, main, e, q.lang)[2] for e in (holds[0], others[0]))
            name = display_name(main, q.lang)
            lines.append(t["asked_choice_uses"].format(name=name, cat=cat, a_cat=a_or_an(cat), what=what, other=other))
        else:
            lines += [asked_line(k, main, e, q.lang, choice=True) for e in holds[:1]] or ([which] if asked_all else [])
    elif q.yes_no:
        for e in asked_all:
            lines.append(asked_line(k, main, e, q.lang))
    # The category card, unless the opening already named the category ("Xen is a “Type-1 …”." then
    # "**Xen** — Category: **Type-1 …**" said it twice); a bare is-it-virtualization verdict does not name it.
    if not lines or (q.yes_no and q.asks_virtualization and not q.categories):
        lines.append(f"**{display_name(main, q.lang)}** — {t['category']}{t['colon']}**{cat}** {s}".rstrip())
    lines.append(f"{main.summary[q.lang]} {s}".rstrip())
    lines += axis_lines(k, q, [main])
    lines.append("")
    # "Are WSL, Cygwin and Wine all OS-level virtualization?": each other named technology's category too.
    lines += ["- " + category_phrase(k, k.corpus.notes[e], q.lang, cites) for e in techs[1:4] if e != main.id]
    isv = main.is_virtualization
    if not (q.yes_no and q.asks_virtualization):
        lines.append(
            f"- **{t['is_virt']}**{t['colon']}{t[{'true': 'yes', 'partly': 'partly', 'false': 'no'}[isv['value']]]} — {isv[q.lang]}"
        )
    # Why it is in that category: the two properties that decide it, and the techniques it uses, for a
    # "why" question; the others are in the note and in comparisons.
    if q.why:
        lines.append(f"- **{t['why']}**{t['colon']}")
        for axis in ("virtualizes", "host_kernel"):
            if axis not in q.axes[:2]:
                lines.append(f"  - {k.corpus.axes[axis][q.lang]}{t['colon']}{first_clause(main.axes[axis][q.lang])}")
        if main.techniques:
            names = t["comma"].join(display_name(k.corpus.notes[x], q.lang) for x in main.techniques)
            lines.append(f"- **{t['techniques']}**{t['colon']}{names}")
    # The article's own grouping only when the question is about the article; where the article is
    # wrong about this entity, errata_notes below says so if the question touches the claim.
    group_line = article_grouping(k, main, q.lang) if q.about_article else ""
    if group_line:
        lines.append(f"- **{t['article_group']}**{t['colon']}{group_line}")
    lines += errata_notes(k, q, [main.id], cites)
    return "\n".join(lines).strip()


def verdict_line(k: Kit, main: Note, lang: str) -> str:
    """ "Is it virtualization?" answered first: yes, partly or no, with the note's reason."""
    isv = main.is_virtualization
    key = {"true": "verdict_yes", "partly": "verdict_partly", "false": "verdict_no"}[isv["value"]]
    return k.phrases[lang][key].format(name=display_name(main, lang), reason=isv[lang])


def asked_holds(k: Kit, main: Note, asked: str) -> bool:
    """Whether `main` is in the asked category, or uses / is named by the asked concept."""
    return _asked(k, main, asked, "en")[0]


def _asked(k: Kit, main: Note, asked: str, lang: str) -> tuple[bool, str, str]:
    """(holds, relation word, the asked thing's name) for "is MAIN a/an ASKED?"."""
    t = k.phrases[lang]
    if asked in k.corpus.categories:
        return main.category == asked, t["rel_category"], k.corpus.categories[asked].name[lang]
    note = k.corpus.notes[asked]
    # "Is KVM a hypervisor?": yes when the concept is one of its techniques or names its category.
    concept = re.sub(r"\s*\(.*?\)", "", display_name(note, "en")).lower()
    names_category = concept in k.corpus.categories[main.category].name["en"].lower()
    yes = asked in main.techniques or names_category
    return yes, t["rel_category"] if names_category else t["rel_technique"], display_name(note, lang)


def asked_line(k: Kit, main: Note, asked: str, lang: str, choice: bool = False) -> str:
    """The yes/no line ("是的，KVM 属于「一型…」。"), or with `choice` the plain statement of the one that holds."""
    t = k.phrases[lang]
    yes, rel, what = _asked(k, main, asked, lang)
    cat = k.corpus.categories[main.category].name[lang]
    a = a_or_an(what) if rel == t["rel_category"] else ""
    key = "asked_choice" if choice else "asked_yes" if yes else "asked_no"
    return t[key].format(name=display_name(main, lang), rel=rel, what=what, cat=cat, a=a, a_cat=a_or_an(cat))


def article_grouping(k: Kit, note: Note, lang: str) -> str:
    t = k.phrases[lang]
    groups = [g[lang] for g in k.corpus.article_groups if note.id in (g.get("members") or [])]
    cat = k.corpus.categories[note.category].name[lang]
    if groups:
        return t["article_differs"].format(name=display_name(note, lang), groups=t["comma"].join(groups), cat=cat)
    if note.kind != "concept":
        return t["article_missing"].format(name=display_name(note, lang))
    return ""
