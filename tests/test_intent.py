"""The question reader's decisions, question by question, without an index (well under a second).

Each row of tests/golden/intent.json is what bot/intent.py decides for a question in
tests/golden/questions.json: the intent, the rule that chose it, the entities, the list kind and the
yes/no and either-or flags. A changed cue word or rule changes a row, and this test fails until the
golden file is regenerated on purpose (see tests/golden/__init__.py).
"""

import re
import tomllib

import pytest
from golden import ask, check, questions

from bot.lexicon import HERE as LEXICON
from bot.lexicon import LexiconError, load_lexicon
from bot.rules import RULES


def decide(case: dict) -> dict:
    q = ask(case)
    return {
        "question": case["question"],
        "history": case["history"],
        "intent": q.intent.value,
        "rule": q.rule,
        "entities": list(q.entities),
        "categories": list(q.categories),
        "axes": list(q.axes),
        "list_kind": q.list_kind.value,
        "yes_no": q.yes_no,
        "either_or": q.either_or,
        "uncovered": list(q.uncovered),
        "standalone": q.standalone,
    }


ACTUAL = [decide(c) for c in questions()]
GOLDEN = check("intent.json", ACTUAL)


@pytest.mark.parametrize("i", range(len(ACTUAL)), ids=[c["question"][:40] for c in ACTUAL])
def test_decision_matches_the_golden_row(i):
    assert ACTUAL[i] == GOLDEN[i]


def test_every_rule_decides_at_least_one_golden_question():
    fired = {row["rule"] for row in ACTUAL}
    named = {name for name, _, _ in RULES} | {"needs-hardware", "list-by-axis"}
    assert named - fired == set(), "add a question to tests/golden/questions.json for each rule"


def test_every_cue_is_used_by_the_code():
    lex = load_lexicon()
    source = "".join(
        p.read_text(encoding="utf-8")
        for p in [
            LEXICON.parent / "intent.py",
            LEXICON.parent / "rules.py",
            LEXICON.parent / "qa_match.py",
            LEXICON.parent / "llm.py",
            *(LEXICON.parent / "compose").glob("*.py"),
        ]
    )
    unused = [name for name in lex.cues if f'"{name}"' not in source]
    assert unused == []


def test_every_phrase_key_is_used_by_the_composer_or_a_front_end():
    lex = load_lexicon()
    folders = ("compose", "web", "slack")
    source = "".join(p.read_text(encoding="utf-8") for f in folders for p in (LEXICON.parent / f).glob("*.py"))
    keys = [k for k, v in lex.phrases["en"].items() if not isinstance(v, dict)]
    unused = [k for k in keys if not re.search(rf"""["']{k}["']""", source)]
    assert unused == []


