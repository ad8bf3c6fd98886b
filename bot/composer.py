"""The offline answer composer: builds grounded answers from note fields and retrieved chunks.

Every statement comes from a note's front matter or a retrieved sentence, and every citation
marker points at a retrieved chunk. The wording around the facts is fixed per language.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.answer import Citation
from bot.chunking import Chunk
from bot.corpus import Corpus, Note
from bot.intent import ALL_CATEGORIES, ARTICLE, EITHER_OR, MISTAKES, TECHNIQUES, YES_NO, Question, _terms
from bot.retrieve import Hit
from bot.text import has_han, split_sentences

L = {
    "zh": {
        "category": "分类",
        "is_virt": "是否算虚拟化",
        "why": "依据",
        "techniques": "采用的虚拟化方式",
        "yes": "是",
        "partly": "部分是",
        "no": "否",
        "article_group": "原文的归类",
        "article_differs": "原文把 {name} 归入「{groups}」，本分类体系归为「{cat}」。",
        "article_missing": "原文没有把 {name} 归入它的五类之一。",
        "errata": "⚠️ 原文在这里有误：",
        "ours": "本分类体系的归类",
        "says": "原文说",
        "truth": "实际上",
        "sources": "参考资料",
        "dimension": "维度",
        "key_diff": "关键区别",
        "compare_lead": "{names} 的对比：",
        "cat_diff": "{a} 属于「{ca}」，而 {b} 属于「{cb}」。",
        "cat_same": "{a} 和 {b} 同属「{c}」。",
        "kernel_diff": "是否共享宿主内核：{a} —— {ka}；{b} —— {kb}。",
        "rel": {
            "runs-on": "运行在 {b} 之上",
            "uses": "使用 {b}",
            "orchestrates": "编排 {b}",
            "alternative-to": "是 {b} 的替代方案",
            "enables": "支撑 {b}",
        },
        "list_lead": "属于「{cat}」的有：",
        "concept_lead": "采用「{name}」的技术有：",
        "groups_lead": "原文把它提到的技术分为这几组（括号内为本分类体系的归类）：",
        "errata_lead": "原文有 {n} 处错误或误导，逐条问我可以看到详细更正：",
        "techniques_lead": "虚拟化的主要方式和相关概念（它们是不同维度，常常组合使用）：",
        "categories_lead": "本分类体系共有 {n} 个类别：",
        "true": "是",
        "false": "否",
        "varies": "视情况而定",
        "axis_yes": "是或部分是",
        "axis_no": "否",
        "article_meta": "这篇文章是《{title}》，作者 {author}，内容是一段 GPT-4 对话，发表在 LincZero 的笔记网站上；它部分内容有误，我们的笔记会指出。",
        "asked_yes": "是的，{name} {rel}「{what}」。",
        "asked_no": "不是。{name} 属于「{cat}」。",
        "asked_which": "{name} 属于「{cat}」。",
        "rel_category": "属于",
        "rel_technique": "采用",
        "refuse": "抱歉，这个问题超出了我的范围。我只回答虚拟化技术相关的问题：分类、比较、工作原理，以及原文中的错误。可以试试：\n- KVM 属于哪一类虚拟化？\n- Docker 和虚拟机有什么区别？",
        "chat": "你好！我是一个虚拟化技术问答机器人，依据一篇 GPT-4 对话文章和我们整理的笔记回答问题：技术的分类、相互比较、工作原理，以及原文说错的地方。可以试试：\n- KVM 属于哪一类虚拟化？\n- WSL1 和 WSL2 有什么不同？",
        "nothing": "语料中没有找到能回答这个问题的内容。",
        "sep": "；",
        "colon": "：",
        "comma": "、",
    },
    "en": {
        "category": "Category",
        "is_virt": "Is it virtualization",
        "why": "Deciding properties",
        "techniques": "Virtualization techniques used",
        "yes": "Yes",
        "partly": "Partly",
        "no": "No",
        "article_group": "The article's grouping",
        "article_differs": "The article puts {name} under “{groups}”; this taxonomy classifies it as “{cat}”.",
        "article_missing": "The article does not place {name} in any of its five groups.",
        "errata": "⚠️ The article is wrong here: ",
        "ours": "Our classification",
        "says": "The article says",
        "truth": "In fact",
        "sources": "Sources",
        "dimension": "Dimension",
        "key_diff": "Key difference",
        "compare_lead": "{names} compared:",
        "cat_diff": "{a} is a {ca}, while {b} is a {cb}.",
        "cat_same": "{a} and {b} are both in “{c}”.",
        "kernel_diff": "Shares the host kernel: {a} — {ka}; {b} — {kb}.",
        "rel": {
            "runs-on": "runs on {b}",
            "uses": "uses {b}",
            "orchestrates": "orchestrates {b}",
            "alternative-to": "is an alternative to {b}",
            "enables": "enables {b}",
        },
        "list_lead": "In “{cat}”:",
        "concept_lead": "Technologies that use {name}:",
        "groups_lead": "The article sorts the technologies it names into these groups (this taxonomy's category in brackets):",
        "errata_lead": "The article has {n} wrong or misleading claims; ask about any of them for the full correction:",
        "techniques_lead": "The main ways to virtualize, and the concepts around them (they are different dimensions and often combined):",
        "categories_lead": "The taxonomy has {n} categories:",
        "true": "yes",
        "false": "no",
        "varies": "varies",
        "axis_yes": "Yes, or partly",
        "axis_no": "No",
        "article_meta": "The article is “{title}” by {author}: a GPT-4 conversation published on LincZero's notes site, written in Chinese. Parts of it are wrong, and our notes say where.",
        "asked_yes": "Yes: {name} {rel} {a}“{what}”.",
        "asked_no": "No. {name} is {a_cat}“{cat}”.",
        "asked_which": "{name} is {a_cat}“{cat}”.",
        "rel_category": "is",
        "rel_technique": "uses",
        "refuse": "Sorry, that is outside what I can answer. I answer questions about virtualization technologies: how they are classified, how they compare, how they work, and where the source article is wrong. Try:\n- What kind of virtualization is KVM?\n- How is Docker different from a virtual machine?",
        "chat": "Hi! I answer questions about virtualization technologies from a GPT-4 conversation article and our curated notes: how technologies are classified, how they compare, how they work, and where the article is wrong. Try:\n- Is Hyper-V a type 1 or type 2 hypervisor?\n- How is WSL 2 different from WSL 1?",
        "nothing": "I found nothing in the corpus that answers this.",
        "sep": "; ",
        "colon": ": ",
        "comma": ", ",
    },
}
MAX_SENTENCE_CHARS = 420
# An axis value that says "no" ("不需要；…", "None; …", "No, …", "N/A"): everything else counts as yes or partly.
NEGATIVE = re.compile(r"\s*(不需要|不用|无需|无|否|不|不适用|no\b|none\b|not\b|n/a)", re.I)
ERRATUM_NOTE_OVERLAP = 0.2  # share of the question's terms found in an erratum's claim before we flag it
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


class Composer:
    """Compose an answer for a Question from hits; `fetch` retrieves an entity's chunk by section."""

    def __init__(
        self,
        corpus: Corpus,
        idf: Callable[[str], float] | None = None,
        tokens: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.corpus = corpus
        # How sentences are matched to the question: retrieval's tokens and IDF when given, so a rare
        # word the question shares ("Azure", "Dom0") outweighs common ones.
        self.idf = idf or (lambda t: 1.0)
        self.tokens = tokens or (lambda text: sorted(_terms(text)))

    def compose(self, q: Question, hits: list[Hit], fetch: Callable[[str, str, str], Chunk | None]) -> tuple[str, list[Citation]]:
        cites = _Citations(hits, fetch)
        lang = q.lang
        t = L[lang]
        if q.intent == "refuse":
            return t["refuse"], []
        if q.intent == "chat":
            return t["chat"], []
        if q.intent == "correct" and q.errata:
            return self._correct(q, cites), cites.list
        if q.intent == "compare" and len(q.entities) >= 2:
            return self._compare(q, cites), cites.list
        if q.intent == "list":
            text = self._list(q, cites)
            if text:
                return text, cites.list
        if q.intent == "classify" and q.entities:
            return self._classify(q, cites), cites.list
        return self._explain(q, hits, cites), cites.list

    # --- per intent -------------------------------------------------------------------------

    def _classify(self, q: Question, cites: _Citations) -> str:
        t = L[q.lang]
        techs = [e for e in q.entities if self.corpus.notes[e].kind != "concept"]
        main = self.corpus.notes[(techs or q.entities)[0]]
        asked = [e for e in q.entities if e != main.id and self.corpus.notes[e].kind == "concept"]
        cat = self.corpus.categories[main.category].name[q.lang]
        s = cites.mark(main.id, "summary", q.lang)
        lines = []
        # A named category is more specific than a concept ("内核虚拟机" also contains "虚拟机").
        asked_all = list(q.categories) or asked
        if main.category in q.categories:  # "type 1 or type 2?": answer with the one that holds
            asked_all = [main.category]
        if EITHER_OR.search(q.text) and main.category in q.categories:
            lines.append(
                t["asked_which"].format(
                    name=display_name(main, q.lang), cat=(c := self.corpus.categories[main.category].name[q.lang]), a_cat=_a(c)
                )
            )
        elif YES_NO.search(q.text):
            for e in asked_all:
                lines.append(self._asked_line(main, e, q.lang))
        lines.append(f"**{display_name(main, q.lang)}** — {t['category']}{t['colon']}**{cat}** {s}".rstrip())
        lines.append(f"{main.summary[q.lang]} {s}".rstrip())
        lines += self._axis_lines(q, [main])
        lines.append("")
        isv = main.is_virtualization
        lines.append(
            f"- **{t['is_virt']}**{t['colon']}{t[{'true': 'yes', 'partly': 'partly', 'false': 'no'}[isv['value']]]} — {isv[q.lang]}"
        )
        lines.append(f"- **{t['why']}**{t['colon']}")
        for axis in ("virtualizes", "host_kernel", "hardware_support", "guest_modification"):
            lines.append(f"  - {self.corpus.axes[axis][q.lang]}{t['colon']}{main.axes[axis][q.lang]}")
        if main.techniques:
            names = t["comma"].join(display_name(self.corpus.notes[x], q.lang) for x in main.techniques)
            lines.append(f"- **{t['techniques']}**{t['colon']}{names}")
        group_line = self._article_grouping(main, q.lang)
        if group_line:
            lines.append(f"- **{t['article_group']}**{t['colon']}{group_line}")
        cls = cites.section(main.id, "classification", q.lang)
        if cls:
            chunk, n = cls
            lines += ["", f"{_first_sentences(chunk.text, 2)} [{n}]"]
        lines += self._errata_notes(q, [main.id], cites)
        return "\n".join(lines).strip()

    def _axis_lines(self, q: Question, notes: list[Note]) -> list[str]:
        """The comparison axes the question asks about ("does it need VT-x?"), stated first."""
        t = L[q.lang]
        return [
            f"- **{self.corpus.axes[axis][q.lang]}**{t['colon']}"
            + (
                t["sep"].join(f"{display_name(n, q.lang)} — {n.axes[axis][q.lang]}" for n in notes)
                if len(notes) > 1
                else notes[0].axes[axis][q.lang]
            )
            for axis in q.axes[:2]
        ]

    def _asked_line(self, main: Note, asked: str, lang: str) -> str:
        t = L[lang]
        if asked in self.corpus.categories:
            what = self.corpus.categories[asked].name[lang]
            yes = main.category == asked
            rel = t["rel_category"]
        else:
            note = self.corpus.notes[asked]
            what = display_name(note, lang)
            # "Is KVM a hypervisor?": yes when the concept is one of its techniques or names its category.
            concept = re.sub(r"\s*\(.*?\)", "", display_name(note, "en")).lower()
            names_category = concept in self.corpus.categories[main.category].name["en"].lower()
            yes = asked in main.techniques or names_category
            rel = t["rel_category"] if names_category else t["rel_technique"]
        cat = self.corpus.categories[main.category].name[lang]
        a = _a(what) if rel == t["rel_category"] else ""
        return (t["asked_yes"] if yes else t["asked_no"]).format(
            name=display_name(main, lang), rel=rel, what=what, cat=cat, a=a, a_cat=_a(cat)
        )

    def _article_grouping(self, note: Note, lang: str) -> str:
        t = L[lang]
        groups = [g[lang] for g in self.corpus.article_groups if note.id in (g.get("members") or [])]
        cat = self.corpus.categories[note.category].name[lang]
        if groups:
            return t["article_differs"].format(name=display_name(note, lang), groups=t["comma"].join(groups), cat=cat)
        if note.kind != "concept":
            return t["article_missing"].format(name=display_name(note, lang))
        return ""

    def _compare(self, q: Question, cites: _Citations) -> str:
        t = L[q.lang]
        notes = [self.corpus.notes[e] for e in q.entities]
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
        rows.append(f"| {t['category']} | " + " | ".join(self.corpus.categories[n.category].name[q.lang] for n in notes) + " |")
        rows.append(
            f"| {t['is_virt']} | "
            + " | ".join(t[{"true": "yes", "partly": "partly", "false": "no"}[n.is_virtualization["value"]]] for n in notes)
            + " |"
        )
        for axis in COMPARE_AXES:
            label = self.corpus.axes[axis][q.lang]
            rows.append(f"| {label} | " + " | ".join(_cell(n.axes[axis][q.lang]) for n in notes) + " |")
        lead = t["compare_lead"].format(names=t["comma"].join(display_name(n, q.lang) for n in notes))
        diff = self._key_difference(notes[0], notes[1], q.lang, cites)
        focus = self._axis_lines(q, notes)
        out = [lead, *focus, "", *rows, "", f"**{t['key_diff']}**{t['colon']}{diff}"]
        out += self._errata_notes(q, [n.id for n in notes], cites)
        return "\n".join(out).strip()

    def _key_difference(self, a: Note, b: Note, lang: str, cites: _Citations) -> str:
        t = L[lang]
        ca, cb = (self.corpus.categories[n.category].name[lang] for n in (a, b))
        parts = []
        for x, y in ((a, b), (b, a)):
            for kind, targets in x.relations.items():
                if y.id in targets and kind != "alternative-to":
                    parts.append(
                        f"{display_name(x, lang)} "
                        + t["rel"][kind].format(b=display_name(y, lang))
                        + ("。" if lang == "zh" else ".")
                    )
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

    def _list(self, q: Question, cites: _Citations) -> str:
        t = L[q.lang]
        lines: list[str] = []
        if q.axes and not q.categories:
            lines += self._list_by_axis(q.axes[0], q.lang)
        elif not q.entities and not q.categories and ALL_CATEGORIES.search(q.text):
            lines.append(t["categories_lead"].format(n=len(self.corpus.categories)))
            for cat in self.corpus.categories.values():
                members = t["comma"].join(display_name(self.corpus.notes[m], q.lang) for m in cat.members)
                verdict = t.get(cat.is_virtualization, t["varies"])
                lines.append(
                    f"- **{cat.name[q.lang]}**（{t['is_virt']}：{verdict}）：{members}"
                    if q.lang == "zh"
                    else f"- **{cat.name[q.lang]}** ({t['is_virt']}: {verdict}): {members}"
                )
        elif q.categories:
            for cid in q.categories[:6]:
                cat = self.corpus.categories[cid]
                lines.append(t["list_lead"].format(cat=cat.name[q.lang]))
                lines += [self._member_line(m, q.lang, cites) for m in cat.members]
                lines.append("")
        elif q.entities and all(self.corpus.notes[e].kind == "concept" for e in q.entities):
            for cid in q.entities[:2]:
                concept = self.corpus.notes[cid]
                members = [n.id for n in self.corpus.notes.values() if cid in n.techniques and n.kind != "concept"]
                if not members:
                    continue
                lines.append(t["concept_lead"].format(name=display_name(concept, q.lang)))
                lines += [self._member_line(m, q.lang, cites) for m in members]
                lines.append("")
        elif TECHNIQUES.search(q.text):
            lines.append(t["techniques_lead"])
            lines += [self._member_line(n.id, q.lang, cites) for n in self.corpus.notes.values() if n.kind == "concept"]
        elif ARTICLE.search(q.text) and MISTAKES.search(q.text):
            lines.append(t["errata_lead"].format(n=len(self.corpus.errata)))
            for e in self.corpus.errata:
                n = cites.erratum(e.title[q.lang])
                lines.append(f"- {e.title[q.lang]}" + (f" [{n}]" if n else ""))
        elif ARTICLE.search(q.text):
            lines.append(t["groups_lead"])
            for g in self.corpus.article_groups:
                names = t["comma"].join(
                    f"{display_name(self.corpus.notes[m], q.lang)} ({self.corpus.categories[self.corpus.notes[m].category].name[q.lang]})"
                    for m in g["members"]
                )
                lines.append(f"- **{g[q.lang]}**{t['colon']}{names}")
        return "\n".join(lines).strip()

    def _list_by_axis(self, axis: str, lang: str) -> list[str]:
        """Every technology, split by whether its note's value on one axis is a yes or a no."""
        t = L[lang]
        yes, no = [], []
        for n in self.corpus.notes.values():
            if n.kind == "concept":
                continue
            value = n.axes[axis][lang]
            (no if NEGATIVE.match(value) else yes).append((display_name(n, lang), value))
        lines = [f"**{self.corpus.axes[axis][lang]}**", "", f"{t['axis_yes']}{t['colon']}"]
        lines += [f"- **{name}** — {value}" for name, value in yes]
        lines += ["", f"{t['axis_no']}{t['colon']}" + t["comma"].join(name for name, _ in no)]
        return lines

    def _member_line(self, eid: str, lang: str, cites: _Citations) -> str:
        n = self.corpus.notes[eid]
        return f"- **{display_name(n, lang)}** — {n.summary[lang]} {cites.mark(eid, 'summary', lang)}".rstrip()

    def _correct(self, q: Question, cites: _Citations) -> str:
        t = L[q.lang]
        out = []
        for e in q.errata[:2]:
            n = cites.erratum(e.title[q.lang])
            mark = f" [{n}]" if n else ""
            out.append(f"**{e.title[q.lang]}**")
            out.append(f"- {t['says']}{t['colon']}「{e.quote}」")
            out.append(f"- {t['truth']}{t['colon']}{e.truth[q.lang]}{mark}")
            if e.sources:
                out.append(f"- {t['sources']}{t['colon']}" + t["sep"].join(_source(s) for s in e.sources[:3]))
            for eid in [x for x in e.entities if self.corpus.notes[x].kind != "concept"][:2]:
                out.append(f"- {t['ours']}{t['colon']}" + self._category_phrase(self.corpus.notes[eid], q.lang, cites))
            out.append("")
        return "\n".join(out).strip()

    def _category_phrase(self, note: Note, lang: str, cites: _Citations) -> str:
        t = L[lang]
        cat = self.corpus.categories[note.category].name[lang]
        isv = t[{"true": "yes", "partly": "partly", "false": "no"}[note.is_virtualization["value"]]]
        mark = cites.mark(note.id, "summary", lang)
        return (
            f"**{display_name(note, lang)}** — {cat}（{t['is_virt']}：{isv}）{mark}"
            if lang == "zh"
            else f"**{display_name(note, lang)}** — {cat} ({t['is_virt']}: {isv}) {mark}".rstrip()
        )

    def _explain(self, q: Question, hits: list[Hit], cites: _Citations) -> str:
        t = L[q.lang]
        lines = []
        if not q.entities and ARTICLE.search(q.text):
            meta = self.corpus.article.meta
            n = cites.article()
            lines.append(
                t["article_meta"].format(title=meta.get("title", ""), author=meta.get("author", "")) + (f" [{n}]" if n else "")
            )
        if q.entities:
            main = self.corpus.notes[q.entities[0]]
            s = cites.mark(main.id, "summary", q.lang)
            lines.append(f"**{display_name(main, q.lang)}**{t['colon']}{main.summary[q.lang]} {s}".rstrip())
            lines += self._axis_lines(q, [main])
        pool = hits
        if q.entities and HOW.search(q.text):
            # "How does X work?": make sure X's mechanism section is among the candidates.
            how = cites.find(q.entities[0], "how", q.lang)
            if how is not None and all(h.chunk.chunk_id != how.chunk_id for h in hits[:6]):
                pool = [Hit(how, hits[0].score if hits else 1.0, {"lookup": 1}), *hits]
        picked = _mmr_sentences(q, pool, 4, self.tokens, self.idf)
        body = " ".join(f"{sent} [{cites.add(chunk)}]" for chunk, sent in picked)
        if not lines and not body:
            return t["nothing"]
        text = "\n\n".join(part for part in ("\n".join(lines), body) if part)
        quoted = [sent for chunk, sent in picked if chunk.doc_id == "article"]
        return "\n".join([text, *self._errata_notes(q, q.entities[:2], cites, quoted)]).strip()

    def _errata_notes(self, q: Question, entities: list[str], cites: _Citations, quoted: list[str] = ()) -> list[str]:
        """Warn where the answer touches a claim the errata list, with the correction.

        An erratum qualifies when the answer repeats the article's wrong sentence, or when it is about
        the answer's entities and either the question shares the claim's wording or retrieval ranked
        the erratum itself among the top hits. At most one, unless the answer quotes more.
        """
        t = L[q.lang]
        top = {h.chunk.heading.rsplit(" > ", 1)[-1] for h in cites.hits[:3] if h.chunk.doc_id == "notes/article-errata"}
        repeated = [e for e in self.corpus.errata if any(_same_claim(e.quote, s) for s in quoted)]
        related = [
            e
            for e in q.errata
            if set(e.entities) & set(entities)
            and (q.errata_overlap.get(e.id, 0) >= ERRATUM_NOTE_OVERLAP or e.title[q.lang] in top)
        ][:1]
        related = list({e.id: e for e in [*repeated[:2], *related]}.values())[:2]
        out = []
        for e in related:
            n = cites.erratum(e.title[q.lang])
            out.append(f"> {t['errata']}**{e.title[q.lang]}** — {e.truth[q.lang]}" + (f" [{n}]" if n else ""))
        return ([""] + out) if out else []


# --- helpers ----------------------------------------------------------------------------------

SECTION_WORDS = {
    "summary": ("概要", "summary"),
    "classification": ("分类与理由", "classification"),
    "compare": ("与相近技术比较", "compared with neighbours"),
    "how": ("工作原理", "how it works"),
}


class _Citations:
    """Numbers the chunks an answer cites; only retrieved chunks (or fetched ones, then recorded) qualify."""

    def __init__(self, hits: list[Hit], fetch: Callable[[str, str, str], Chunk | None]) -> None:
        self.hits = hits
        self.fetch = fetch
        self.list: list[Citation] = []
        self._n: dict[str, int] = {}

    def add(self, chunk: Chunk) -> int:
        if chunk.chunk_id not in self._n:
            n = len(self.list) + 1
            self._n[chunk.chunk_id] = n
            self.list.append(
                Citation(
                    n, chunk.doc_id, chunk.entity, chunk.title, _snippet(chunk.text), chunk.source, chunk.chunk_id, chunk.heading
                )
            )
        return self._n[chunk.chunk_id]

    def find(self, entity: str, section: str, lang: str) -> Chunk | None:
        words = SECTION_WORDS[section]
        for h in self.hits:
            c = h.chunk
            if c.entity == entity and c.lang == lang and any(w in c.heading.lower() for w in words):
                return c
        return self.fetch(entity, section, lang)

    def mark(self, entity: str, section: str, lang: str) -> str:
        c = self.find(entity, section, lang)
        return f"[{self.add(c)}]" if c else ""

    def section(self, entity: str, section: str, lang: str) -> tuple[Chunk, int] | None:
        c = self.find(entity, section, lang)
        return (c, self.add(c)) if c else None

    def sentence_mentioning(self, entity: str, section: str, lang: str, other: Note) -> str:
        c = self.find(entity, section, lang)
        if not c:
            return ""
        names = [other.name.lower(), *(a.lower() for a in other.aliases)]
        for s in split_sentences(c.text):
            if any(nm and nm in s.lower() for nm in names):
                return f"{s} [{self.add(c)}]"
        return ""

    def article(self) -> int | None:
        """Cite the article itself: its best retrieved chunk, else its first one."""
        for h in self.hits:
            if h.chunk.doc_id == "article":
                return self.add(h.chunk)
        c = self.fetch("", "article", "")
        return self.add(c) if c else None

    def erratum(self, title: str) -> int | None:
        for h in self.hits:
            if h.chunk.doc_id == "notes/article-errata" and h.chunk.heading.endswith(title):
                return self.add(h.chunk)
        c = self.fetch("", f"erratum:{title}", "")
        return self.add(c) if c else None


def _mmr_sentences(
    q: Question, hits: list[Hit], k: int, tokens: Callable[[str], list[str]], idf: Callable[[str], float], lam: float = 0.7
) -> list[tuple[Chunk, str]]:
    """Pick k sentences relevant to the question and not redundant with each other (MMR, Carbonell & Goldstein 1998).

    Relevance mixes the rank of the sentence's chunk with the IDF-weighted share of the question's
    tokens it contains; redundancy is token-set overlap with sentences already picked.
    """
    qt = set(tokens(q.standalone))
    q_weight = sum(idf(t) for t in qt) or 1.0
    cands: list[tuple[float, Chunk, str, set[str]]] = []
    top = max((h.score for h in hits), default=1.0) or 1.0
    same_lang = [h for h in hits if h.chunk.lang == q.lang] or hits
    how = HOW.search(q.text) is not None
    for h in same_lang[:6]:
        if h.chunk.heading in ("概要", "Summary"):  # front-matter digest: the summary line already says it
            continue
        # "How does X work?" is best answered from the notes' mechanism sections.
        bonus = 0.5 if how and any(w in h.chunk.heading.lower() for w in ("工作原理", "how it works")) else 0.0
        for s in split_sentences(h.chunk.text):
            # Fragments, broken quotations and flattened lists read badly alone.
            if not 8 <= len(s) <= MAX_SENTENCE_CHARS or _broken_quote(s) or s.count(" - ") >= 3:
                continue
            st = set(tokens(s))
            rel = 0.5 * (h.score / top) + 0.5 * (sum(idf(t) for t in qt & st) / q_weight) + bonus
            cands.append((rel, h.chunk, s, st))
    picked: list[tuple[float, Chunk, str, set[str]]] = []
    while cands and len(picked) < k:

        def mmr(c):
            red = max((len(c[3] & p[3]) / max(1, len(c[3] | p[3])) for p in picked), default=0.0)
            return lam * c[0] - (1 - lam) * red

        best = max(cands, key=mmr)
        cands.remove(best)
        if any(best[2] == p[2] for p in picked):
            continue
        picked.append(best)
    # Readable order: by the rank of their chunk, then their position in it.
    order = {id(h.chunk): i for i, h in enumerate(hits)}
    picked.sort(key=lambda p: (order.get(id(p[1]), 99), p[1].text.find(p[2])))
    return [(p[1], p[2]) for p in picked]


HOW = re.compile(r"\bhow\b|怎么|怎样|如何|原理|机制|过程|工作方式", re.I)


def _broken_quote(sentence: str) -> bool:
    """A sentence cut inside a quotation ("」实际上…", "…更加安全,因为…」") is unreadable alone."""
    for open_, close in (("「", "」"), ("“", "”"), ("『", "』")):
        if sentence.count(open_) != sentence.count(close):
            return True
    return sentence.count('"') % 2 == 1


def _a(phrase: str) -> str:
    """English indefinite article for a phrase ("an OS-level …", "a type-1 …"), with its space."""
    return "an " if re.match(r"[aeiouAEIOU]|OS\b|NFV|ABI|API|UI\b|In-kernel", phrase) else "a "


def _same_claim(quote: str, sentence: str) -> bool:
    """Whether a sentence repeats an errata quote (ignoring punctuation, either containing the other)."""
    a, b = (re.sub(r"[\W_]+", "", x).lower() for x in (quote, sentence))
    return bool(a) and bool(b) and (a in b or (len(b) >= 12 and b in a))


def display_name(note: Note, lang: str) -> str:
    """'半虚拟化 / Paravirtualization' -> the part in the answer's language."""
    if " / " not in note.name:
        return note.name
    parts = [p.strip() for p in note.name.split(" / ")]
    zh = [p for p in parts if has_han(p)]
    en = [p for p in parts if not has_han(p)]
    return (zh or parts)[0] if lang == "zh" else (en or parts)[0]


def _first_sentences(text: str, n: int) -> str:
    return " ".join(split_sentences(text)[:n])


def _snippet(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _source(s: dict) -> str:
    return f"[{s['title']}]({s['url']})" if s.get("url") else s["title"]
