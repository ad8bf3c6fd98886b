"""The composer's answers on hand-made hits, without an index: every intent and list kind, both languages.

tests/golden/composer.json holds the text the current phrases and rules compose for each question in
tests/golden/questions.json; a changed phrase or rule changes it, and this test fails until the golden
file is regenerated on purpose (see tests/golden/__init__.py).
"""

import re

import pytest
from golden import ask, check, compose, corpus, fetch, questions

from bot.chunking import Chunk
from bot.compose import Composer
from bot.compose.citations import Citations
from bot.compose.compare import key_difference
from bot.compose.explain import mmr_sentences
from bot.question import Intent, ListKind
from bot.retrieve import Hit
from bot.text import detect_lang

CASES = questions()
QUESTIONS = [ask(c) for c in CASES]
COMPOSED = [compose(q) for q in QUESTIONS]
ACTUAL = [{"question": c["question"], "answer": text} for c, (text, _) in zip(CASES, COMPOSED, strict=True)]
GOLDEN = check("composer.json", ACTUAL)


@pytest.mark.parametrize("i", range(len(ACTUAL)), ids=[c["question"][:40] for c in ACTUAL])
def test_answer_matches_the_golden_text(i):
    assert ACTUAL[i] == GOLDEN[i]


def test_the_golden_questions_reach_every_intent_and_list_kind():
    assert {q.intent for q in QUESTIONS} == set(Intent)
    assert {q.list_kind for q in QUESTIONS if q.intent == Intent.LIST} == set(ListKind) - {ListKind.NONE, ListKind.ARTICLE_GROUPS}


@pytest.mark.parametrize("i", range(len(ACTUAL)), ids=[c["question"][:40] for c in ACTUAL])
def test_answers_are_in_the_askers_language_and_cite_only_given_chunks(i):
    q, (text, cites) = QUESTIONS[i], COMPOSED[i]
    if not q.intent.answers_from_corpus:
        return
    assert detect_lang(re.sub(r"\[\d+\]|[|*#>\-]", " ", text)) == q.lang
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
    assert markers <= {c.n for c in cites}


def test_yes_no_classification_opens_with_the_verdict():
    by_question = {c["question"]: q for c, q in zip(CASES, QUESTIONS, strict=True)}
    yes = by_question["KVM 是一型虚拟机监控器吗？"]
    assert compose(yes)[0].startswith("是的，KVM 属于「一型")
    which = by_question["Is VirtualBox type 1 or type 2?"]
    assert compose(which)[0].startswith("VirtualBox is a “Type-2")


# Questions as people post them: a title, then the question, then context. Written here, not taken
# from any evaluation set.
POSTED = {
    "two names, a problem": "VMware Workstation won’t start since I enabled Hyper-V. It says VT-x is not available.",
    "two names, why": "Docker Desktop on WSL 2. Why does it still want the Virtual Machine Platform turned on?",
    "two names, yes/no mid-text": "关掉 Hyper-V 以后 VirtualBox 还能用吗？我的系统是 win10 专业版，谢谢",
    "title, then yes/no": "Nested VMs on my laptop. Can I run KVM inside a VirtualBox guest?",
}


@pytest.mark.parametrize("name", POSTED)
def test_a_posted_question_naming_two_technologies_gets_an_answer_not_a_comparison_table(name):
    q = ask({"question": POSTED[name], "history": []})
    assert q.intent != Intent.COMPARE
    assert "|---|" not in compose(q)[0]


def test_yes_no_is_read_where_the_question_is_not_only_at_the_start_or_end():
    assert ask({"question": POSTED["title, then yes/no"], "history": []}).yes_no
    assert ask({"question": POSTED["two names, yes/no mid-text"], "history": []}).yes_no


def test_a_problem_report_opens_with_the_points_that_bear_on_it_and_ends_with_the_caveat():
    q = ask({"question": POSTED["two names, a problem"], "history": []})
    assert q.trouble  # matched though the post uses a typographic apostrophe
    text, cites = compose(q)
    first, *_, last = [p for p in text.split("\n\n") if p.strip()]
    assert re.search(r"\[\d+\]", first) and cites  # a cited point first...
    assert "diagnos" in last and "diagnos" not in first  # ...and what the notes cannot do, last


