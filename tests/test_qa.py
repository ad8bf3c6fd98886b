"""Curated Q&A pairs load with file-and-line errors, cover the corpus, and copy no evaluation question."""

import json
import re
from pathlib import Path

import pytest

from bot.corpus import load_corpus
from bot.errors import CorpusError
from bot.qa_match import normalize_phrasing, normalized_phrasings

REPO = Path(__file__).resolve().parent.parent


def test_pairs_cover_every_entity_in_both_languages():
    corpus = load_corpus(REPO / "corpus")
    assert len(corpus.qa) >= 400
    about = {e for p in corpus.qa for e in p.about}
    assert set(corpus.notes) - about == set(), "every entity needs curated pairs"
    for p in corpus.qa:
        assert all(p.answer[lang] and 2 <= len(p.questions[lang]) <= 4 for lang in ("zh", "en")), p.id


def test_no_pair_copies_an_evaluation_question():
    phrasings = normalized_phrasings(load_corpus(REPO / "corpus").qa)
    copied = [
        q
        for path in (REPO / "evals" / "datasets").glob("*.jsonl")
        for q in _questions(path)
        if normalize_phrasing(q) in phrasings
    ]
    assert copied == []


def _questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(corpus_copy: Path, text: str) -> None:
    (corpus_copy / "qa" / "zz-test.yaml").write_text(text, encoding="utf-8")


GOOD = """- id: kvm-test
  about: [kvm]
  ask: what
  cites: [kvm#what]
  q:
    zh: [KVM 到底是啥, KVM 是干什么的]
    en: [what even is kvm, kvm in one line]
  a:
    zh: KVM 是 Linux 内核里的虚拟化模块。
    en: KVM is the Linux kernel's virtualization module.
"""


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("about: [kvm]", "about: [kvmm]", r"zz-test\.yaml:2: `kvm-test`: `about` names unknown entity id\(s\) kvmm"),
        ("ask: what", "ask: whatever", r"zz-test\.yaml:3: `kvm-test`: `ask` must be one of"),
        ("cites: [kvm#what]", "cites: [kvm#intro]", r"zz-test\.yaml:4: `kvm-test`: cite `kvm#intro`"),
        (
            "en: [what even is kvm, kvm in one line]",
            "en: [what even is kvm]",
            r"zz-test\.yaml:5: `kvm-test`: `q.en` has 1 phrasings",
        ),
        ("    en: KVM is the Linux kernel's virtualization module.\n", "", r"zz-test\.yaml:8: `kvm-test`: `a` needs non-empty"),
        ("  about: [kvm]", "  about: [kvm", r"zz-test\.yaml:\d+: malformed YAML"),
    ],
)
def test_a_broken_pair_is_named_with_file_and_line(corpus_copy, old, new, error):
    assert old in GOOD
    _write(corpus_copy, GOOD.replace(old, new))
    with pytest.raises(CorpusError, match=error):
        load_corpus(corpus_copy)


def test_a_duplicate_pair_id_names_both_places(corpus_copy):
    _write(corpus_copy, GOOD + GOOD.replace("- id: kvm-test", "- id: kvm-test"))
    with pytest.raises(CorpusError, match=r"zz-test\.yaml:11: duplicate pair id `kvm-test` \(also at zz-test\.yaml:1\)"):
        load_corpus(corpus_copy)


def test_a_good_pair_loads(corpus_copy):
    _write(corpus_copy, GOOD)
    pair = next(p for p in load_corpus(corpus_copy).qa if p.id == "kvm-test")
    assert pair.cites == (("kvm", "what"),) and pair.line == 1 and pair.questions["en"][1] == "kvm in one line"


