"""Each private third-party access the bot relies on (bot/seams.py) still works with the installed versions.

If an upgrade renames one of these, this fails here, by name, rather than as "index corrupt" at run time.
"""

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma

from bot.embeddings import FakeEmbeddings
from bot.seams import chroma_collection, forget_chroma_client


def _client(path):
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def test_forget_chroma_client_makes_the_next_open_a_new_client(tmp_path):
    system = _client(tmp_path)._system
    assert _client(tmp_path)._system is system  # chromadb shares one system per path...
    forget_chroma_client(tmp_path)
    assert _client(tmp_path)._system is not system  # ...until it is forgotten


def test_chroma_collection_is_the_collection_behind_the_langchain_store(tmp_path):
    client = _client(tmp_path)
    store = Chroma(client=client, collection_name="seam", embedding_function=FakeEmbeddings())
    coll = chroma_collection(store)
    coll.add(ids=["a"], embeddings=[[0.1] * 256], documents=["precomputed"], metadatas=[{"k": "v"}])
    assert client.get_collection("seam").get(ids=["a"])["documents"] == ["precomputed"]