@pytest.mark.parametrize(
    ("file", "old", "new", "error"),
    [
        (
            "cues.en.toml",
            "\nmistakes = [",
            "\nmistake_words = [",
            r"cues\.(en|zh)\.toml:\d+: `mistake",
        ),  # a cue in one language only
        ("cues.zh.toml", "'对吗',", "'对吗(',", r"cues\.zh\.toml:\d+: bad pattern '对吗\('"),  # a pattern that does not compile
        (
            "phrases.zh.toml",
            "{a} 和 {b} 同属",
            "{a} 和 {x} 同属",
            r"phrases\.(zh|en)\.toml:\d+: `cat_same` has slots",
        ),  # slots differ
    ],
)
def test_a_broken_lexicon_file_is_named_with_file_and_line(tmp_path, file, old, new, error):
    for p in LEXICON.glob("*.toml"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    text = (tmp_path / file).read_text(encoding="utf-8")
    assert old in text
    (tmp_path / file).write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(LexiconError, match=error):
        load_lexicon(tmp_path)


def test_lexicon_files_are_valid_toml_with_the_same_keys():
    loaded = {p.name: tomllib.loads(p.read_text(encoding="utf-8")) for p in LEXICON.glob("*.toml")}
    assert set(loaded["cues.zh.toml"]) == set(loaded["cues.en.toml"])
    assert set(loaded["phrases.zh.toml"]) == set(loaded["phrases.en.toml"])


@pytest.mark.parametrize(
    ("question", "not_intent"),
    [
        # A choice between two technologies wants them compared, not a yes/no about the first one.
        ("做高性能包处理用 eBPF 还是 DPDK？各自适合什么场景", "classify"),
        ("Docker or LXC for my home lab?", "classify"),
        # "是不是" and "is ... a" about something other than a class do not ask for a classification.
        ("我用 virsh list 看不到在 virt-manager 里建的虚拟机，是不是丢了？", "classify"),
        ("How long is the downtime during live migration of a KVM VM?", "classify"),
        # A class named in the context ("…本身就是云上的虚拟机") is not what the asking clause asks.
        ("我的 Kubernetes 节点本身就是云上的普通虚拟机，能装 Kata 吗？", "classify"),
        # A list of a technology's own parts is about that technology, not its category's members.
        ("Firecracker 的微虚拟机里提供了哪些设备？", "list"),
        ("Firecracker 的微虚拟机里提供了哪些设备？", "classify"),
        ("What devices does a Firecracker microVM provide?", "list"),
        # An "or" in a post's context is no request for a VirtualBox-vs-VT-x table.
        ("How do I enable VT-x for VirtualBox? I tried the BIOS or another setting, it does not help.", "compare"),
        # What it can do with a VM ("是否可以分给多个虚拟机", "是不支持虚拟机") is not what it is.
        ("一张网卡是否可以分给多个虚拟机用？", "classify"),
        ("这个插件是不支持虚拟机吗？只能装在物理机上？", "classify"),
        # A class's name ("lightweight VM", "轻量虚拟机") in a question about what the thing requires.
        ('About this "lightweight VM"\nDoes this "lightweight VM" require the Hyper-V role, SLAT, Intel VT-x?', "classify"),
        ("WSL2 的轻量虚拟机需要开启 Hyper-V 吗？", "classify"),
        # Cleaning turns "，" into ","; a pattern that stops at "，" must stop at "," too. "还是" is an "or".
        ("进程看到的 CPU 数是宿主的，还是相对于容器限制的数量呢？", "classify"),
        # In a problem report "和" joins the things that fail; it asks for no table.
        ("BIOS 里已经开了，可是 VMware Workstation 和安卓模拟器仍然提示 VT-x 没有打开", "compare"),
        ("BIOS 里已经开了，安卓模拟器还是提示 VT-x 没有打开", "classify"),
        # An "or" between a product and a kind of thing, in a question about what something does to them.
        ("Virtual machines: does switching off virtualization in the BIOS prevent using VMware or VirtualBox?", "classify"),
        # Asked indirectly, with an "or" in the next sentence: whether Podman runs in a VM, not a table.
        ("I'm trying to understand if Podman will run inside a Windows VM. Neither the docs or the forums say.", "compare"),
        ("I'm trying to understand if Podman will run inside a Windows VM. Neither the docs or the forums say.", "classify"),
    ],
)
def test_a_question_is_not_read_as_another_kind(question, not_intent):
    q = ask({"question": question, "history": []})
    assert q.intent.value != not_intent


@pytest.mark.parametrize(
    "question",
    [
        "做高性能包处理用 eBPF 还是 DPDK？",
        "Docker or LXC for my home lab?",
        "Is it true that Docker is a virtual machine?",
        "我在用 Windows 11，WSL 2 算是虚拟机吗？",
        "Is KVM a type 1 or a type 2 hypervisor? I read that type 2 ones run on an OS, like VMware Workstation.",
        "KVM type 1 hypervisor?",
        "WSL 2 轻量虚拟机？",
    ],
)
def test_a_choice_or_a_check_still_gets_its_answer_kind(question):
    q = ask({"question": question, "history": []})
    assert q.intent.value == ("compare" if "还是" in question or " or " in question and "type" not in question else "classify")


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("cpu虛擬化技術有什麼用？", "cpu虚拟化技术有什么用？"),
        ("KVM 屬於哪一類虛擬化？", "KVM 属于哪一类虚拟化？"),
        ("Docker 與虛擬機有什麼區別？", "Docker 与虚拟机有什么区别？"),
    ],
)
def test_a_question_in_traditional_characters_is_read_like_its_simplified_twin(traditional, simplified):
    t, s = ask({"question": traditional, "history": []}), ask({"question": simplified, "history": []})
    assert (t.intent, t.entities, t.lang, t.text) == (s.intent, s.entities, s.lang, s.text)
    assert t.intent.value != "refuse"


def test_a_follow_up_after_a_traditional_turn_keeps_its_topic():
    q = ask({"question": "那它需要 VT-x 嗎？", "history": ["KVM 屬於哪一類虛擬化？"]})
    assert q.entities[0] == "kvm"


@pytest.mark.parametrize(
    ("question", "axis", "asked"),
    [
        # The asker's reason ("听说它性能最好") names an axis the question does not ask about...
        ("能不能把 VirtualBox 换成 KVM，听说它性能最好。", "performance", False),
        ("Can I move my VMs from VirtualBox to KVM? A friend says it starts faster.", "startup", False),
        # ... and where the asking clause names it, it is read.
        ("KVM 和 VirtualBox 哪个性能更好？", "performance", True),
        ("Which starts faster, KVM or VirtualBox?", "startup", True),
    ],
)
def test_the_axes_asked_about_are_read_from_the_clauses_that_ask(question, axis, asked):
    assert (axis in ask({"question": question, "history": []}).axes) == asked


