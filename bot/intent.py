"""Understand a question: clean it, resolve follow-ups, find the entities and the intent.

Intent comes from general cue words in both languages plus which entities are named; nothing
here knows any particular question.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.corpus import Corpus, Erratum
from bot.errors import BadQuestion
from bot.text import AliasMatcher, clean, detect_lang, normalize

FUZZY_CUTOFF = 0.85  # difflib ratio: "dockr"~"docker" (0.91) passes, "virtual"~"virtualbox" (0.82) does not
INTENTS = ("classify", "compare", "explain", "list", "correct", "refuse", "chat")


def _cues(*patterns: str) -> re.Pattern:
    return re.compile("|".join(patterns), re.I)


INJECTION = _cues(
    r"ignore (all |any |the )?(previous|prior|above|earlier|preceding)",
    r"disregard (all |the )?(previous|above|prior)",
    r"system prompt",
    r"your (instructions|prompt|rules)",
    r"developer mode",
    r"jailbreak",
    r"you are now",
    r"忽略(之前|以上|上面|前面|先前|所有)",
    r"无视(之前|以上|上面|前面)",
    r"系统提示",
    r"提示词",
    r"你的(指令|设定|规则)",
    r"api[ _-]?key",
    r"密钥",
    r"signing secret",
    r"pretend (to be|you)",
    r"扮演",
)
OUT_OF_SCOPE = _cues(
    r"天气",
    r"weather",
    r"菜谱",
    r"食谱",
    r"recipe",
    r"怎么做(饭|菜)",
    r"红烧",
    r"炒菜",
    r"股价",
    r"stock price",
    r"\bprice\b",
    r"\bpricing\b",
    r"多少钱",
    r"价格",
    r"写[^，。？?]{0,20}(诗|歌|故事|小说|段子|作文)",
    r"\bpoem\b",
    r"\bpoetry\b",
    r"笑话",
    r"\bjoke",
    r"彩票",
    r"lottery",
    r"足球",
    r"football",
    r"soccer",
    r"电影",
    r"\bmovie",
    r"星座",
    r"horoscope",
    r"减肥",
    r"\blyrics\b",
    r"歌词",
    r"\bhaiku\b",
    r"\bsonnet\b",
    r"\blimerick\b",
    r"\bwrite (me )?(a |an )?(song|story|rap|essay)",
    r"作诗",
    r"\bbest laptop",
    r"\bwhich laptop",
    r"\bbuy\b",
    r"购买",
    r"哪款(电脑|笔记本)",
    r"汇率",
    r"exchange rate",
    r"翻译成",
    r"translate (this|the following|into)",
)
DOMAIN = _cues(
    r"虚拟",
    r"virtual",
    r"hypervisor",
    r"\bvmm?s?\b",
    r"容器",
    r"container",
    r"内核",
    r"kernel",
    r"隔离",
    r"isolat",
    r"沙箱",
    r"sandbox",
    r"模拟",
    r"emulat",
    r"仿真",
    r"云计算",
    r"\bcloud\b",
    r"操作系统",
    r"operating system",
    r"\bos\b",
    r"\bcpu\b",
    r"硬件",
    r"hardware",
    r"镜像",
    r"\bimage",
    r"编排",
    r"orchestrat",
    r"字节码",
    r"bytecode",
    r"type[ -]?[12]",
    r"[一二12]型",
    r"兼容层",
    r"compatib",
    r"文章",
    r"原文",
    r"article",
    r"分类",
    r"taxonomy",
    r"classif",
    r"bios",
    r"guest",
    r"客户机",
    r"宿主",
    r"\bhost\b",
)
CHAT = _cues(
    r"^\s*(你好|您好|嗨|哈喽|hi|hello|hey|good (morning|afternoon|evening)|thanks|thank you|谢谢|多谢)\b",
    r"你是谁",
    r"who are you",
    r"你能做什么",
    r"你会什么",
    r"能干什么",
    r"what can you do",
    r"how do i use you",
    r"怎么用你",
    r"^\s*help\s*[?!.]*$",
    r"^\s*帮助\s*$",
)
CORRECT_SOURCE = _cues(
    r"原文",
    r"文章",
    r"文中",
    r"作者",
    r"这篇",
    r"article",
    r"the author",
    r"\bgpt",
    r"the post",
    r"linczero",
    r"说法",
    r"\bclaims?\b",
    r"\bsays?\b",
    r"\bsaid\b",
    r"据说",
    r"有人说",
    r"听说",
    r"网上说",
)
CORRECT_CHECK = _cues(
    r"对吗",
    r"对不对",
    r"是真的吗",
    r"真的吗",
    r"正确吗",
    r"是否正确",
    r"准确吗",
    r"有没有错",
    r"错了吗",
    r"错在",
    r"is (it|this|that) (true|right|correct|accurate)",
    r"\btrue that\b",
    r"\bcorrect that\b",
    r"\bright that\b",
    r"\bwrong\b",
    r"mistake",
    r"错误",
    r"有误",
    r"\bmyth\b",
    r"误解",
)
COMPARE = _cues(
    r"比较",
    r"对比",
    r"区别",
    r"不同",
    r"差异",
    r"异同",
    r"相比",
    r"比呢",
    r"比起",
    r"\bvs\.?\b",
    r"versus",
    r"compar",
    r"differ",
    r"关系",
    r"relationship",
    r"relate",
    r"联系",
    r"哪个",
    r"which (one|is)",
    r"better",
    r"\bor\b",
    r"还是",
    r"跟",
    r"和",
    r"与",
)
LIST = _cues(
    r"有哪些",
    r"哪些",
    r"列举",
    r"列出",
    r"举例",
    r"举几个",
    r"例子",
    r"都有什么",
    r"包括什么",
    r"包含哪些",
    r"\blist\b",
    r"which (technologies|tools|ones|products|of)",
    r"examples?\b",
    r"name (some|a few|the)",
    r"what are the",
    r"members",
    r"enumerate",
    r"give me (all|the|a list)",
    r"show (me )?(all|the)",
    r"所有",
    r"全部",
)
CLASSIFY = _cues(
    r"属于",
    r"哪一类",
    r"哪类",
    r"什么类",
    r"哪种",
    r"什么类型",
    r"分类",
    r"类别",
    r"归类",
    r"归为",
    r"算不算",
    r"算是",
    r"算虚拟化",
    r"是不是",
    r"是否(是|属于|算)",
    r"type[ -]?[12]",
    r"[一二12]型",
    r"category",
    r"classif",
    r"what (kind|type|sort) of",
    r"which (kind|type|category|class)",
    r"\bis (it|\w[\w\- ]*) an? ",
    r"count as",
    r"considered",
    r"\bcounts?\b",
    r"是(不是)?(一种|一个|一类)?[^，。？?!！]{0,12}(虚拟化|虚拟机|监控器|容器|兼容层|模拟器|hypervisor|vm)",
)
# A yes/no question ("KVM 是一型吗", "Is Hyper-V type 2?") gets a yes/no first line; "which type is it" does not.
YES_NO = _cues(
    r"吗\s*[?？]?\s*$",
    r"是不是",
    r"是否",
    r"算不算",
    r"对吧",
    r"对不对",
    r"^\s*(is|are|does|do|can|was|were|isn't|doesn't)\b",
    r",?\s*right\s*[?？]?\s*$",
    r"\bor\b.*\?\s*$",
    r"还是",
)
EITHER_OR = _cues(r"还是", r"\bor\b")
AXIS_CUES = {
    "hardware_support": _cues(
        r"硬件支持",
        r"需要.{0,6}(vt-?x|amd-?v|vt\b|bios|硬件)",
        r"bios",
        r"hardware (support|assist)",
        r"\bneeds? (vt-?x|amd-?v|hardware)",
        r"没有.{0,6}(vt-?x|amd-?v|vt\b|硬件虚拟化)",
        r"without (vt-?x|amd-?v|hardware)",
        r"require",
    ),
    "host_kernel": _cues(
        r"共享.{0,6}内核",
        r"(同一个|自己的|独立的?)内核",
        r"客户机内核",
        r"own kernel",
        r"shares? (the )?(host )?kernel",
        r"guest kernel",
        r"same kernel",
    ),
    "startup": _cues(r"启动", r"\bstart", r"\bboot"),
    "performance": _cues(r"性能", r"开销", r"损耗", r"overhead", r"performance", r"\bfast", r"\bslow", r"更快", r"更慢"),
    "isolation": _cues(r"隔离", r"isolat", r"安全", r"secur"),
    "guest_modification": _cues(r"修改", r"modif", r"\bchange the guest"),
    "typical_use": _cues(r"用途", r"用来做", r"用在", r"used for", r"use cases?", r"what is .{1,30} for\b"),
}
ARTICLE = _cues(r"原文", r"文章", r"文中", r"作者", r"这篇", r"\barticle\b", r"the author", r"linczero", r"\bgpt")
MISTAKES = _cues(
    r"错误",
    r"错在",
    r"哪些错",
    r"有误",
    r"勘误",
    r"不准确",
    r"不对的",
    r"mistakes?",
    r"\bwrong\b",
    r"\berrors?\b",
    r"inaccura",
    r"errata",
)
TECHNIQUES = _cues(
    r"实现方式",
    r"实现方法",
    r"虚拟化(的)?(方式|方法|类型|种类|分类)",
    r"几种虚拟化",
    r"哪几种",
    r"哪些种类",
    r"(kinds|types|forms|techniques|approaches|methods) of virtuali[sz]ation",
    r"virtuali[sz]ation (techniques|approaches|methods|types)",
)
ALL_CATEGORIES = _cues(
    r"(所有|全部|哪些|有几个|几种)(的)?(类别|分类|类)", r"分类体系", r"taxonomy", r"(all|every|the) categor", r"categories"
)
NOT_VIRTUALIZATION = _cues(
    r"不(是|算|属于)(真正的)?虚拟化",
    r"并非虚拟化",
    r"非虚拟化",
    r"not (really |actually |truly )?(a )?(form of )?virtuali[sz]ation",
    r"isn't (really )?virtuali[sz]ation",
    r"aren't (really )?virtuali[sz]ation",
)
FOLLOWUP = _cues(
    r"它",
    r"他们",
    r"它们",
    r"这个",
    r"那个",
    r"^那",
    r"呢[?？]?\s*$",
    r"\bit\b",
    r"\bits\b",
    r"\bthey\b",
    r"\bthem\b",
    r"\bthat one\b",
    r"^\s*(and|what about|how about|and versus|versus|vs)\b",
)


@dataclass
class Question:
    text: str  # what the user asked, cleaned (and truncated if too long)
    standalone: str  # the question with follow-up references resolved
    lang: str
    intent: str
    entities: list[str]
    categories: list[str] = field(default_factory=list)  # taxonomy categories the question names
    errata: list[Erratum] = field(default_factory=list)  # errata the question touches, best first
    errata_overlap: dict[str, float] = field(default_factory=dict)  # erratum id -> share of question terms in the claim
    notices: list[str] = field(default_factory=list)
    axes: list[str] = field(default_factory=list)  # comparison axes the question asks about ("启动", "kernel")


class Interpreter:
    """Turns raw text (plus history) into a Question, using the corpus's aliases and errata."""

    def __init__(
        self,
        corpus: Corpus,
        max_chars: int = 2000,
        on_topic: Callable[[str], bool] | None = None,
        known_word: Callable[[str], bool] | None = None,
    ) -> None:
        self.corpus = corpus
        self.max_chars = max_chars
        # Whether a question naming no entity still uses the corpus's own vocabulary ("Dom0", "Popek");
        # without a retriever to tell, such questions are out of scope.
        self.on_topic = on_topic or (lambda text: False)
        self.known_word = known_word or (lambda word: True)
        self._latin_aliases = {
            normalize(a): e for a, e in corpus.alias_map().items() if re.fullmatch(r"[a-z][a-z0-9\-]{3,}", normalize(a))
        }
        self.entities = AliasMatcher(corpus.alias_map())
        cat_aliases = {}
        for c in corpus.categories.values():
            if c.id == "concept":
                continue
            for a in (c.name["zh"], c.name["en"], *c.aliases):
                cat_aliases[a] = c.id
        self.categories = AliasMatcher(cat_aliases)
        self._errata_terms = {e.id: _terms(e.quote + " " + e.title["zh"] + " " + e.title["en"]) for e in corpus.errata}

    def interpret(self, raw: str, history: list[dict] | None = None) -> Question:
        if not isinstance(raw, str):
            raise BadQuestion("the question must be text")
        text = clean(raw)
        if not text:
            raise BadQuestion("the question is empty: ask about a virtualization technology, e.g. “KVM 属于哪一类虚拟化？”")
        notices = []
        if len(text) > self.max_chars:
            text = text[: self.max_chars]
            notices.append(f"question truncated to {self.max_chars} characters")
        lang = detect_lang(text)
        ents = self._entities(text)
        standalone = intent_text = text
        prior = self._history_entities(history or [])
        carried: list[str] = []
        # A greeting or "thanks" mid-conversation is still small talk, not a question about the last topic.
        small_talk = not ents and CHAT.search(text) and not DOMAIN.search(text)
        prev = self._last_user_turn(history or [])
        if prior and ents and prev and _only_names(text, self.entities):
            # "那 WebAssembly 呢？" after "eBPF 属于哪类虚拟化？": the same question about the new entity.
            standalone = _substitute(prev, self.entities, ents, {i: n.name for i, n in self.corpus.notes.items()})
            intent_text = standalone
        elif prior and not small_talk and (not ents or FOLLOWUP.search(text) or (len(ents) == 1 and _strong_compare(text))):
            # "how does that compare with Hyper-V?": one name plus a comparison means the other is the last topic.
            carried = [e for e in prior if e not in ents]
            if not ents:
                carried = carried[:2] if COMPARE.search(text) else carried[:1]
            else:
                carried = carried[:1]
            ents = carried + ents
            names = " / ".join(self.corpus.notes[e].name for e in carried)
            standalone = f"{names}: {text}" if carried else text
        cats = self.categories.find(intent_text)
        if NOT_VIRTUALIZATION.search(intent_text) and LIST.search(intent_text):
            cats += [c.id for c in self.corpus.categories.values() if c.is_virtualization == "false" and c.id not in cats]
        intent, errata = self._intent(intent_text, ents, cats, followup=bool(carried))
        axes = [axis for axis, cue in AXIS_CUES.items() if cue.search(intent_text)]
        if intent == "compare" and "hardware_support" in axes:
            # "Does WSL need VT-x?" asks about WSL's hardware needs, not for a WSL-vs-VT-x table.
            others = [e for e in ents if self.corpus.notes[e].category != "hardware-extension"]
            if len(others) == 1:
                intent, ents = "explain", others + [e for e in ents if e not in others]
        if (
            LIST.search(intent_text)
            and axes
            and all(self.corpus.notes[e].kind == "concept" or self.corpus.notes[e].category == "hardware-extension" for e in ents)
        ):
            intent = "list"  # "哪些技术必须开 VT": technologies sorted by what an axis says about them
        q_terms = _terms(intent_text)
        overlap = {e.id: len(q_terms & self._errata_terms[e.id]) / max(1, len(q_terms)) for e in errata}
        return Question(text, standalone, lang, intent, ents, cats, errata, overlap, notices, axes)

    def _entities(self, text: str) -> list[str]:
        """Entities in order of mention: exact alias matches, plus words that are a typo of one
        ("dockr", "kubernets"): a word the corpus never uses, close to a single-word alias."""
        norm = normalize(text)
        found = [(start, e) for start, _, e in self.entities.find_spans(norm)]
        for m in re.finditer(r"[a-z][a-z0-9\-]{4,}", norm):
            if self.known_word(m.group()) or any(a <= m.start() < b for a, b, _ in self.entities.find_spans(norm)):
                continue
            close = difflib.get_close_matches(m.group(), self._latin_aliases, n=1, cutoff=FUZZY_CUTOFF)
            if close:
                found.append((m.start(), self._latin_aliases[close[0]]))
        return list(dict.fromkeys(e for _, e in sorted(found)))

    def _last_user_turn(self, history: list[dict]) -> str:
        for turn in reversed(history[-10:]):
            if isinstance(turn, dict) and turn.get("role") == "user" and isinstance(turn.get("content"), str):
                return clean(turn["content"])[: self.max_chars]
        return ""

    def _history_entities(self, history: list[dict]) -> list[str]:
        """Entities of earlier user turns, most recent first (assistant turns mention too much)."""
        out: list[str] = []
        for turn in reversed(history[-10:]):
            if isinstance(turn, dict) and turn.get("role") == "user" and isinstance(turn.get("content"), str):
                for e in self.entities.find(turn["content"]):
                    if e not in out:
                        out.append(e)
        return out

    def _intent(self, text: str, ents: list[str], cats: list[str], followup: bool) -> tuple[str, list[Erratum]]:
        if INJECTION.search(text):
            return "refuse", []
        if OUT_OF_SCOPE.search(text):
            return "refuse", []
        if not ents and not cats and not DOMAIN.search(text):
            if CHAT.search(text):
                return "chat", []
            if not self.on_topic(text):
                return "refuse", []
        if not ents and not cats and LIST.search(text) and ALL_CATEGORIES.search(text):
            return "list", []  # "give me all the categories": the taxonomy itself
        if not ents and not cats and TECHNIQUES.search(text):
            return "list", []  # "what kinds of virtualization are there?": the technique concepts
        if not ents and ARTICLE.search(text) and MISTAKES.search(text):
            return "list", []  # "what does the article get wrong?": the errata themselves
        errata = self.match_errata(text, ents)
        techs = [e for e in ents if self.corpus.notes[e].kind != "concept"]
        listing = LIST.search(text) and (cats or (ents and all(self.corpus.notes[e].kind == "concept" for e in ents)) or not ents)
        if listing and (cats or not errata):  # "文章里提到的容器运行时有哪些" lists; it does not correct
            return "list", errata
        if errata and (CORRECT_SOURCE.search(text) or CORRECT_CHECK.search(text)):
            return "correct", errata
        if listing:
            return "list", errata
        yes_no = YES_NO.search(text) and not _strong_compare(text)
        if len(ents) >= 2 and not (len(techs) == 1 and CLASSIFY.search(text) and not _strong_compare(text)):
            # A yes/no question about one thing ("那用它必须装 docker 吗") is not a request for a table.
            if _strong_compare(text) or (not yes_no and (COMPARE.search(text) or followup or len(techs) >= 2)):
                return "compare", errata
        if techs and (CLASSIFY.search(text) or cats):
            return "classify", errata
        if ents and not cats and CLASSIFY.search(text):  # "is paravirtualization a kind of hardware-assisted ...?"
            return "classify", errata
        return "explain", errata

    def match_errata(self, text: str, ents: list[str]) -> list[Erratum]:
        """Errata about the named entities, ranked by how much of the claim's wording the question shares."""
        q = _terms(text)
        scored = []
        for e in self.corpus.errata:
            shared = set(ents) & set(e.entities)
            if not shared:
                continue
            overlap = len(q & self._errata_terms[e.id]) / max(1, len(q))
            scored.append((len(shared) + 2 * overlap, e))
        scored.sort(key=lambda x: -x[0])
        return [e for _, e in scored]