def test_a_post_naming_three_things_can_take_a_pair_about_two_of_them_but_two_names_need_an_exact_pair(real_bot):
    def best(text):
        q = real_bot.interpreter.interpret(text, [])
        ranked = real_bot.qa.ranked(q.standalone, q.entities, real_bot.retriever.embeddings.embed_query(q.standalone))
        return q.entities, (ranked[0].pair.id if ranked else None)

    ents, pair = best("Should I use Wine or a VM like VirtualBox to run a Windows program on Linux?")
    assert set(ents) >= {"wine", "hypervisor", "virtualbox"} and pair == "wine-or-vm"
    # Two names: a pair about one of them is no candidate ("why does LXC start fast" never takes Docker's).
    ents, pair = best("Why does LXC start faster than Docker?")
    assert set(ents) == {"lxc", "docker"} and (pair is None or {"lxc", "docker"} == set(_pair(pair).about))


def test_a_technique_named_beside_a_technology_that_uses_it_leaves_the_pair_to_the_technology(real_bot):
    """ "Docker containers" names Docker and containers (OS-level virtualization, Docker's technique): no pair is
    about both, so such a question never got a curated answer."""
    for text in ("What is a Docker container?", "what are docker containers"):
        q = real_bot.interpreter.interpret(text, [])
        ranked = real_bot.qa.ranked(q.standalone, q.entities, real_bot.retriever.embeddings.embed_query(q.standalone))
        assert set(q.entities) == {"docker", "os-level-virtualization"}
        assert ranked and ranked[0].pair.id == "docker-what-is"


def _pair(pair_id):
    return next(p for p in load_corpus(REPO / "corpus").qa if p.id == pair_id)


def test_a_classification_question_is_not_answered_by_a_practical_situation_that_shares_its_words(real_bot):
    # "Does WSL 2 use a VM?" and "Can I use WSL 2 inside a VM?" share every word; only the second is about nesting.
    for text in ("wsl2 用的是虚拟机吗", "wsl2 用的是虛擬機器嗎"):
        a = real_bot.ask(text)
        assert a.intent == "classify" and not (a.curated and _pair(a.curated).cites[0][1] == "practice"), a.curated
        assert "轻量级虚拟机" in a.text.split("\n\n")[0]
    # A practical question still gets its practical answer.
    assert real_bot.ask("虚拟机里能用 WSL 2 吗？").curated == "nested-virtualization-wsl-in-vm"


def test_a_pair_whose_answer_opens_with_a_verdict_is_never_phrased_as_what_is():
    # "iommu 组是什么意思" took "不能：IOMMU 组是…", and then so did "iommu是什么意思": a verdict answers
    # a yes/no question, and a "what is" phrasing drags the pair onto definition questions.
    from bot.lexicon import load_lexicon

    lex = load_lexicon()
    verdict = re.compile(r"^(不能|不是|不会|不行|不需要|不一定|可以|是的|需要)|^(Yes|No|Not)\b")
    wrong = [
        (p.id, q)
        for p in load_corpus(REPO / "corpus").qa
        for lang in ("zh", "en")
        if verdict.search(p.answer[lang])
        for q in p.questions[lang]
        if lex.cue("what").search(q) and not lex.cue("yes_no").search(q)
    ]
    assert wrong == []


def test_a_pair_clearly_ahead_answers_a_question_about_two_technologies_below_the_threshold(real_bot):
    """ "whats the diffrence between kvm and xen" (typo and all) scores under the threshold for the KVM-vs-Xen pair,
    with no other pair near it: the table used to answer instead of the curated difference."""
    assert real_bot.ask("whats the diffrence between kvm and xen").curated == "kvm-vs-xen"


def test_a_lead_is_not_enough_about_one_technology_or_for_a_classification(real_bot):
    # About one technology (and "a VM"), the best remaining pair is another question about it.
    assert real_bot.ask("Does running code on the CLR sandbox it the way a virtual machine would?").curated != "dotnet-clr-is-vm"
    # "Which kind is Wine?" is not "Wine or a VM, which should I use?" ...
    assert real_bot.ask("wine是模拟器还是虚拟机").curated != "wine-or-vm"
    # ... while "which of the two types?" is answered by its curated pair.
    assert real_bot.ask("Is Xen a type 1 or a type 2 hypervisor?").curated == "xen-type-1-or-2"
