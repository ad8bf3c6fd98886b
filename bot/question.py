"""The decision about a question, made once by bot/intent.py and only read afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.corpus import Erratum


class Intent(StrEnum):
    CLASSIFY = "classify"
    COMPARE = "compare"
    EXPLAIN = "explain"
    LIST = "list"
    CORRECT = "correct"
    REFUSE = "refuse"
    CHAT = "chat"

    @property
    def answers_from_corpus(self) -> bool:
        """Refusals and small talk are fixed replies; everything else is retrieved and composed."""
        return self not in (Intent.REFUSE, Intent.CHAT)


class ListKind(StrEnum):
    """What a list question enumerates."""

    NONE = ""  # not a list, or nothing to enumerate (the composer then explains)
    BY_AXIS = "by-axis"  # "哪些技术必须开 VT-x": technologies split by an axis value
    ALL_CATEGORIES = "all-categories"  # the taxonomy's categories
    CATEGORIES = "categories"  # the members of the categories named
    CONCEPT_MEMBERS = "concept-members"  # technologies using the concepts named
    TECHNIQUES = "techniques"  # the technique concepts ("what kinds of virtualization are there")
    ERRATA = "errata"  # the article's mistakes
    ARTICLE_GROUPS = "article-groups"  # the article's own grouping


@dataclass(frozen=True)
class Question:
    text: str  # what the user asked, cleaned (and truncated if too long)
    standalone: str  # the question with follow-up references resolved
    lang: str
    intent: Intent
    entities: tuple[str, ...]
    categories: tuple[str, ...] = ()  # taxonomy categories the question names
    errata: tuple[Erratum, ...] = ()  # errata the question touches, best first
    errata_overlap: dict[str, float] = field(default_factory=dict)  # erratum id -> share of question terms in the claim
    notices: tuple[str, ...] = ()
    axes: tuple[str, ...] = ()  # comparison axes the question asks about ("启动", "kernel")
    list_kind: ListKind = ListKind.NONE
    yes_no: bool = False  # "KVM 是一型吗", "Is Hyper-V type 2?": the answer opens with yes or no
    either_or: bool = False  # "type 1 or type 2?": the answer names the one that holds
    same: bool = False  # "X 和 Y 是一回事吗", "Is X the same as Y?": a comparison then opens with no
    how: bool = False  # "how does it work": the mechanism section answers
    howto: bool = False  # "how do I turn it on": the steps (the practice section) answer, not the mechanism
    why: bool = False  # "why is it fast": the reason answers
    trouble: bool = False  # a problem report ("报错", "fails to start"): not covered as troubleshooting
    what: bool = False  # "what is X", "tell me about X": the entity's summary answers
    about_article: bool = False  # the question is about the article itself
    asks_virtualization: bool = False  # "算不算虚拟化", "is it virtualization": the verdict answers
    followup: bool = False  # entities were carried over from earlier turns
    parts: tuple[str, ...] = ()  # the parts of named entities the question names ("EPT" of VT-x), normalised
    uncovered: tuple[str, ...] = ()  # product-like names no note covers ("Nutanix AHV")
    rule: str = ""  # the name of the rule that decided the intent (for tests and debugging)

    @property
    def asks_mechanism(self) -> bool:
        """Whether the mechanism answers: "how does it work?", "why is it fast?". "Why would I use it?" asks
        for what it is good for (the typical-use axis), not how it works."""
        return (self.how and not self.howto) or (self.why and "typical_use" not in self.axes)
