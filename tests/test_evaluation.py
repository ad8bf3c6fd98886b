"""`expect.lead` reads the reply's opening as shared/INTERFACES.md defines it, and the report counts it."""

import json

import pytest

from bot.answer import Answer
from bot.errors import DatasetError
from evals.scoring import load_dataset, opening, score_case, summarize


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("**KVM** is a *type-1* hypervisor [1]. It is in Linux. It uses VT-x.", "KVM is a type-1 hypervisor . It is in Linux."),
        ("KVM 是一型虚拟机监控器。[1]它在内核里！第三句。", "KVM 是一型虚拟机监控器。 它在内核里！"),
        ("| 维度 | A |\n|---|---|\n| x | y |", "| 维度 | A | | x | y |"),
        ("## Answer\n> No; it shares the kernel. More.", "Answer No; it shares the kernel."),
        ("- Version 2.6.20 shipped it. Then more. And more.", "Version 2.6.20 shipped it. Then more."),
    ],
)
def test_opening_is_the_first_two_sentences_of_prose(reply, expected):
    assert opening(reply) == expected


def _case(tmp_path, expect):
    path = tmp_path / "d.jsonl"
    row = {"id": "c1", "question": "Is KVM type 1?", "lang": "en", "kind": "classify", "origin": "x", "expect": expect}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return load_dataset(path)[0]


def test_lead_passes_only_when_the_answer_opens_with_it(tmp_path):
    case = _case(tmp_path, {"all": [["type-1"]], "lead": [["yes"], ["type-1", "type 1"]]})
    first = Answer(text="Yes: KVM is a type-1 hypervisor. More.", lang="en", intent="classify", entities=["kvm"], refused=False)
    buried = Answer(
        text="KVM is a Linux module. It runs VMs. Yes, it is a type-1 hypervisor.",
        lang="en",
        intent="classify",
        entities=["kvm"],
        refused=False,
    )
    results = [score_case(case, first, 1.0), score_case(case, buried, 1.0)]
    assert [r.lead_ok for r in results] == [True, False]
    assert all(r.passed for r in results)  # `all` still holds: only the lead tells them apart
    assert summarize(results)["lead_rate"] == 0.5


def test_bad_lead_groups_name_the_line(tmp_path):
    with pytest.raises(DatasetError, match=r"d\.jsonl:1: `expect.lead`"):
        _case(tmp_path, {"all": [], "lead": ["not a group"]})
