"""The composer's answers on hand-made hits, without an index: every intent and list kind, both languages.

tests/golden/composer.json holds the text the current phrases and rules compose for each question in
tests/golden/questions.json; a changed phrase or rule changes it, and this test fails until the golden
file is regenerated on purpose (see tests/golden/__init__.py).
"""

import re

import pytest
from golden import ask, check, compose, questions

from bot.question import Intent, ListKind
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
