import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["ANONYMIZED_TELEMETRY"] = "False"

from bot.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private copy of the real corpus that a test may break."""
    dst = tmp_path / "corpus"
    shutil.copytree(REPO / "corpus", dst)
    return dst


@pytest.fixture
def settings(tmp_path: Path, corpus_copy: Path) -> Settings:
    """Fresh data dir, the real corpus (copied), fake embeddings: fast and isolated."""
    return Settings(corpus_dir=corpus_copy, data_dir=tmp_path / "data", embeddings="fake")


@pytest.fixture(scope="session")
def real_bot(tmp_path_factory):
    """The bot as users get it (default embedder, real corpus), built once for the session."""
    from bot.chain import Bot
    from bot.embeddings import embeddings_name, make_embeddings
    from bot.indexing import ingest

    s = Settings(data_dir=tmp_path_factory.mktemp("data"))
    emb = make_embeddings(s.embeddings)
    ingest(s, emb, embeddings_name(emb))
    return Bot.from_settings(s, emb)