def test_an_answer_does_not_open_with_a_sentence_that_leans_on_an_unseen_one():
    from bot.chunking import Chunk

    text = (
        "Intel's extension introduces VMX operation, so that a hypervisor can run guests directly. "
        "This is what VT-x does: add to the CPU the VMX root and non-root modes and the VMCS."
    )
    chunk = Chunk("c1", "notes/intel-vt-x", text, "Intel VT-x", "English > How it works", "en", "x.md#how", ("intel-vt-x",))
    q = ask({"question": "What does VT-x add to the CPU?", "history": []})
    tokens = lambda s: re.findall(r"[a-z0-9\-]+", s.lower())  # noqa: E731
    picked = _two_from(q, chunk, tokens)
    assert picked[0][1].startswith("Intel's extension") and len(picked) == 2


@pytest.mark.parametrize(
    "leaning",
    [
        "Nor is VT-x what adds the VMX root and non-root modes and the VMCS to the CPU.",
        "Likewise VT-x adds to the CPU the VMX root and non-root modes and the VMCS.",
        "还有人以为 VT-x 给 CPU 加上了 VMX root 和 non-root 模式以及 VMCS。",
    ],
)
def test_a_sentence_that_continues_another_never_opens(leaning):
    from bot.lexicon import load_lexicon

    assert load_lexicon().cue("anaphor").search(leaning)
    assert not load_lexicon().cue("anaphor").search("VT-x adds to the CPU the VMX root and non-root modes.")


@pytest.mark.parametrize(
    ("question", "opening"),
    [
        ("What does VT-x add to the CPU?", "VT-x gives"),  # not about the article: the fact opens
        ("What does the article say VT-x adds to the CPU?", "The article says"),  # asked about it
    ],
)
def test_an_answer_opens_with_what_the_article_says_only_when_asked(question, opening):
    from golden import corpus

    from bot.chunking import Chunk
    from bot.compose import Composer
    from bot.compose.explain import _article_aside

    text = (
        "The article says what VT-x does add to the CPU, beside Hyper-V and KVM. "
        "VT-x gives the processor a root mode for the hypervisor and a guest mode."
    )
    chunk = Chunk("c1", "notes/intel-vt-x", text, "Intel VT-x", "English > How it works", "en", "x.md#how", ("intel-vt-x",))
    q = ask({"question": question, "history": []})
    tokens = lambda s: re.findall(r"[a-z0-9\-]+", s.lower())  # noqa: E731
    picked = _two_from(q, chunk, tokens, article=_article_aside(Composer(corpus()).kit, q))
    assert picked[0][1].startswith(opening) and len(picked) == 2


def test_a_note_sentence_that_asks_is_never_picked_as_an_answer():
    from bot.chunking import Chunk
    from bot.compose.explain import mmr_sentences
    from bot.retrieve import Hit

    text = "Can I still run Docker with VT-d turned off? Docker on Linux needs neither VT-x nor VT-d."
    chunk = Chunk("c1", "notes/iommu", text, "IOMMU", "English > In practice", "en", "x.md#practice", ("iommu",))
    q = ask({"question": "Can I run Docker with VT-d turned off?", "history": []})
    tokens = lambda s: re.findall(r"[a-z0-9\-]+", s.lower())  # noqa: E731
    picked = mmr_sentences(q, [Hit(chunk, 1.0)], 2, tokens, lambda t: 1.0, best_first=True)
    assert [s for _, s in picked] == ["Docker on Linux needs neither VT-x nor VT-d."]


def test_every_pair_of_notes_has_a_key_difference_in_both_languages():
    """A product beside a concept ("WSL" and "a VM") or two techniques once got an empty "Key difference:"."""
    kit = Composer(corpus()).kit
    notes = sorted(corpus().notes.values(), key=lambda n: n.id)
    empty = [
        (lang, a.id, b.id)
        for lang in ("zh", "en")
        for i, a in enumerate(notes)
        for b in notes[i + 1 :]
        if not key_difference(kit, a, b, lang, Citations([], fetch)).strip()
    ]
    assert empty == []


@pytest.mark.parametrize(
    ("question", "words"),
    [("Full virtualization vs paravirtualization?", ("modif",)), ("全虚拟化和半虚拟化有什么区别？", ("修改",))],
)
def test_two_techniques_are_told_apart_first_by_what_defines_them(question, words):
    """Full and paravirtualization differ in whether the guest is modified; that opens the comparison."""
    text = compose(ask({"question": question, "history": []}))[0]
    first = text.split("\n", 1)[0]
    assert any(w in first for w in words), first


def _two_from(q, chunk: Chunk, tokens, **extra) -> list[tuple[Chunk, str]]:
    """The two sentences an answer-first reply takes from one chunk, with the composer's anaphor cue."""
    from bot.lexicon import load_lexicon

    return mmr_sentences(
        q, [Hit(chunk, 1.0)], 2, tokens, lambda t: 1.0, best_first=True, anaphor=load_lexicon().cue("anaphor"), **extra
    )


