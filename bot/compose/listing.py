"""List answers: the members of what the question names (a category, a concept, an axis, the article's groups or errata)."""

from __future__ import annotations

from bot.compose.citations import Citations
from bot.compose.common import Kit, display_name
from bot.question import ListKind, Question


def listing(k: Kit, q: Question, cites: Citations) -> str:
    t = k.phrases[q.lang]
    lines: list[str] = []
    kind = q.list_kind
    if kind == ListKind.BY_AXIS:
        lines += list_by_axis(k, q.axes[0], q.lang)
    elif kind == ListKind.ALL_CATEGORIES:
        lines.append(t["categories_lead"].format(n=len(k.corpus.categories)))
        for cat in k.corpus.categories.values():
            members = t["comma"].join(display_name(k.corpus.notes[m], q.lang) for m in cat.members)
            verdict = t.get(cat.is_virtualization, t["varies"])
            lines.append(t["category_line"].format(cat=cat.name[q.lang], is_virt=t["is_virt"], verdict=verdict, members=members))
    elif kind == ListKind.CATEGORIES:
        for cid in q.categories[:6]:
            cat = k.corpus.categories[cid]
            lines.append(t["list_lead"].format(cat=cat.name[q.lang]))
            lines += [member_line(k, m, q.lang, cites) for m in cat.members]
            lines.append("")
    elif kind == ListKind.CONCEPT_MEMBERS:
        for cid in q.entities[:2]:
            concept = k.corpus.notes[cid]
            members = [n.id for n in k.corpus.notes.values() if cid in n.techniques and n.kind != "concept"]
            if not members:
                continue
            lines.append(t["concept_lead"].format(name=display_name(concept, q.lang)))
            lines += [member_line(k, m, q.lang, cites) for m in members]
            lines.append("")
    elif kind == ListKind.TECHNIQUES:
        lines.append(t["techniques_lead"])
        lines += [member_line(k, n.id, q.lang, cites) for n in k.corpus.notes.values() if n.kind == "concept"]
    elif kind == ListKind.ERRATA:
        lines.append(t["errata_lead"].format(n=len(k.corpus.errata)))
        for e in k.corpus.errata:
            n = cites.erratum(e.title[q.lang])
            lines.append(f"- {e.title[q.lang]}" + (f" [{n}]" if n else ""))
    elif kind == ListKind.ARTICLE_GROUPS:
        lines.append(t["groups_lead"])
        for g in k.corpus.article_groups:
            names = t["comma"].join(
                f"{display_name(k.corpus.notes[m], q.lang)} ({k.corpus.categories[k.corpus.notes[m].category].name[q.lang]})"
                for m in g["members"]
            )
            lines.append(f"- **{g[q.lang]}**{t['colon']}{names}")
    return "\n".join(lines).strip()


def list_by_axis(k: Kit, axis: str, lang: str) -> list[str]:
    """Every technology, split by whether its note's value on one axis is a yes or a no."""
    t = k.phrases[lang]
    yes, no = [], []
    for n in k.corpus.notes.values():
        if n.kind == "concept":
            continue
        value = n.axes[axis][lang]
        (no if k.negative.match(value) else yes).append((display_name(n, lang), value))
    lines = [f"**{k.corpus.axes[axis][lang]}**", "", f"{t['axis_yes']}{t['colon']}"]
    lines += [f"- **{name}** — {value}" for name, value in yes]
    lines += ["", f"{t['axis_no']}{t['colon']}" + t["comma"].join(name for name, _ in no)]
    return lines


def member_line(k: Kit, eid: str, lang: str, cites: Citations) -> str:
    n = k.corpus.notes[eid]
    return f"- **{display_name(n, lang)}** — {n.summary[lang]} {cites.mark(eid, 'summary', lang)}".rstrip()
