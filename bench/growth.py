"""Growth with corpus size: ingest time and query latency on synthetic corpora 1x, 10x, 100x the real one."""

from __future__ import annotations

import dataclasses
import gc
import time
import zlib
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from bench.synth import VARIANT_MARK, generate_corpus
from bot.settings import Settings
from evals.scoring import Case, percentile


class ReusedVectors(Embeddings):
    """Document vectors taken from the real index instead of re-embedded; queries use the real embedder.

    A reworded copy gets a vector of the same section in the original, plus seeded noise (cosine
    ~0.96), so the HNSW graph is not built over exact duplicates. This keeps the 100x run within
    minutes; the embedding time it skips is added back from the measured 1x rate as a projection.
    """

    def __init__(self, inner: Embeddings, name: str, originals: dict[str, list[float]], noise: float = 0.3) -> None:
        self.inner, self.name, self.noise = inner, name, noise
        self.by_text = originals
        self.by_head: dict[str, list[list[float]]] = {}
        for text, vec in originals.items():
            self.by_head.setdefault(text.split("\n", 1)[0], []).append(vec)
        self.reused = self.embedded = 0

    def _vec(self, text: str) -> list[float] | None:
        if text in self.by_text:
            return self.by_text[text]
        pool = self.by_head.get(VARIANT_MARK.sub("", text.split("\n", 1)[0]))
        if not pool:
            return None
        seed = zlib.crc32(text.encode())
        v = np.asarray(pool[seed % len(pool)])
        v = v + np.random.default_rng(seed).normal(0, self.noise / np.sqrt(len(v)), len(v))
        return (v / np.linalg.norm(v)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out = [self._vec(t) for t in texts]
        missing = [t for t, v in zip(texts, out, strict=True) if v is None]
        fresh = iter(self.inner.embed_documents(missing)) if missing else iter(())
        self.embedded += len(missing)
        self.reused += len(texts) - len(missing)
        return [v if v is not None else next(fresh) for v in out]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def index_vectors(settings: Settings) -> dict[str, list[float]]:
    """Embedded text -> vector, read back from the active generation of an existing index."""
    from bot.store import open_client, read_pointer

    client = open_client(settings)
    got = client.get_collection(read_pointer(client)["active"]).get(include=["documents", "embeddings"])
    return {d: list(map(float, e)) for d, e in zip(got["documents"], got["embeddings"], strict=True)}


def measure_growth(
    settings: Settings,
    scales: tuple[int, ...],
    cases: list[Case],
    workdir: Path,
    embed_s_per_chunk: float,
    embeddings: Embeddings | None = None,
    log=print,
) -> list[dict]:
    """Ingest time and query latency on synthetic corpora `scales` times the real one."""
    from bot.chain import Bot
    from bot.embeddings import embeddings_name, make_embeddings
    from bot.errors import BadQuestion, BotError
    from bot.indexing import ingest

    base = embeddings or make_embeddings(settings.embeddings)
    name = embeddings_name(base)
    originals = index_vectors(settings)
    rows = []
    for scale in scales:
        corpus_dir = workdir / f"corpus-{scale}x"
        synth = generate_corpus(settings.corpus_dir, corpus_dir, scale, seed=scale)
        s = dataclasses.replace(settings, corpus_dir=corpus_dir, data_dir=workdir / f"data-{scale}x", llm="")
        emb = ReusedVectors(base, name, originals)
        report = ingest(s, emb, name, rebuild=True)
        chunks = report.added
        row = {
            "scale": scale,
            "copies_per_note": synth.copies_per_note,
            "chunks": chunks,
            "ingest_s": round(report.seconds, 2),
            "vectors_reused": emb.reused,
            "vectors_embedded": emb.embedded,
            "ingest_projected_s": round(report.seconds + emb.reused * embed_s_per_chunk, 1),
        }
        rows.append(row)
        t0 = time.perf_counter()
        try:
            bot = Bot.from_settings(s, emb)
        except BotError as exc:  # a limit of the bot at this size is a result, not a crash of the benchmark
            row.update(query_p50_ms=None, query_p95_ms=None, retrieve_p95_ms=None, error=f"not measured: {exc}")
            log(f"  {scale}x: {chunks} chunks, ingest {row['ingest_s']} s, bot does not load: {exc}")
            continue
        load_s = time.perf_counter() - t0
        lat, retrieve = [], []
        for case in cases:
            t = time.perf_counter()
            try:
                answer = bot.ask(case.question, case.history)
                retrieve.append(answer.timings_ms.get("retrieve", 0.0))
            except BadQuestion:
                pass
            lat.append((time.perf_counter() - t) * 1000)
        row.update(
            bot_load_s=round(load_s, 2),
            questions=len(cases),
            query_p50_ms=percentile(lat, 0.5),
            query_p95_ms=percentile(lat, 0.95),
            retrieve_p95_ms=percentile(retrieve, 0.95),
        )
        log(f"  {scale}x: {chunks} chunks, ingest {row['ingest_s']} s, query p95 {row['query_p95_ms']} ms")
        del bot
        gc.collect()
    if rows:
        for r in rows:
            r["chunks_x"] = round(r["chunks"] / rows[0]["chunks"], 1)
    return rows
