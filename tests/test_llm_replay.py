"""The LLM path scored like the composer: recorded replies of a capable chat model, replayed by prompt hash.

evals/recorded/llm-replies.jsonl holds, for evaluation cases, the reply a capable chat model wrote to
the exact prompt the bot sends (see bot/llm_replay.py for how to record them again). Replaying goes
through the real LLM path: prompt building, the citation check, the fallback to the composer.
"""

import json
from pathlib import Path

import pytest

from bot.chain import Bot
from bot.llm import LlmAnswerer
from bot.llm_replay import ReplayChat, _Capture, merge, prompt_key
from evals.scoring import evaluate, load_dataset

REPO = Path(__file__).resolve().parent.parent
RECORDED = REPO / "evals" / "recorded" / "llm-replies.jsonl"


def _recorded() -> list[dict]:
    return [json.loads(line) for line in RECORDED.read_text(encoding="utf-8").splitlines() if line.strip()]


def _cases(ids: set[str]):
    return [c for p in sorted((REPO / "evals" / "datasets").glob("*.jsonl")) for c in load_dataset(p) if c.id in ids]


@pytest.fixture(scope="module")
def replay_bot(real_bot):
    return Bot(
        real_bot.settings,
        real_bot.corpus,
        real_bot.retriever,
        LlmAnswerer(ReplayChat(path=str(RECORDED)), "replay:test"),
        real_bot.embedder,
        real_bot.qa,
    )


def test_the_recorded_prompts_are_the_prompts_the_bot_sends_today(real_bot):
    """Fails when the prompt, the passages or retrieval change: record the replies again.

    The dense search is exact (bot/store.py), so a fresh index ranks passages as the one the prompts were
    dumped from did; the 2% allows for two passages whose similarities tie to float precision and swap.
    (While the search was approximate, 8 of 384 prompts changed on one clean build.)"""
    rows = _recorded()
    assert len(rows) >= 300
    capture = _Capture()
    bot = Bot(
        real_bot.settings, real_bot.corpus, real_bot.retriever, LlmAnswerer(capture, "capture"), real_bot.embedder, real_bot.qa
    )
    stale = []
    by_id = {c.id: c for c in _cases({r["case"] for r in rows})}
    for row in rows:
        case = by_id[row["case"]]
        capture._seen.clear()
        bot.ask(case.question, case.history)
        sent = [m for m in capture._seen if m and m[0].type == "system"]
        if not sent or prompt_key(sent[-1]) != row["key"]:
            stale.append(row["case"])
    assert len(stale) <= 0.02 * len(rows), stale


def test_replayed_replies_pass_the_citation_check_and_the_evals(replay_bot):
    cases = _cases({r["case"] for r in _recorded()})
    results, summary = evaluate(replay_bot, cases)
    answered = [r for r in results if not r.expect_refuse]
    assert summary["citation_validity"] == 1.0 and summary["refusal_accuracy"] == 1.0
    assert summary["pass_rate"] >= 0.85
    assert summary["lead_rate"] >= 0.85
    fallbacks = [r.id for r in answered if r.backend == "composer"]
    assert len(fallbacks) <= 0.1 * len(answered), fallbacks


def test_a_prompt_never_recorded_falls_back_to_the_composer(replay_bot):
    answer = replay_bot.ask("KVM 和 Firecracker 的设备模型有多大差别？请详细说明。")
    assert answer.backend == "composer" and any("LLM unavailable" in n for n in answer.notices)


def test_merging_a_new_reply_for_a_case_replaces_its_old_one(tmp_path):
    def lines(path, rows):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    prompts = lines(tmp_path / "p.jsonl", [{"key": "new", "case": "kvm", "question": "KVM?"}])
    into = lines(
        tmp_path / "rec.jsonl",
        [
            {"key": "old", "case": "kvm", "question": "KVM?", "model": "m", "reply": "a"},
            {"key": "xen", "case": "xen", "question": "Xen?", "model": "m", "reply": "b"},
        ],
    )
    assert merge(prompts, lines(tmp_path / "r.jsonl", [{"key": "new", "reply": "c"}]), into, "m") == 2
    kept = {r["case"]: r for r in map(json.loads, into.read_text(encoding="utf-8").splitlines())}
    assert kept["kvm"]["key"] == "new" and kept["kvm"]["reply"] == "c" and kept["xen"]["reply"] == "b"
