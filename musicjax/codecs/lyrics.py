"""Lyrics and poem text as token ids: characters (CJK included), words, syllables aligned to the
notes of a melody, and pinyin for Chinese. A `Vocabulary` maps tokens to ids and back."""

from __future__ import annotations

import collections
import dataclasses
import json
import re
from typing import Iterable, Sequence

import numpy as np

from musicjax.data.score import SYLLABIC, Score

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")

# A word is a run of letters/digits; CJK ideographs and kana are one word each (no spaces in
# Chinese or Japanese text); every other character, whitespace included, is a token of its own, so
# that joining the tokens gives back the text exactly.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|\s|[^\w\s]", re.UNICODE)


def chars(text: str) -> list[str]:
    return list(text)


def words(text: str) -> list[str]:
    """Words, single CJK characters, single punctuation and whitespace: ''.join(words(t)) == t."""
    return _WORD.findall(text)


def pinyin(text: str) -> list[str]:
    """Each Chinese character as toneful-number pinyin ('zhong1'); other characters unchanged."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda s: list(s))


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Ids 0-3 are <pad>, <bos>, <eos>, <unk>; then tokens by descending corpus frequency."""

    tokens: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "_ids", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None):
        counts = collections.Counter(t for seq in sequences for t in seq)
        ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls(SPECIALS + tuple(ranked[: None if max_size is None else max_size - len(SPECIALS)]))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str], bos: bool = False, eos: bool = False) -> np.ndarray:
        ids = [self._ids.get(t, UNK) for t in tokens]
        return np.asarray(([BOS] if bos else []) + ids + ([EOS] if eos else []), np.int32)

    def decode(self, ids) -> list[str]:
        """Ids -> tokens, dropping pad/bos and stopping at eos."""
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[i])
        return out

    def to_json(self) -> str:
        return json.dumps({"tokens": list(self.tokens)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        tokens = tuple(json.loads(text)["tokens"])
        if tokens[: len(SPECIALS)] != SPECIALS:
            raise ValueError("vocabulary JSON does not start with the special tokens")
        return cls(tokens)


def syllables_per_note(score: Score, note_indices: np.ndarray, verse: int = 1) -> list[tuple[str, str] | None]:
    """For each given note (e.g. a melody line's notes as indices into `score`), the (text,
    syllabic) it carries in `verse`, or None for a melisma or an untexted note."""
    by_note = {int(n): (t, SYLLABIC[int(s)]) for n, t, s, v in
               zip(score.lyric_note, score.lyric_text, score.lyric_syllabic, score.lyric_verse) if v == verse}
    return [by_note.get(int(i)) for i in note_indices]


def syllable_tokens(aligned: Sequence[tuple[str, str] | None]) -> list[str]:
    """Aligned syllables as tokens: the syllable with hyphens marking word continuation ('Je-',
    '-su'), and '_' for a note without one (a melisma)."""
    out = []
    for item in aligned:
        if item is None:
            out.append("_")
            continue
        text, syl = item
        out.append(("-" if syl in ("middle", "end") else "") + text + ("-" if syl in ("begin", "middle") else ""))
    return out


def join_syllables(tokens: Sequence[str]) -> str:
    """Inverse direction for reading: syllable tokens -> text with words rebuilt."""
    text = ""
    for t in tokens:
        if t == "_":
            continue
        text += t.strip("-") if t.startswith("-") else (" " if text else "") + t.rstrip("-")
    return text
