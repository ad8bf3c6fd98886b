"""Compare answers: a table over the comparison axes and the key difference."""

from __future__ import annotations

from bot.compose.citations import Citations
from bot.compose.common import COMPARE_AXES, Kit, axis_lines, cell, display_name, errata_notes
from bot.corpus import Note
from bot.question import Question


def compare(k: Kit, q: Question, cites: Citations) -> str:
    t = k.phrases[q.lang]
    notes = [k.corpus.notes[e] for e in q.entities]
    techs = [n for n in notes if n.kind != "concept"]
    if len(techs) >= 2:  # "VirtualBox 和 Hyper-V 虚拟机哪个好": the word 虚拟机 is not a third column
        notes = techs
    notes = notes[:4]
    marks = [cites.mark(n.id, "summary", q.lang) for n in notes]
    head = (
        "| "
        + t["dimension"]
        + " | "
        + " | ".join(f"{display_name(n, q.lang)} {m}".rstrip() for n, m in zip(notes, marks, strict=True))
        + " |"
    )
    rows = [head, "|" + "---|" * (len(notes) + 1)]
    rows.append(f"| {t['category']} | " + " | ".join(k.corpus.categories[n.category].name[q.lang] for n in notes) + " |")
    rows.append(
        f"| {t['is_virt']} | "
        + " | ".join(t[{"true": "yes", "partly": "partly", "false": "no"}[n.is_virtualization["value"]]] for n in notes)
        + " |"
    )
    for axis in COMPARE_AXES:
        label = k.corpus.axes[axis][q.lang]
        rows.append(f"| {label} | " + " | ".join(cell(n.axes[axis][q.lang]) for n in notes) + " |")
    lead = t["compare_lead"].format(names=t["comma"].join(display_name(n, q.lang) for n in notes))
    diff = key_difference(k, notes[0], notes[1], q.lang, cites)
    focus = axis_lines(k, q, notes)
    out = [lead, *focus, "", *rows, "", f"**{t['key_diff']}**{t['colon']}{diff}"]
    out += errata_notes(k, q, [n.id for n in notes], cites)
    return "\n".join(out).strip()


def key_difference(k: Kit, a: Note, b: Note, lang: str, cites: Citations) -> str:
    t = k.phrases[lang]
    ca, cb = (k.corpus.categories[n.category].name[lang] for n in (a, b))
    parts = []
    for x, y in ((a, b), (b, a)):
        for kind, targets in x.relations.items():
            if y.id in targets and kind != "alternative-to":
                parts.append(f"{display_name(x, lang)} " + t["rel"][kind].format(b=display_name(y, lang)) + t["stop"])
    if a.category != b.category:
        parts.append(t["cat_diff"].format(a=display_name(a, lang), b=display_name(b, lang), ca=ca, cb=cb))
    else:
        parts.append(t["cat_same"].format(a=display_name(a, lang), b=display_name(b, lang), c=ca))
    if a.axes["host_kernel"][lang][:1] != b.axes["host_kernel"][lang][:1]:
        parts.append(
            t["kernel_diff"].format(
                a=display_name(a, lang),
                b=display_name(b, lang),
                ka=a.axes["host_kernel"][lang],
                kb=b.axes["host_kernel"][lang],
            )
        )
    # A sentence of one note's comparison section that names the other entity, if there is one.
    for x, y in ((a, b), (b, a)):
        found = cites.sentence_mentioning(x.id, "compare", lang, y)
        if found:
            parts.append(found)
            break
    return " ".join(parts[:4])
