"""Text handling shared by ingest and questions: normalising, language, sentences, tokens."""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import unicodedata

# Control, format (Unicode category Cf: zero-width, bidi overrides, word joiners, tags) and other
# invisible characters, and lone surrogates (a JSON "\ud800" escape, or argv bytes that were not UTF-8):
# invisible text must not make a question that looks empty non-empty, nor reach an "asked:" echo,
# and a surrogate cannot even be encoded, so it would crash the embedder or a log line.
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\ud800-\udfff"
    r"\U000e0001-\U000e007f\U000e0100-\U000e01ef]"
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")


def clean(text: str) -> str:
    """NFKC, drop control, zero-width and surrogate characters, plain apostrophes for typographic ones
    ("won’t", which the cues spell "won't"), collapse runs of spaces; keeps case and newlines."""
    # Drop first, then NFKC: dropping after could join "e", NUL, U+0301 into a new "é" on the next call.
    text = unicodedata.normalize("NFKC", _CONTROL.sub("", text)).translate(_APOSTROPHES)
    text = re.sub(r"[ \t]+", " ", text)
    return text.strip()


@functools.cache
def _names() -> dict[str, list[str]]:
    import tomllib
    from pathlib import Path

    return tomllib.loads((Path(__file__).parent / "lexicon" / "names.toml").read_text(encoding="utf-8"))


LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9\-]{2,}")  # a Latin word as questions write names
_CAMEL_PART = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_CAMEL_STEP = re.compile(r"[a-z][A-Z]")


def camel_parts(word: str) -> list[str]:
    """The lower-case words of a name written together: "AppleSilicon" -> [apple, silicon]. A word with no
    lower-to-upper step ("KVM", "OS-level", "hardware-assisted") is one part."""
    if not _CAMEL_STEP.search(word):
        return [word.lower()]
    return [p.lower() for p in _CAMEL_PART.findall(word)]


_PAIR_GAP = re.compile(r"[ \t]+")


def word_pairs(text: str) -> set[tuple[str, str]]:
    """Adjacent Latin words, lower case, that only a space separates ("shadow page", "guest boot")."""
    low = text.lower()  # matched and sliced in one string: lower() may change a text's length
    ms = list(LATIN_WORD.finditer(low))
    return {
        (a.group(), b.group())
        for a, b in itertools.pairwise(ms)
        if _PAIR_GAP.fullmatch(low[a.end() : b.start()]) and len(a.group()) > 2 and len(b.group()) > 2
    }


def english_share(word: str) -> float:
    """A Latin word's frequency in general English (0 for a word English does not use: "dom0", "kvm")."""
    return _english_share(word.lower())


@functools.cache
def _english_share(word: str) -> float:
    """A Latin word's frequency in general English, from wordfreq's word lists (shipped in the package)."""
    from wordfreq import word_frequency  # imported here: its list loads on first use

    return word_frequency(word, "en")


