"""Lines of the `lyrics_text` corpus as token lists, shared by every lyrics family (the HMM, the
LSTM lyrics LM, seq2seq): one language's texts of a split, a line's tokens (characters, pinyin
syllables or words; whitespace dropped), and tokens back to text."""

from __future__ import annotations

import re

from musicjax.codecs import lyrics

_TIGHT_PUNCT = re.compile(r" ([,.;:!?)\]'’»”]|n't)")
ZH_LINE_PUNCT = set("，。？！；：、,.;:!?")


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def corpus_texts(language: str, split: str) -> list[str]:
    """The texts of one language in a split of the lyrics_text corpus."""
    from musicjax.data.datasets import data_source

    return [_text(r["text"]) for r in data_source("lyrics_text", split) if _text(r["language"]) == language]


def line_tokens(line: str, unit: str, lowercase: bool) -> list[str]:
    """Tokens of one line (whitespace dropped): unit chars | pinyin | words."""
    if lowercase:
        line = line.lower()
    split = {"chars": lyrics.chars, "pinyin": lyrics.pinyin, "words": lyrics.words}[unit]
    return [t for t in split(line) if t.strip()]


def split_lines(data_config, split: str) -> list[list[str]]:
    """Every non-empty line of the split's texts, as tokens."""
    out = []
    for text in corpus_texts(data_config.language, split):
        for line in text.splitlines():
            toks = line_tokens(line, data_config.tokens, data_config.lowercase)
            if toks:
                out.append(toks)
    return out


def detokenize(tokens: list[str], unit: str) -> str:
    if unit in ("chars",):
        return "".join(tokens)
    return _TIGHT_PUNCT.sub(r"\1", " ".join(tokens))
