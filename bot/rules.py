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
    cue: Callable[[str], bool]

    @property
    def names_nothing(self) -> bool:
        return not self.entities and not self.categories

    @property
    def listing(self) -> bool:
        return bool(self.cue("list") and (self.categories or self.concepts_only or not self.entities))

    @property
    def strong_compare(self) -> bool:
        return self.cue("strong_compare")


def _compares(f: Facts) -> bool:
    if len(f.entities) < 2:
        return False
    # "Is paravirtualization a kind of X?" names two things but asks for one classification.
    if len(f.techs) == 1 and f.cue("classify") and not f.strong_compare:
        return False
    yes_no = f.cue("yes_no") and not f.strong_compare
    # A yes/no question about one thing ("那用它必须装 docker 吗") is not a request for a table.
    return f.strong_compare or (not yes_no and (f.cue("compare") or f.followup or len(f.techs) >= 2))


# The rules, in order: the first whose test holds decides the intent. tests/test_intent.py has a case for each.
RULES: tuple[tuple[str, Callable[[Facts], bool], Intent], ...] = (
    ("injection", lambda f: f.cue("injection"), Intent.REFUSE),
    ("out-of-scope", lambda f: f.cue("out_of_scope"), Intent.REFUSE),
    ("small-talk", lambda f: f.names_nothing and not f.cue("domain") and f.cue("chat"), Intent.CHAT),
    ("off-topic", lambda f: f.names_nothing and not f.cue("domain") and not f.on_topic, Intent.REFUSE),
    # "Is Nutanix AHV a type 1 hypervisor?": a product no note covers, asked about with our concepts only,
    # is answered "not covered", never with another entity's card.
    ("not-covered", lambda f: f.uncovered and not f.techs and len(f.text) <= SHORT_QUESTION, Intent.EXPLAIN),
    ("all-categories", lambda f: f.names_nothing and f.cue("list") and f.cue("all_categories"), Intent.LIST),
    ("techniques", lambda f: f.names_nothing and f.cue("techniques"), Intent.LIST),
    ("article-mistakes", lambda f: not f.entities and f.cue("article") and f.cue("mistakes"), Intent.LIST),
    # "文章里提到的容器运行时有哪些" lists; it does not correct.
    ("list-named", lambda f: f.listing and bool(f.categories or not f.errata), Intent.LIST),
    ("correct", lambda f: bool(f.errata) and (f.cue("correct_source") or f.cue("correct_check")), Intent.CORRECT),
    ("list", lambda f: f.listing, Intent.LIST),
    ("compare", _compares, Intent.COMPARE),
    ("classify", lambda f: bool(f.techs) and bool(f.cue("classify") or f.categories), Intent.CLASSIFY),
    # "is paravirtualization a kind of hardware-assisted ...?"
    ("classify-concept", lambda f: bool(f.entities) and not f.categories and f.cue("classify"), Intent.CLASSIFY),
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