@functools.cache
def _opencc(config: str):
    import opencc

    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional Chinese as the simplified script and mainland wording the corpus uses ("虛擬機器" ->
    "虚拟机", "作業系統" -> "操作系统"), by OpenCC. Text already in simplified characters is left alone:
    the phrase conversion would also turn a simplified "核心" (core) into "内核" (kernel)."""
    if not has_han(text) or _opencc("t2s").convert(text) == text:
        return text
    return _opencc("tw2sp").convert(text)


def normalize(text: str) -> str:
    """The key used for matching: cleaned, lower-cased, single-spaced."""
    return re.sub(r"\s+", " ", clean(text).lower()).strip()


def detect_lang(text: str) -> str:
    """'zh' when Chinese characters carry the question, else 'en'."""
    han = len(_HAN.findall(text))
    latin = len(LATIN_WORD.findall(text))
    return "zh" if han and han * 2 >= latin else "en"


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))


# A sentence ends at Chinese 。！？； (kept with the sentence), or at . ! ? followed by a space,
# a line end or the end of text (so "2.6.20" stays whole). An English ';' joins clauses that
# read badly alone, so it does not end a sentence.
_SENT_END = re.compile(r"(?<=[。！？；])|(?<=[.!?])(?=\s|$)")


def asked_sentences(text: str, most: int = 3) -> list[str]:
    """The sentences of a multi-sentence text that ask something (end with a question mark), first ones
    first: in a post, the question proper among its title and context. Empty for a one-sentence text."""
    sentences = split_sentences(text)
    if len(sentences) < 2:
        return []
    return [t for t in sentences if is_question(t)][:most]


_CLAUSE_END = re.compile(r"(?<=[，,。；;！!？?\n])|(?<=\.)(?=\s)")
# A clause asks with a question mark, a final particle, or an A-not-A / 能否 form ("能不能适配…", "是否支持…").
# In English, a clause also asks when it opens like a question or asks indirectly ("I wonder whether …").
_ASKING = re.compile(
    r"([?？]\s*$|吗|呢|么|能不能|可不可以|是不是|有没有|能否|是否|可否"
    r"|^\s*(is|are|does|do|can|could|will|would|should|how|why|what|which|when|where)\b"
    r"|\b(wonder|wondering|understand|know|sure|clear)\s+(if|whether)\b)",
    re.I,
)


def asking_clauses(text: str) -> str:
    """The clauses that ask ("…？", "…吗"), joined: in "我的节点本身就是虚拟机，能装 Kata 吗？" the
    question is the second clause, the first one is context. The whole text when no clause asks."""
    clauses = [c for c in _CLAUSE_END.split(text) if c.strip()]
    asking = [c for c in clauses if _ASKING.search(c)]
    return " ".join(asking) if asking and len(asking) < len(clauses) else text


def is_question(sentence: str) -> bool:
    """Whether a sentence asks (ends with a question mark, before closing quotes, brackets or bold)."""
    return sentence.rstrip(" \"'”」）)*").endswith(("?", "？"))


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences, punctuation kept at the end of its sentence."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(line.strip() for line in para.splitlines() if line.strip())
        for piece in _SENT_END.split(para):
            piece = piece.strip()
            if piece:
                out.append(piece)
    return out


# Words that carry no topic, in both languages: left out of tokens and of claim matching.
STOP_TERMS = frozenset(
    "的 了 是 在 和 与 及 或 也 都 就 而 吗 呢 啊 吧 么 什么 怎么 如何 哪 哪些 一 个 这 那 它 其 之".split()
) | set(
    "a an the is are was were be of to in on for and or vs versus with what which how does do it its "
    "as by at from that this than".split()
)


class Tokenizer:
    """jieba segmentation with every entity alias in the user dictionary, for BM25.

    Aliases such as 硬件辅助虚拟化, Hyper-V and VT-x stay whole tokens, and each alias occurrence
    also emits a canonical `ent:<id>` token, so 'k8s' and 'Kubernetes' and 'hyperv' match each other.
    jieba's dictionary is loaded a character at a time, as texts need it (see bot.jieba_dict):
    the same tokens as the whole dictionary, without its half-second load at every start.
    """

    _STOP = STOP_TERMS

    def __init__(self, aliases: dict[str, str]) -> None:
        import threading

        import jieba  # imported here, only when a tokenizer is built

        from bot.jieba_dict import ShardedDictionary

        jieba.setLogLevel(60)
        self._dictionary = ShardedDictionary.load()
        self._jieba = jieba.Tokenizer()
        self._jieba.FREQ, self._jieba.total, self._jieba.initialized = {}, self._dictionary.total, True
        self._loaded: set[str] = set()
        self._lock = threading.Lock()
        words = [alias for alias in aliases if " " not in alias]
        # Before add_word: it keeps a dictionary word's frequency for an alias's prefix, as with the full dictionary.
        self._need("".join(words))
        for alias in words:
            self._jieba.add_word(alias, freq=200000)
        self._matcher = AliasMatcher(aliases)

    def _need(self, text: str) -> None:
        """Load the dictionary words that start with a character of `text`, once per character."""
        if set(text) <= self._loaded:
            return
        with self._lock:
            missing = set(text) - self._loaded
            self._jieba.FREQ.update(self._dictionary.words(missing))  # no key in FREQ starts with these
            self._loaded |= missing

    def general_share(self, token: str) -> float:
        """How common a word is in general language: for Chinese, its share of jieba's dictionary counts (a
        word the dictionary lacks counts as once); for a Latin word, its frequency in general English
        (wordfreq), 0 for a word general English does not use ("dom0", "popek")."""
        if not has_han(token):
            return _english_share(token)
        self._need(token)
        return max(self._jieba.FREQ.get(token, 0), 1) / self._dictionary.total

    def query_tokens(self, text: str) -> list[str]:
        """A question's tokens, plus the Latin names the notes use for the Chinese company names it
        writes (bot/lexicon/names.toml: 苹果 -> apple), plus the words of names written together
        ("AppleSilicon" -> apple, silicon)."""
        toks = self.tokens(text)
        joined = [
            " ".join(parts)
            for w in LATIN_RUN.findall(text)
            if len(parts := camel_parts(w)) > 1 and not self._matcher.find(w)  # "VirtualBox" is one name
        ]
        toks += self.tokens(" ".join(joined)) if joined else []
        return toks + [latin for t in toks for latin in _names().get(t, ())]

    def tokens(self, text: str) -> list[str]:
        norm = normalize(text)
        self._need(norm)
        toks = [t for t in self._jieba.lcut_for_search(norm) if t.strip() and not _is_punct(t)]
        toks = [t for t in toks if t not in self._STOP]
        toks += [f"ent:{e}" for e in self._matcher.find(norm)]
        return toks


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PZS" for ch in token)


class AliasMatcher:
    """Finds entity aliases in text: whole words for Latin aliases, substrings for Chinese ones."""

    def __init__(self, aliases: dict[str, str]) -> None:
        # Longest first, so 'hyper-v' wins over a shorter alias inside it. A space in an alias
        # also matches a hyphen or nothing ('hyper v', 'hyper-v', 'hyperv' are one alias).
        variants: dict[str, str] = {}
        for alias, entity in aliases.items():
            a = normalize(alias)
            if not a:
                continue
            for v in {a, a.replace(" ", "-"), a.replace(" ", "")}:
                variants.setdefault(v, entity)
        self._items = sorted(variants.items(), key=lambda x: -len(x[0]))

    def find_spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, entity id) of every non-overlapping alias occurrence, in text order."""
        norm = normalize(text)
        taken = [False] * len(norm)
        spans = []
        for alias, entity in self._items:
            start = norm.find(alias)
            while start != -1:
                end = start + len(alias)
                if alias[-1].isascii() and alias[-1].isalpha() and norm[end : end + 1] == "s":
                    end += 1  # plural: "process virtual machines", "hypervisors"
                latin_ok = not (
                    (
                        alias[0].isascii()
                        and alias[0].isalnum()
                        and start > 0
                        and norm[start - 1].isascii()
                        and norm[start - 1].isalnum()
                    )
                    or (
                        alias[-1].isascii()
                        and alias[-1].isalnum()
                        and end < len(norm)
                        and norm[end].isascii()
                        and norm[end].isalnum()
                    )
                )
                if latin_ok and not any(taken[start:end]):
                    spans.append((start, end, entity))
                    for i in range(start, end):
                        taken[i] = True
                start = norm.find(alias, start + 1)
        return sorted(spans)

    def find(self, text: str) -> list[str]:
        """Entity ids mentioned in text, in order of first mention, without repeats."""
        return list(dict.fromkeys(e for _, _, e in self.find_spans(text)))


def alias_fingerprint(aliases: dict[str, str]) -> str:
    """A short hash of the alias dictionary: stored tokens are valid only for the dictionary that made them."""
    return hashlib.sha1("\n".join(f"{a}\t{e}" for a, e in sorted(aliases.items())).encode()).hexdigest()[:16]


def terms(text: str) -> set[str]:
    """Cheap language-neutral terms: Latin words and Chinese character bigrams."""
    t = normalize(text)
    words = set(re.findall(r"[a-z][a-z0-9\-]+", t))
    han = re.sub(r"[^\u4e00-\u9fff]", "", t)
    return words | {han[i : i + 2] for i in range(len(han) - 1)}
