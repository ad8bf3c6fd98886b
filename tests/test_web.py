"""The HTTP side of the web server (/api/ask, /healthz), the feedback store and the UI's renderers."""

import json
import time

import pytest
from fastapi.testclient import TestClient

from bot.answer import Answer, Citation
from bot.chain import Bot
from bot.embeddings import embeddings_name, make_embeddings
from bot.evaluation import load_dataset
from bot.feedback import FeedbackStore
from bot.indexing import ingest
from bot.settings import Settings
from bot.ui import render_answer, render_sources, render_taxonomy
from bot.web import create_app


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """Settings with an index built once for this module (real corpus, read only; fake embeddings)."""
    s = Settings(data_dir=tmp_path_factory.mktemp("web") / "data", embeddings="fake")
    emb = make_embeddings("fake")
    ingest(s, emb, embeddings_name(emb))
    return s, emb


@pytest.fixture(scope="module")
def fake_bot(indexed):
    s, emb = indexed
    return Bot.from_settings(s, emb)


@pytest.fixture
def client(indexed, fake_bot):
    with TestClient(create_app(indexed[0], fake_bot)) as c:
        yield c


def test_ask_returns_an_answer_with_citations(client):
    r = client.post("/api/ask", json={"question": "Docker 和 KVM 有什么区别？", "history": []})
    assert r.status_code == 200
    answer = r.json()
    assert answer["lang"] == "zh"
    assert {"docker", "kvm"} <= set(answer["entities"])
    assert "|" in answer["text"]  # a comparison comes as a Markdown table
    assert answer["citations"] and {"n", "doc_id", "entity", "title", "snippet", "source"} <= set(answer["citations"][0])
    assert answer["retrieved"] and answer["backend"] == "composer"


def test_ask_uses_history_for_a_followup(client):
    history = [{"role": "user", "content": "KVM 属于哪一类虚拟化？"}, {"role": "assistant", "content": "一型虚拟机监控器。"}]
    r = client.post("/api/ask", json={"question": "它需要硬件支持吗？", "history": history})
    assert r.status_code == 200
    assert "kvm" in r.json()["entities"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ("{not json", 400, "JSON"),
        ("[1, 2]", 422, "object"),
        ("{}", 422, "question"),
        ('{"question": 42}', 422, "string"),
        ('{"question": "KVM?", "history": "none"}', 422, "history"),
        ('{"question": "KVM?", "history": [{"role": "robot", "content": "x"}]}', 422, "history[0]"),
        ('{"question": "   "}', 400, "empty"),
    ],
)
def test_bad_input_gets_a_4xx_json_error(client, body, status, words):
    r = client.post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert words in r.json()["error"]


def test_a_huge_question_is_truncated_with_a_notice(client, fake_bot):
    r = client.post("/api/ask", json={"question": "KVM 是什么？" + "x" * 100_000})
    assert r.status_code == 200
    assert len(r.json()["question"]) <= fake_bot.settings.max_question_chars
    assert any("truncated" in n for n in r.json()["notices"])


def test_healthz_reports_index_backend_and_version(client, fake_bot):
    r = client.get("/healthz")
    assert r.status_code == 200
    h = r.json()
    assert h["ok"] is True and h["index"] is True
    assert h["chunks"] == len(fake_bot.retriever.chunks) > 0
    assert h["embedder"] == "fake" and h["llm"] == "composer"
    assert h["version"]
    assert "key" not in json.dumps(h).lower() and "secret" not in json.dumps(h).lower()


def test_missing_index_is_reported_and_asks_get_503(settings):
    with TestClient(create_app(settings)) as c:  # nothing ingested into this data dir
        h = c.get("/healthz")
        assert h.status_code == 503
        assert h.json()["index"] is False and "python ingest.py" in h.json()["error"]
        r = c.post("/api/ask", json={"question": "KVM 是什么？"})
        assert r.status_code == 503 and "python ingest.py" in r.json()["error"]
        assert c.get("/").status_code == 200  # the page still loads


def test_a_slow_answer_is_cut_off(indexed, fake_bot):
    class SlowBot:
        """Stands in for a bot whose model hangs."""

        def ask(self, question, history):
            time.sleep(2)
            return fake_bot.ask(question, history)

    slow = SlowBot()
    slow.corpus, slow.retriever, slow.embedder, slow.backend = fake_bot.corpus, fake_bot.retriever, "fake", "composer"
    with TestClient(create_app(indexed[0], slow, timeout_s=0.2)) as c:
        t0 = time.monotonic()
        r = c.post("/api/ask", json={"question": "KVM 是什么？"})
        assert r.status_code == 504 and "cut off" in r.json()["error"]
        assert time.monotonic() - t0 < 1.5


def test_rate_limit_answers_429(indexed, fake_bot):
    from dataclasses import replace

    with TestClient(create_app(replace(indexed[0], rate_limit=2), fake_bot)) as c:
        codes = [c.post("/api/ask", json={"question": "KVM?"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_feedback_round_trip_and_export(tmp_path, fake_bot):
    store = FeedbackStore(tmp_path / "feedback")
    disliked = fake_bot.ask("Docker 和 KVM 有什么区别？", [])
    liked = fake_bot.ask("What does Wine virtualize?", [])
    store.add("dislike", disliked, comment="missing the startup time")
    store.add("like", liked)
    rows = store.all()
    assert [r.verdict for r in rows] == ["dislike", "like"]
    assert (
        rows[0].question == disliked.question and "Docker" in rows[0].question and rows[0].comment == "missing the startup time"
    )
    assert rows[0].answer == disliked.text and rows[0].time.endswith("Z")
    assert {"docker", "kvm"} <= set(rows[0].entities)

    out = tmp_path / "cases.jsonl"
    assert store.export_cases(out) == 2
    cases = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert cases[0]["kind"] == "compare" and cases[0]["lang"] == "zh"
    assert cases[0]["expect"]["all"] == [] and {"docker", "kvm"} <= set(cases[0]["expect"]["sources"])
    assert cases[0]["feedback"]["verdict"] == "dislike"
    assert [c.id for c in load_dataset(out)] == [c["id"] for c in cases]  # the evals accept the file


def test_feedback_store_uses_wal(tmp_path, fake_bot):
    import sqlite3

    store = FeedbackStore(tmp_path / "feedback")
    store.add("like", fake_bot.ask("KVM?", []))
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_html_in_snippets_and_answers_shows_as_text():
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    cite = Citation(1, "notes/x", "x", evil, evil, "corpus/notes/x.md#" + evil, heading=evil)
    answer = Answer(text=f"| a | b |\n|---|---|\n| {evil} | 1 |", lang="en", intent="compare", entities=[], refused=False)
    answer.citations.append(cite)
    answer.notices.append(evil)
    assert "<script" not in render_sources(answer) and "<img" not in render_sources(answer)
    shown = render_answer(answer)
    assert "<script" not in shown and "<img" not in shown
    assert "| a | b |" in shown  # Markdown tables survive the escaping


def test_taxonomy_places_every_entity_with_what_it_virtualizes(fake_bot):
    page = render_taxonomy(fake_bot.corpus)
    for note in fake_bot.corpus.notes.values():
        assert f"<code>{note.id}</code>" in page
    for cat in fake_bot.corpus.categories.values():
        if cat.members:
            assert cat.name["en"].replace("&", "&amp;") in page
    assert "整台机器" in page  # KVM's "virtualizes" axis, in Chinese