_FILLER = re.compile(r"what about|how about|and (what|how) about|\band\b|\bthen\b|那么|那|呢|的|还有|[\s?？!！.。,，、]+", re.I)


def _only_names(text: str, matcher: AliasMatcher) -> bool:
    """Whether a follow-up is just names plus filler ("那 WebAssembly 呢？", "what about Xen?")."""
    norm = normalize(text)
    for start, end, _ in reversed(matcher.find_spans(norm)):
        norm = norm[:start] + " " + norm[end:]
    return not _FILLER.sub("", norm)


def _substitute(previous: str, matcher: AliasMatcher, new: list[str], names: dict[str, str]) -> str:
    """The previous question with its entity names replaced by the new entities' names (first-named first)."""
    norm = normalize(previous)
    spans = matcher.find_spans(norm)
    if not spans:
        return norm
    old_ids = list(dict.fromkeys(e for _, _, e in spans))
    mapping = {old: new[min(i, len(new) - 1)] for i, old in enumerate(old_ids)}
    for start, end, eid in reversed(spans):
        norm = norm[:start] + names[mapping[eid]] + norm[end:]
    return norm


def _strong_compare(text: str) -> bool:
    return bool(
        re.search(
            r"比较|对比|区别|不同|差异|异同|相比|一样|相同|一个意思|共同点|相似|\bvs\.?\b|versus|compar|differ|same|similar|alike",
            text,
            re.I,
        )
    )


def _terms(text: str) -> set[str]:
    """Cheap language-neutral terms: Latin words and Chinese character bigrams."""
    t = normalize(text)
    words = set(re.findall(r"[a-z][a-z0-9\-]+", t))
    han = re.sub(r"[^\u4e00-\u9fff]", "", t)
    return words | {han[i : i + 2] for i in range(len(han) - 1)}
