"""Words as data: the cue patterns questions are read with and the phrases answers are written with.

Each language has `cues.<lang>.toml` and `phrases.<lang>.toml` beside this file. They are loaded and
validated once (same keys in every language, patterns that compile, the same {slots} in a phrase in
every language); errors name the file and line.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.errors import CorpusError

HERE = Path(__file__).resolve().parent
LANGS = ("zh", "en")
# English-only grammar slots ("a "/"an "); a Chinese template need not use them.
GRAMMAR_SLOTS = {"a", "a_cat", "a_ca", "a_cb"}


class LexiconError(CorpusError):
    """A cue or phrase file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Lexicon:
    cues: dict[str, re.Pattern]  # cue name -> one case-insensitive pattern over every language's entries
    axis_cues: dict[str, re.Pattern]  # comparison axis id -> the words that ask about it
    phrases: dict[str, dict[str, Any]]  # lang -> phrase key -> template (or a table of templates)

    def cue(self, name: str) -> re.Pattern:
        return self.cues[name]


@lru_cache(maxsize=4)
def load_lexicon(folder: Path = HERE) -> Lexicon:
    """Read and validate every cue and phrase file in `folder`."""
    cue_files = {lang: _read(folder / f"cues.{lang}.toml") for lang in LANGS}
    phrase_files = {lang: _read(folder / f"phrases.{lang}.toml") for lang in LANGS}
    _same_keys(cue_files, folder, "cues")
    _same_keys(phrase_files, folder, "phrases")
    cues = {}
    axis = {}
    for name in cue_files["zh"]:
        if name == "axis":
            for ax in cue_files["zh"]["axis"]:
                axis[ax] = _compile(folder, "cues", cue_files, ("axis", ax))
        else:
            cues[name] = _compile(folder, "cues", cue_files, (name,))
    _same_slots(phrase_files, folder)
    return Lexicon(cues, axis, phrase_files)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"{path}: {exc}") from exc  # tomllib's message ends "(at line N, column M)"


def _line(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    return 1


def _same_keys(files: dict[str, dict], folder: Path, kind: str, prefix: tuple[str, ...] = ()) -> None:
    tables = {lang: _get(f, prefix) for lang, f in files.items()}
    first = tables[LANGS[0]]
    for lang in LANGS[1:]:
        for key in set(first) ^ set(tables[lang]):
            where = lang if key in first else LANGS[0]
            path = folder / f"{kind}.{where}.toml"
            other = lang if where == LANGS[0] else LANGS[0]
            raise LexiconError(
                f"{folder / f'{kind}.{other}.toml'}:{_line(path, key)}: `{'.'.join((*prefix, key))}` is missing (it is in {path.name})"
            )
    for key, value in first.items():
        if isinstance(value, dict):
            _same_keys(files, folder, kind, (*prefix, key))


def _get(table: dict, path: tuple[str, ...]) -> dict:
    for key in path:
        table = table[key]
    return table


def _compile(folder: Path, kind: str, files: dict[str, dict], key: tuple[str, ...]) -> re.Pattern:
    patterns = []
    for lang in LANGS:
        path = folder / f"{kind}.{lang}.toml"
        value = _get(files[lang], key[:-1])[key[-1]]
        if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
            raise LexiconError(f"{path}:{_line(path, key[-1] + ' =')}: `{'.'.join(key)}` must be a list of non-empty strings")
        for p in value:
            try:
                re.compile(p)
            except re.error as exc:
                raise LexiconError(f"{path}:{_line(path, p)}: bad pattern {p!r} in `{'.'.join(key)}`: {exc}") from exc
            patterns.append(p)
    # An empty cue never matches (rather than matching everything).
    return re.compile("|".join(patterns) if patterns else r"(?!x)x", re.I)


def _slots(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def _same_slots(files: dict[str, dict], folder: Path, prefix: tuple[str, ...] = ()) -> None:
    first = _get(files[LANGS[0]], prefix)
    for key, value in first.items():
        if isinstance(value, dict):
            _same_slots(files, folder, (*prefix, key))
            continue
        if isinstance(value, list):  # a list of sentences (example questions): strings in every language
            for lang in LANGS:
                items = _get(files[lang], prefix)[key]
                path = folder / f"phrases.{lang}.toml"
                if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
                    raise LexiconError(f"{path}:{_line(path, key)}: `{'.'.join((*prefix, key))}` must be a list of strings")
            continue
        want = _slots(value) - GRAMMAR_SLOTS
        for lang in LANGS[1:]:
            other = _get(files[lang], prefix)[key]
            path = folder / f"phrases.{lang}.toml"
            if not isinstance(other, str):
                raise LexiconError(f"{path}:{_line(path, key)}: `{'.'.join((*prefix, key))}` must be a string")
            got = _slots(other) - GRAMMAR_SLOTS
            if got != want:
                raise LexiconError(
                    f"{path}:{_line(path, key)}: `{'.'.join((*prefix, key))}` has slots {sorted(got)}, "
                    f"but phrases.{LANGS[0]}.toml has {sorted(want)}"
                )