def test_an_indirect_question_is_a_yes_no_question():
    q = ask({"question": "Not sure whether LXD can host Windows guests. Nothing in the docs.", "history": []})
    assert q.yes_no


@pytest.mark.parametrize("question", ["Why does it feel so slow inside a VM?", "它在虚拟机里为什么这么慢？"])
def test_a_follow_up_that_asks_why_is_not_a_comparison_with_the_last_topic(question):
    q = ask({"question": question, "history": ["What is QEMU?"]})
    assert q.entities[0] == "qemu" and q.intent.value != "compare"


def test_a_follow_up_naming_something_else_still_compares_with_the_last_topic():
    assert ask({"question": "And Xen?", "history": ["KVM vs VirtualBox?"]}).intent.value == "compare"


@pytest.mark.parametrize(
    "question", ["虚拟机运行变得十分缓慢，开机要好几分钟，如何解决？", "装好以后 VirtualBox 一直提示没有开启 VT-x"]
)
def test_a_slow_or_still_failing_setup_is_read_as_a_problem_report(question):
    q = ask({"question": question, "history": []})
    assert q.trouble


@pytest.mark.parametrize(
    ("question", "steps"),
    [
        ("How can I enable nested virtualization for a Hyper-V guest?", True),
        ("怎么给 Hyper-V 虚拟机开启嵌套虚拟化？", True),
        ("How does nested virtualization work?", False),
        ("KVM 是怎么工作的？", False),
    ],
)
def test_asking_for_the_steps_is_not_asking_for_the_mechanism(question, steps):
    q = ask({"question": question, "history": []})
    assert q.howto is steps and q.asks_mechanism is not steps


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("EPT/NPT 二级页表是干什么用的", "explain"),
        ("What are EPT and NPT for?", "explain"),
        ("EPT vs NPT?", "compare"),
        ("Intel VT-x 和 AMD-V 是干什么用的", "compare"),
    ],
)
def test_parts_named_side_by_side_are_asked_about_not_their_owners_compared(question, intent):
    """ "EPT/NPT 二级页表是干什么用的" got an Intel VT-x vs AMD-V table."""
    q = ask({"question": question, "history": []})
    assert set(q.entities) == {"intel-vt-x", "amd-v"} and q.intent.value == intent


@pytest.mark.parametrize(
    ("question", "main"),
    [
        ("Windows 家庭版没有 Hyper-V，还能用 WSL 2 吗", "wsl"),
        ("My laptop has VT-x disabled, will WSL2 work?", "wsl"),
        ("WSL 2 装好了，还能用 Hyper-V 吗", "hyper-v"),
    ],
)
def test_what_the_asking_clause_names_is_what_is_asked_about(question, main):
    """ "没有 Hyper-V，还能用 WSL 2 吗" was answered as a question about Hyper-V, the circumstance."""
    assert ask({"question": question, "history": []}).entities[0] == main


def test_a_phrase_another_field_owns_names_no_entity():
    """SR-IOV's "virtual function" is C++'s too: "virtual function vs pure virtual function" named the IOMMU note."""
    assert (
        ask({"question": "What's the difference between a virtual function and a pure virtual function?", "history": []}).entities
        == ()
    )


@pytest.mark.parametrize(
    ("question", "yes_no", "what"),
    [
        ("Can someone give me an explanation of what eBPF is?", False, True),
        ("Could you explain how KVM works?", False, True),
        ("Can I run Docker without VT-x?", True, False),
    ],
)
def test_a_request_put_politely_is_not_a_yes_no_question(question, yes_no, what):
    """ "Can someone give me an explanation of what eBPF is …?" opened with a sentence about sched_ext, as if asked yes or no."""
    q = ask({"question": question, "history": []})
    assert (q.yes_no, q.what) == (yes_no, what)


def test_chat_shorthand_is_no_product_name_and_asks_what():
    """ "Can someone ELI5, what a hyperviser is?" got "Our notes don't cover ELI5"."""
    q = ask({"question": "Can someone ELI5, what a hyperviser is?", "history": []})
    assert q.entities == ("hypervisor",) and q.uncovered == () and q.what and not q.yes_no
    assert ask({"question": "Is Nutanix AHV a type 1 hypervisor?", "history": []}).uncovered == ("Nutanix AHV",)


def test_a_part_written_without_the_space_between_latin_and_han_is_still_a_part():
    q = ask({"question": "简述Android虚拟机和JAVA虚拟机的区别", "history": []})
    assert q.parts == ("android 虚拟机",) and q.intent.value == "explain"
