"""The stock LangChain tutorial recipe, as the benchmark's baseline: split, embed, Chroma, top-4, return the text.

What a developer gets from the LangChain RAG docs: every Markdown file loaded whole, cut by
RecursiveCharacterTextSplitter(1000, 200), embedded with all-MiniLM-L6-v2 (sentence-transformers),
stored in Chroma, answered by plain similarity top-4 with the retrieved text concatenated. No BM25,
no reranking, no refusals. Each chunk is tagged with an entity so hit@5 is scored the way ours is:
a note's chunks with the note's id, other chunks with the first entity they mention.
"""

from __future__ import annotations

import time
from pathlib import Path

from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from bot.answer import Answer
from bot.corpus import load_corpus
from bot.text import AliasMatcher, detect_lang

COLLECTION = "stock"
TOP_K = 4


def split_corpus(corpus_dir: Path) -> list[Document]:
    """The corpus as the tutorial splits it: raw files, 1000-character chunks with 200 overlap."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    corpus = load_corpus(corpus_dir)  # only for entity tags; the text is the raw files
    matcher = AliasMatcher(corpus.alias_map())
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    docs = []
    for path in sorted([corpus_dir / "article.md", *(corpus_dir / "notes").glob("*.md")]):
        note_id = path.stem if path.stem in corpus.notes else ""
        for i, piece in enumerate(splitter.split_text(path.read_text(encoding="utf-8"))):
            entity = note_id or next(iter(matcher.find(piece)), "")
            docs.append(Document(page_content=piece, id=f"{path.stem}:{i}", metadata={"source": path.name, "entity": entity}))
    return docs


def build(corpus_dir: Path, persist_dir: Path, embeddings: Embeddings) -> tuple[Chroma, float]:
    """Index the corpus the tutorial way; returns the store and the seconds it took."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    start = time.perf_counter()
    docs = split_corpus(corpus_dir)
    client = chromadb.PersistentClient(path=str(persist_dir), settings=ChromaSettings(anonymized_telemetry=False))
    store = Chroma(client=client, collection_name=COLLECTION, embedding_function=embeddings)
    store.add_documents(docs, ids=[d.id for d in docs])
    return store, time.perf_counter() - start


def open_store(persist_dir: Path, embeddings: Embeddings) -> Chroma:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(persist_dir), settings=ChromaSettings(anonymized_telemetry=False))
    return Chroma(client=client, collection_name=COLLECTION, embedding_function=embeddings)


def ask(store: Chroma, question: str) -> Answer:
    """Top-4 by similarity, text concatenated: the tutorial's 'stuff' answer without an LLM."""
    docs = store.similarity_search(question, k=TOP_K)
    return Answer(
        text="\n\n".join(d.page_content for d in docs),
        lang=detect_lang(question),
        intent="",
        entities=[],
        refused=False,
        retrieved=[
            {"chunk_id": d.id, "entity": d.metadata.get("entity", ""), "ranks": {"dense": i + 1}} for i, d in enumerate(docs)
        ],
        backend="stock-recipe",
    )
