"""Compare answers: a table over the comparison axes and the key difference."""

from __future__ import annotations

from bot.compose.citations import Citations
from bot.compose.common import COMPARE_AXES, Kit, a_or_an, axis_lines, cell, display_name, errata_notes, first_clause
from bot.corpus import Note
from bot.question import Question


def compare(k: Kit, q: Question, cites: Citations) -> str:
    t = k.phrases[q.lang]
    notes = compared_notes(k, q)
    rows = table(k, q, notes, cites)
    # The key difference first (on the axes the question names, when it names any), then the table.
    diff = key_difference(k, notes[0], notes[1], q.lang, cites)
    focus = axis_lines(k, q, notes)
    out = [f"**{t['key_diff']}**{t['colon']}{diff}", *focus, "", *rows]
    if q.same and q.yes_no:  # "Is Docker Desktop the same as Docker Engine?" is answered no before the difference
        out.insert(0, t["not_same"].format(a=display_name(notes[0], q.lang), b=display_name(notes[1], q.lang)))
    out += errata_notes(k, q, [n.id for n in notes], cites)
    return "\n".join(out).strip()


def compared_notes(k: Kit, q: Question) -> list[Note]:
    """The entities a comparison puts side by side (at most four)."""
    notes = [k.corpus.notes[e] for e in q.entities]
    techs = [n for n in notes if n.kind != "concept"]
    if len(techs) >= 2:  # "VirtualBox 和 Hyper-V 虚拟机哪个好": the word 虚拟机 is not a third column
        notes = techs
    return notes[:4]


def table(k: Kit, q: Question, notes: list[Note], cites: Citations) -> list[str]:
    """A Markdown table of the notes over every comparison axis, the axes the question names first."""
    t = k.phrases[q.lang]
    marks = [cites.mark(n.id, "summary", q.lang) for n in notes]
    head = (
        "| "
        + t["dimension"]
        + " | "
        + " | ".join(f"{display_name(n, q.lang)} {m}".rstrip() for n, m in zip(notes, marks, strict=True))
        + " |"
    )
    rows = [head, "|" + "---|" * (len(notes) + 1)]
    axes = [a for a in q.axes if a in COMPARE_AXES] + [a for a in COMPARE_AXES if a not in q.axes]
    asked = [f"| {k.corpus.axes[a][q.lang]} | " + " | ".join(cell(n.axes[a][q.lang]) for n in notes) + " |" for a in axes]
    n_asked = len([a for a in q.axes if a in COMPARE_AXES])
    rows += asked[:n_asked]
    rows.append(f"| {t['category']} | " + " | ".join(k.corpus.categories[n.category].name[q.lang] for n in notes) + " |")
    rows.append(
        f"| {t['is_virt']} | "
        + " | ".join(t[{"true": "yes", "partly": "partly", "false": "no"}[n.is_virtualization["value"]]] for n in notes)
        + " |"
    )
    return rows + asked[n_asked:]


def key_difference(k: Kit, a: Note, b: Note, lang: str, cites: Citations) -> str:
    """What tells the two apart, most specific first: a sentence of one note's comparison section that
    names the other, then the categories, the kernel (or, for two techniques, guest modification), and one
    relation between them; never nothing."""
    t = k.phrases[lang]
    ca, cb = (k.corpus.categories[n.category].name[lang] for n in (a, b))
    parts = []
    for x, y in ((a, b), (b, a)):
        found = cites.sentence_mentioning(x, "compare", lang, y, k.named)
        if found:
            parts.append(found)
            break
    if a.category != b.category and "concept" not in (a.category, b.category):
        parts.append(
            t["cat_diff"].format(
                a=display_name(a, lang), b=display_name(b, lang), ca=ca, cb=cb, a_ca=a_or_an(ca), a_cb=a_or_an(cb)
            )
        )
    elif not parts and a.category == b.category != "concept":  # "both are concepts" tells the reader nothing
        parts.append(t["cat_same"].format(a=display_name(a, lang), b=display_name(b, lang), c=ca))
    if a.axes["host_kernel"][lang][:1] != b.axes["host_kernel"][lang][:1]:
        parts.append(_axis_diff(k, "host_kernel", a, b, lang))
    elif (
        a.category == b.category == "concept" and a.axes["guest_modification"][lang][:2] != b.axes["guest_modification"][lang][:2]
    ):
        # Two techniques that share the kernel question (full virtualization and paravirtualization): whether
        # the guest must be modified tells them apart, first.
        parts.insert(0, _axis_diff(k, "guest_modification", a, b, lang))
    relations = [
        f"{display_name(x, lang)} " + t["rel"][kind].format(b=display_name(y, lang)) + t["stop"]
        for x, y in ((a, b), (b, a))
        for kind, targets in x.relations.items()
        if y.id in targets and kind != "alternative-to"
    ]
    if not parts and not relations and (a.category == "concept") != (b.category == "concept"):
        # A product beside a concept ("WSL" and "a VM") with nothing more specific: say which is which.
        tech, concept = (a, b) if b.category == "concept" else (b, a)
        ct = k.corpus.categories[tech.category].name[lang]
        parts.append(t["concept_diff"].format(a=display_name(tech, lang), b=display_name(concept, lang), ca=ct, a_ca=a_or_an(ct)))
    elif not parts and not relations:  # last resort, never an empty "Key difference:": what each one virtualizes
        parts.append(_axis_diff(k, "virtualizes", a, b, lang))
    return " ".join([*parts, *relations[:1]][:3])


def _axis_diff(k: Kit, axis: str, a: Note, b: Note, lang: str) -> str:
    """The two notes' values on one axis, first clauses: "Shares the host kernel: Docker — Yes; KVM — No."."""
    return k.phrases[lang]["axis_diff"].format(
        axis=k.corpus.axes[axis][lang],
        a=display_name(a, lang),
        b=display_name(b, lang),
        va=first_clause(a.axes[axis][lang]),
        vb=first_clause(b.axes[axis][lang]),
    )
