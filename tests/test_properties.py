"""Property tests (hypothesis, bounded): the text normaliser, sentence splitter, chunker and /api/ask's request checks."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.chunking import MAX_CHARS, chunk_document
from bot.corpus import Document
from bot.settings import Settings
from bot.text import clean, normalize, split_sentences

FAST = hsettings(max_examples=300, deadline=None)
# Any text at all, weighted towards the characters that cause trouble.
_tricky = st.sampled_from(
    list("\x00\x01\x1b\x7f\t\n\r \u00a0\u3000\u200b\u200d\u2028\ufeff\ud800\udfff。！？；.!?") + ["\r\n", "e\u0301", "ﬁ", "①"]
)
texts = st.lists(st.one_of(st.characters(), _tricky, st.text(max_size=8)), max_size=40).map("".join)


def _unwanted(ch: str) -> bool:
    """Control (other than newline and CR), format (zero-width, BOM) or surrogate characters."""
    return (
        unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\r"
    ) or ch in "\u200b\u200c\u200d\u200e\u200f\u2028\u2029\ufeff"


@FAST
@given(texts)
@example("e\x00\u0301")  # a dropped character between a letter and its accent
@example("\x80\x9f")  # C1 controls
def test_clean_and_normalize_are_idempotent_and_drop_control_characters(text: str) -> None:
    once = clean(text)
    assert clean(once) == once
    assert not any(_unwanted(ch) for ch in once)
    once.encode("utf-8")  # no lone surrogates: everything downstream can encode it
    key = normalize(text)
    assert normalize(key) == key
    assert not any(_unwanted(ch) or ch in "\n\r\t" for ch in key)
    assert key == key.strip() and "  " not in key


@FAST
@given(texts)
def test_split_sentences_loses_no_visible_character(text: str) -> None:
    pieces = split_sentences(text)
    assert all(p and p == p.strip() for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())


_words = st.text(alphabet=st.sampled_from(list("abcXYZ019 ,虚拟化容器内核")), min_size=1, max_size=148)
_sentence = st.builds(lambda w, end: w.strip() + end, _words, st.sampled_from([".", "。", "？", "!"])).filter(
    lambda s: len(s) > 1
)
_line = st.one_of(
    _sentence,
    st.builds(" ".join, st.lists(_sentence, min_size=1, max_size=6)),
    st.builds(lambda s: "- " + s, _sentence),
    st.builds(lambda w: "## " + w.strip(), _words).filter(lambda h: h.strip("# ")),
    st.just(""),
)


@FAST
@given(st.lists(_line, max_size=60))
def test_chunks_are_never_empty_and_stay_under_a_bound(lines: list[str]) -> None:
    body = "\n".join(lines)
    doc = Document("notes/x", Path("x.md"), {}, body, 1)
    chunks = chunk_document(doc, "X", lambda path, text: (), "corpus/notes/x.md")
    for c in chunks:
        assert c.text.strip() == c.text and c.text
        # Whole sentences up to MAX_CHARS, plus at most one sentence of overlap and the spaces between.
        assert len(c.text) <= 2 * MAX_CHARS
    body_chars = "".join(ch for line in lines if not line.startswith("## ") for ch in line if not ch.isspace())
    kept = "".join(ch for c in chunks for ch in c.text if not ch.isspace())
    assert set(body_chars) <= set(kept)  # nothing outside a heading is dropped


# --- /api/ask never answers 500, whatever JSON arrives -----------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
_turn = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", ""]), "content": _json})
_bodies = st.one_of(
    _json,
    st.fixed_dictionaries({"question": _json}),
    st.fixed_dictionaries({"question": st.text(max_size=60), "history": st.lists(_turn, max_size=4) | _json}),
    st.fixed_dictionaries(
        {"question": st.sampled_from(["KVM?", "Docker 和 KVM 有什么区别？", "它呢？", ""])}, optional={"x": _json}
    ),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from bot.chain import Bot
    from bot.embeddings import FakeEmbeddings
    from bot.indexing import ingest
    from bot.web import create_app

    s = Settings(data_dir=tmp_path_factory.mktemp("props") / "data", embeddings="fake", rate_limit=0)
    ingest(s, FakeEmbeddings(), "fake")
    with TestClient(create_app(s, Bot.from_settings(s, FakeEmbeddings())), raise_server_exceptions=False) as c:
        yield c


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_api_ask_answers_any_json_with_an_answer_or_a_4xx(client: TestClient, body) -> None:
    r = client.post("/api/ask", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 422), (r.status_code, r.text[:200])
    assert ("text" if r.status_code == 200 else "error") in r.json()


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200) | texts.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_api_ask_answers_any_bytes_with_an_answer_or_a_4xx(client: TestClient, raw: bytes) -> None:
    r = client.post("/api/ask", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 422), (r.status_code, r.text[:200])
