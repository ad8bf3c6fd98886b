"""jieba's dictionary split by first character, so a process loads only the words its texts can use.

jieba keeps its whole prefix dictionary (about 500k words and word prefixes) in one marshal blob
that takes about half a second to load at every start. Segmenting a text only ever looks up
strings that start at one of the text's own characters: the DAG holds, for each position, the
dictionary prefixes starting there; the route scores and the HMM fallback look up those same
strings, and search mode's 2- and 3-grams come from inside the words. So a dictionary that holds
every word starting with a character of the text segments it exactly as the full one does.
The split is made once from jieba's own dictionary and kept in the user's cache directory.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

FORMAT = 1  # bump when the file's layout changes; older files are then rebuilt


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "virt-qa-bot"


class ShardedDictionary:
    """jieba's default dictionary: its total frequency and, per first character, that character's words."""

    def __init__(self, total: int, shards: dict[str, bytes]) -> None:
        self.total = total
        self._shards = shards  # first character -> marshal'd {word or prefix: frequency}

    def words(self, chars: Iterable[str]) -> dict[str, int]:
        """Every dictionary word and word prefix starting with one of `chars` (prefixes have frequency 0)."""
        out: dict[str, int] = {}
        for ch in chars:
            blob = self._shards.get(ch)
            if blob is not None:
                out.update(marshal.loads(blob))
        return out

    @classmethod
    def load(cls, directory: Path | None = None) -> ShardedDictionary:
        """The split of the installed jieba's dictionary, from the cache, built and cached if missing or stale."""
        path = (directory or cache_dir()) / f"jieba-{_source_key()}.marshal"
        try:
            fmt, total, shards = marshal.loads(path.read_bytes())
            if fmt == FORMAT:
                return cls(total, shards)
        except (OSError, EOFError, ValueError, TypeError):
            pass  # missing, or damaged: rebuild it
        built = cls.build()
        built._save(path)
        return built

    @classmethod
    def build(cls) -> ShardedDictionary:
        """Read jieba's dictionary file the way jieba does (`gen_pfdict`) and split it (about 1.5 s)."""
        import jieba

        freq, total = jieba.Tokenizer.gen_pfdict(jieba.Tokenizer().get_dict_file())
        by_char: dict[str, dict[str, int]] = {}
        for word, f in freq.items():
            by_char.setdefault(word[0], {})[word] = f
        return cls(total, {ch: marshal.dumps(words) for ch, words in by_char.items()})

    def _save(self, path: Path) -> None:
        # Written whole and renamed, so a process reading at the same time never sees half a file;
        # a cache that cannot be written only means the next process builds it again.
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(marshal.dumps((FORMAT, self.total, self._shards)))
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)


def _source_key() -> str:
    """Names the dictionary file the split was made from: jieba's version and the file's size and mtime."""
    import jieba

    st = (Path(jieba.__file__).parent / jieba.DEFAULT_DICT_NAME).stat()
    return f"{jieba.__version__}-{st.st_size}-{st.st_mtime_ns}"