def _hit(text: str, n: int = 0) -> Hit:
    chunk = Chunk(f"t:{n}", "notes/t", text, "T", "English > What it is", "en", "corpus/notes/t.md", ("kvm",))
    return Hit(chunk, 1.0 / (n + 1), {"hand": n + 1})


def test_a_flattened_list_is_never_picked_as_a_sentence_and_a_bulleted_one_loses_its_mark():
    q = ask({"question": "How does KVM work?", "history": []})
    hits = [
        _hit(
            "- **Type-1 (bare-metal) hypervisor** (virtualization: yes): Xen, KVM - **Type-2** (virtualization: yes): VirtualBox"
        ),
        _hit("The mapping: - The article's group: KVM → Type-1 hypervisor; Xen → Type-1 hypervisor", 1),
        _hit("- KVM turns the Linux kernel into a hypervisor that runs guests with VT-x or AMD-V.", 2),
    ]
    picked = [s for _, s in mmr_sentences(q, hits, 4, lambda t: t.lower().split(), lambda t: 1.0)]
    assert picked == ["KVM turns the Linux kernel into a hypervisor that runs guests with VT-x or AMD-V."]


@pytest.mark.parametrize("question", ["Docker 是虚拟机吗？", "LXC 是不是虚拟机？"])
def test_a_question_that_only_names_things_gets_no_correction_of_the_article(question):
    """ "Docker 是虚拟机吗" shares only names with the article's claim about Docker and container
    virtualization; it does not touch that claim, so no erratum box."""
    q = ask({"question": question, "history": []})
    assert q.intent == Intent.CLASSIFY and "⚠️" not in compose(q)[0]


def test_a_question_that_restates_the_claim_still_gets_the_correction():
    q = ask({"question": "Docker 和 K8s 都是容器虚拟化技术吗？", "history": []})
    assert "⚠️" in compose(q)[0]


@pytest.mark.parametrize(
    ("question", "opening"),
    [
        ("Is KVM the same thing as QEMU?", "No, KVM and QEMU are not the same thing."),
        ("KVM 和 QEMU 是一回事吗？", "不是，KVM 和 QEMU 不是一回事。"),
    ],
)
def test_asked_whether_two_things_are_one_the_comparison_opens_with_no(question, opening):
    assert compose(ask({"question": question, "history": []}))[0].startswith(opening)


def test_two_things_at_the_same_time_is_not_asking_whether_they_are_the_same():
    text = compose(ask({"question": "Can I run WSL2 and VirtualBox at the same time?", "history": []}))[0]
    assert "not the same" not in text


@pytest.mark.parametrize(
    ("a", "b", "lang", "named"),
    [
        # "VM" is inside "JVM" and "虚拟机" inside "Java 虚拟机": neither stands for the hypervisor in the JVM note.
        ("jvm", "hypervisor", "en", ("kvm", "hyper-v", "vmware", "hypervisor", "system virtual machine")),
        ("jvm", "hypervisor", "zh", ("kvm", "hyper-v", "vmware", "系统虚拟机", "虚拟机监控")),
        ("xen", "hyper-v", "en", ("hyper-v",)),
    ],
)
def test_the_key_difference_opens_with_a_sentence_that_names_the_other(a, b, lang, named):
    kit = Composer(corpus()).kit
    notes = corpus().notes
    first = key_difference(kit, notes[a], notes[b], lang, Citations([], fetch)).split(" [", 1)[0].lower()
    assert any(n in first for n in named), first


def test_asked_for_the_steps_the_reply_opens_with_the_practical_section():
    """ "How can I enable X?" opened with how X works inside (L0 emulating VMX for L1), not with the command."""
    text = compose(ask({"question": "How can I enable nested virtualization for a Hyper-V guest?", "history": []}))[0]
    assert "ExposeVirtualizationExtensions" in text.split(". ", 1)[0]


@pytest.mark.parametrize(
    ("question", "opening"),
    [
        (
            "WSL 2: more of a VM or a container?",
            "WSL (Windows Subsystem for Linux) is an “OS-managed lightweight VM (subsystem)”: it uses",
        ),
        (
            "WSL 2 算虚拟机还是容器？",
            "WSL (Windows Subsystem for Linux) 属于「由操作系统托管的轻量级虚拟机（子系统）」：它采用的是",
        ),
    ],
)
def test_neither_kind_says_what_it_is_and_which_of_the_two_it_uses(question, opening):
    """ "WSL uses Hypervisor (VMM)." answered "a VM or a container?" without saying what WSL is."""
    assert compose(ask({"question": question, "history": []}))[0].startswith(opening)


