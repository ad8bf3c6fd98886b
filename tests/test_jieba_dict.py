"""jieba's dictionary loaded a character at a time segments exactly as the whole dictionary does."""

import json
import random
from pathlib import Path

import jieba

from bot.chunking import chunk_corpus
from bot.corpus import load_corpus
from bot.jieba_dict import ShardedDictionary
from bot.text import AliasMatcher, Tokenizer

REPO = Path(__file__).resolve().parent.parent


class WholeDictionaryTokenizer(Tokenizer):
    """The tokenizer as it was before bot.jieba_dict: jieba's whole dictionary, loaded up front."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self._jieba = jieba.Tokenizer()
        for alias in aliases:
            if " " not in alias:
                self._jieba.add_word(alias, freq=200000)
        self._matcher = AliasMatcher(aliases)

    def _need(self, text: str) -> None:
        pass


def test_tokens_are_the_whole_dictionarys_on_corpus_questions_and_random_text():
    corpus = load_corpus(REPO / "corpus")
    aliases = corpus.alias_map()
    lazy, whole = Tokenizer(aliases), WholeDictionaryTokenizer(aliases)
    texts = [c.embed_text() for c in chunk_corpus(corpus)]
    for path in sorted((REPO / "evals" / "datasets").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                texts += [case["question"], *(t["content"] for t in case.get("history", []))]
    rng = random.Random(14)
    joined = "".join(texts)
    for _ in range(2000):  # pieces cut anywhere, and characters the corpus never uses
        start = rng.randrange(len(joined))
        texts.append(joined[start : start + rng.randrange(1, 40)])
        texts.append(
            "".join(chr(rng.choice([rng.randrange(0x4E00, 0x9FA5), rng.randrange(32, 127)])) for _ in range(rng.randrange(1, 30)))
        )
    assert [lazy.tokens(t) for t in texts] == [whole.tokens(t) for t in texts]


def test_damaged_cache_is_rebuilt(tmp_path):
    first = ShardedDictionary.load(tmp_path)
    (cached,) = tmp_path.glob("jieba-*.marshal")
    cached.write_bytes(b"not marshal data")
    again = ShardedDictionary.load(tmp_path)
    assert again.total == first.total and again.words("虚") == first.words("虚")
    assert ShardedDictionary.load(tmp_path).words("虚") == first.words("虚")  # read back from the rewritten file
    assert "虚拟" in first.words("虚") and "拟" not in first.words("虚")
