"""The rules that decide what a question asks: named, ordered, and tested one by one (tests/test_intent.py).

bot/intent.py gathers the facts about a question (what it names, which cue words it uses) into a
`Facts`; the first rule in RULES whose test holds decides the intent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.corpus import Erratum
from bot.question import Intent

# A question short enough to be about the name it carries ("Is Nutanix AHV a type 1 hypervisor?"); in a
# long pasted report an unknown capitalised word ("Appendix", "LTS") says nothing about coverage.
SHORT_QUESTION = 80
# A text this long is a post, not a one-line question.
LONG_POST = 100
# An alias that general English uses at least this often ("container", "wine", "glance", "rocket") is an
# everyday word; "hyper-v" (4.7e-6), "vt-x" and "vm" fall below it.
EVERYDAY_WORD_SHARE = 5e-6
# Share of a question's terms found in an erratum's claim for the question to restate that claim.
CLAIM_OVERLAP = 0.4


@dataclass(frozen=True)
class Facts:
    """What the rules look at: the text the intent is read from, and what it names."""

    text: str
    entities: tuple[str, ...]
    techs: tuple[str, ...]  # the named entities that are technologies, not concepts
    concepts_only: bool  # every named entity is a concept (and at least one is named)
    categories: tuple[str, ...]
    errata: tuple[Erratum, ...]
    followup: bool  # entities were carried over from earlier turns
    on_topic: bool
    uncovered: bool  # the question names a product no note covers
    claim_overlap: float  # the largest share of the question's terms found in one erratum's claim
    parts_only: bool  # every entity is named by a part of it only ("EPT/NPT 是干什么用的")
    concept_by_example: bool  # a concept is named only by an example of it ("Dalvik" for the process VM)
    cue: Callable[[str], bool]
    asks: Callable[[str], bool]  # a cue in the clauses that ask, not in the context around them

    @property
    def concepts_named(self) -> bool:
        return len(self.entities) > len(self.techs)

    @property
    def names_nothing(self) -> bool:
        return not self.entities and not self.categories

    @property
    def questions_a_claim(self) -> bool:
        return bool(self.errata) and (self.cue("article") or self.claim_overlap >= CLAIM_OVERLAP)

    @property
    def listing(self) -> bool:
        if self.techs and self.cue("list_other"):
            return False  # "Firecracker 的微虚拟机里提供了哪些设备？" is about Firecracker
        return bool(self.cue("list") and (self.categories or self.concepts_only or not self.entities))

    @property
    def asks_doing(self) -> bool:
        """The question asks what something needs or does, or reports a problem ("require the Hyper-V role?",
        "仍然提示 VT-x 没有打开"): a kind of thing it names is not what it asks about."""
        return self.asks("action") or self.cue("trouble")

    @property
    def strong_compare(self) -> bool:
        return self.cue("strong_compare")


def _compares(f: Facts) -> bool:
    if len(f.entities) < 2:
        return False
    # "JVM、Dalvik、ART 有什么区别" names the process-VM concept only through its examples: a JVM-vs-process-VM
    # table compares a thing with its own kind; the sentences about the examples answer.
    if f.concept_by_example:
        return False
    # "Is paravirtualization a kind of X?" names two things but asks for one classification.
    if len(f.techs) == 1 and f.asks("classify") and not f.strong_compare:
        return False
    # "用 eBPF 还是 DPDK？", "Docker or a VM?": a choice between two technologies is a comparison, not a yes/no.
    # ("Is KVM a type 1 or a type 2 hypervisor? ... VMware Workstation ..." is still a classification.)
    choice = f.asks("either_or") and len(f.techs) >= 2 and (f.cue("choose") or not f.asks("classify"))
    yes_no = f.cue("yes_no") and not f.strong_compare and not choice
    # A yes/no question about one thing ("那用它必须装 docker 吗") is not a request for a table.
    # Two technologies named with no comparison asked for: a table, unless the question asks how, why or
    # reports a problem ("VirtualBox won't run because of Hyper-V", "why does Docker need Hyper-V on WSL 2?").
    asks_more = f.cue("how") or f.cue("why") or f.cue("trouble")
    # Parts named side by side ("EPT/NPT 二级页表是干什么用的") are asked about, not their owners compared.
    plain = len(f.techs) >= 2 and not asks_more and not f.parts_only
    # The weak cues ("or", "better", 关系) count in the clauses that ask: a post's context uses them too.
    # A follow-up compares with the last topic only when it asks nothing else: "why is it so slow in a VM?"
    # after a QEMU question asks why, not for a QEMU-vs-hypervisor table.
    followup = f.followup and not asks_more
    # A problem report's "和" ("检测软件和模拟器仍然提示 VT-X 没有打开") joins the things that fail, it asks for no table.
    weak = f.asks("compare") and not f.cue("trouble")
    return f.strong_compare or (not yes_no and (weak or followup or plain))


# The rules, in order: the first whose test holds decides the intent. tests/test_intent.py has a case for each.
RULES: tuple[tuple[str, Callable[[Facts], bool], Intent], ...] = (
    ("injection", lambda f: f.cue("injection"), Intent.REFUSE),
    ("out-of-scope", lambda f: f.cue("out_of_scope"), Intent.REFUSE),
    ("small-talk", lambda f: f.names_nothing and not f.cue("domain") and f.cue("chat"), Intent.CHAT),
    ("off-topic", lambda f: f.names_nothing and not f.on_topic, Intent.REFUSE),
    # "Is Nutanix AHV a type 1 hypervisor?": a product no note covers, asked about with our concepts only,
    # is answered "not covered", never with another entity's card.
    ("not-covered", lambda f: f.uncovered and not f.techs and len(f.text) <= SHORT_QUESTION, Intent.EXPLAIN),
    ("all-categories", lambda f: f.names_nothing and f.cue("list") and f.cue("all_categories"), Intent.LIST),
    ("techniques", lambda f: f.names_nothing and f.cue("techniques"), Intent.LIST),
    ("article-mistakes", lambda f: not f.entities and f.cue("article") and f.cue("mistakes"), Intent.LIST),
    # "文章里提到的容器运行时有哪些" lists; it does not correct.
    ("list-named", lambda f: f.listing and bool(f.categories or not f.errata), Intent.LIST),
    # A correction needs the article named or its claim restated: "It says VT-x is not available" (an error
    # message) and "is it true that WSL 2 uses Hyper-V?" touch errata's entities without asking about them.
    ("correct", lambda f: f.questions_a_claim and (f.cue("correct_source") or f.cue("correct_check")), Intent.CORRECT),
    ("list", lambda f: f.listing, Intent.LIST),
    ("compare", _compares, Intent.COMPARE),
    # A category named in a question that asks what a thing needs or does is not a classification:
    # "Does the WSL 2 lightweight VM require the Hyper-V role?" (the `action` cue), nor in a problem report
    # ("模拟器仍然提示 VT-x 没有打开").
    (
        "classify",
        lambda f: bool(f.techs) and bool(f.asks("classify") or (f.categories and not (f.cue("list_other") or f.asks_doing))),
        Intent.CLASSIFY,
    ),
    # "wsl2 - vm or container?": one technology and a choice between kinds of thing asks which kind it is
    # (not in a problem report: in "模拟器还是提示没有打开 VT-x", 还是 means "still"; nor when it asks what a
    # thing does: "Does this prevent you from using VMware or VirtualBox?").
    (
        "classify-either-or",
        lambda f: len(f.techs) == 1 and f.concepts_named and f.asks("either_or") and not (f.cue("choose") or f.asks_doing),
        Intent.CLASSIFY,
    ),
    # "is paravirtualization a kind of hardware-assisted ...?"
    ("classify-concept", lambda f: bool(f.entities) and not f.categories and f.asks("classify"), Intent.CLASSIFY),
    ("explain", lambda f: True, Intent.EXPLAIN),
)


# Rules whose answer is fixed or a whole listing: no erratum applies to them.
NO_ERRATA_RULES = {
    "injection",
    "out-of-scope",
    "small-talk",
    "off-topic",
    "not-covered",
    "all-categories",
    "techniques",
    "article-mistakes",
}