@pytest.mark.parametrize(
    ("question", "part"),
    [("What is a VMCS?", "vmcs"), ("what is qemu-img", "qemu-img"), ("什么是 TCG？", "tcg"), ("WASI 是什么", "wasi")],
)
def test_asked_about_a_part_of_something_the_reply_opens_with_that_part_not_its_owners_card(question, part):
    """ "What is a VMCS?" opened with Intel VT-x's summary card; "what is qemu-img" with QEMU's."""
    q = ask({"question": question, "history": []})
    assert q.parts == (part,)
    text = compose(q)[0]
    assert not text.startswith("**")
    assert part in text.split(" [", 1)[0].lower()


def test_the_same_fact_from_two_notes_is_said_once():
    """Both vendors' notes say NPT came about a year before EPT; the reply said it twice."""
    q = ask({"question": "When did NPT and EPT arrive?", "history": []})
    hits = [
        _hit("AMD's NPT arrived in 2007, about a year before Intel's EPT.", 0),
        _hit("AMD's NPT arrived in 2007, about a year before Intel's EPT arrived in 2008.", 1),
        _hit("Nehalem brought EPT.", 5),
    ]
    picked = [s for _, s in mmr_sentences(q, hits, 2, lambda t: t.lower().split(), lambda t: 1.0)]
    assert sum("about a year before" in s for s in picked) == 1, picked


@pytest.mark.parametrize(
    ("text", "opening"),
    [
        (
            "WSL 2 needs the Virtual Machine Platform component. It runs on Windows Home too.",
            "WSL 2 runs on Windows Home too.",
        ),
        ("WSL 2 需要虚拟机平台组件；它在 Windows 家庭版上也能运行。", "WSL 2 在 Windows 家庭版上也能运行。"),
    ],
)
def test_a_sentence_whose_pronoun_is_the_note_s_entity_gets_the_name_back_and_can_open(text, opening):
    """ "它在包括 Windows 10 家庭版在内的所有版本上都能用" answered the question but could never open the reply."""
    from bot.compose.explain import _subject_resolver

    chunk = Chunk("c1", "notes/wsl", text, "WSL", "English > In practice", detect_lang(text), "wsl.md#practice", ("wsl",))
    q = ask(
        {"question": "Does WSL 2 run on Windows Home?" if detect_lang(text) == "en" else "家庭版能运行 WSL 2 吗", "history": []}
    )
    tokens = lambda s: re.findall(r"[a-z0-9\-]+|[\u4e00-\u9fff]", s.lower())  # noqa: E731
    picked = _two_from(q, chunk, tokens, resolve=_subject_resolver(Composer(corpus()).kit))
    assert picked[0][1] == opening


def test_a_pronoun_after_a_sentence_about_something_else_keeps_its_place():
    from bot.compose.explain import _subject_resolver

    resolve = _subject_resolver(Composer(corpus()).kit)
    chunk = Chunk("c1", "notes/wsl", "", "WSL", "English > In practice", "en", "wsl.md#practice", ("wsl",))
    assert resolve(chunk, "The error 0x80370102 appears at start.", "It runs on Home too.") == "It runs on Home too."
    assert resolve(chunk, "WSL 2 is a VM.", "It is possible to run it on Home.") == "It is possible to run it on Home."


@pytest.mark.parametrize("question", ["JVM、Dalvik、ART 有什么区别？", "JVM vs Dalvik?"])
def test_a_concept_named_by_its_example_is_answered_by_the_example_not_compared_as_a_kind(question):
    """ "JVM、Dalvik、ART 有什么区别" got a JVM-vs-process-VM table: Dalvik names the process VM only as an example."""
    q = ask({"question": question, "history": []})
    text = compose(q)[0]
    assert q.intent == Intent.EXPLAIN and "|" not in text
    assert "DEX" in text.split(" [", 1)[0]


@pytest.mark.parametrize(("question", "card"), [("Is Xen a type 1 or a type 2 hypervisor?", False), ("Xen 属于哪一类？", True)])
def test_a_classification_that_opens_with_the_category_does_not_repeat_it_as_a_card(question, card):
    """ "Xen is a “Type-1 (bare-metal) hypervisor”." was followed by "**Xen** — Category: **Type-1 …**"."""
    text = compose(ask({"question": question, "history": []}))[0]
    assert ("— Category" in text or "— 分类" in text) is card, text[:200]
