"""Lines of the `lyrics_text` corpus (or of the chorale verses read from the chorale corpus) as
token lists, shared by every lyrics family (the HMM, the LSTM lyrics LM, seq2seq): one language's
texts of a split, a line's tokens (characters, pinyin syllables or words), lines as emitted
symbols, the PPM* baseline on them, and tokens back to text."""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from musicjax.codecs import lyrics

_TIGHT_PUNCT = re.compile(r" ([,.;:!?)\]'’»”]|n't)")
_CONTRACTION = re.compile(r"(\w)(['’]) (m|s|t|re|ve|ll|d)\b")  # "i ' m" -> "i'm", not "dogs' home"
ZH_LINE_PUNCT = set("，。？！；：、,.;:!?")
SOURCES = ("lyrics_text", "bach_chorales")
# Symbols a line model emits are the vocabulary without <pad> and <bos>: symbol = id - 2, so
# symbol 0 is <eos> and 1 is <unk>. PPM* and the HMM predict over these.
EMIT_OFFSET = 2


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def corpus_texts(language: str, split: str, source: str = "lyrics_text") -> list[str]:
    """The texts of one language in a split: of the lyrics_text corpus (split by a hash of each
    text's id, so verses of one chorale fall into different splits), or, with source
    "bach_chorales", the German chorale verses of the chorale corpus's own piece-level split (all
    verses of a chorale, and its other harmonisations of the same melody, in one split)."""
    from musicjax.data.datasets import data_source

    if source not in SOURCES:
        raise ValueError(f"data.source must be one of {', '.join(SOURCES)}, got {source!r}")
    if source == "bach_chorales":
        if language != "de":
            raise ValueError(f"data.source bach_chorales holds German verses only; data.language is {language!r}")
        from musicjax.data.corpora import chorale_texts
        from musicjax.data.records import record_to_score

        return [r["text"] for r in chorale_texts(record_to_score(r) for r in data_source("bach_chorales", split))]
    return [_text(r["text"]) for r in data_source("lyrics_text", split) if _text(r["language"]) == language]


def line_tokens(line: str, unit: str, lowercase: bool, spaces: bool = False) -> list[str]:
    """Tokens of one line: unit chars | pinyin | words. Whitespace is dropped, or with `spaces`
    each run of it inside the line becomes one " " token (a character of its own for chars)."""
    if lowercase:
        line = line.lower()
    split = {"chars": lyrics.chars, "pinyin": lyrics.pinyin, "words": lyrics.words}[unit]
    if spaces:
        return [t if t.strip() else " " for t in split(" ".join(line.split())) if t.strip() or t == " "]
    return [t for t in split(line) if t.strip()]


def split_lines(data_config, split: str) -> list[list[str]]:
    """Every non-empty line of the split's texts, as tokens (data_config: language, tokens,
    lowercase; optional source, default lyrics_text, and spaces, default False)."""
    source, spaces = data_config.get("source", "lyrics_text"), data_config.get("spaces", False)
    out = []
    for text in corpus_texts(data_config.language, split, source):
        for line in text.splitlines():
            toks = line_tokens(line, data_config.tokens, data_config.lowercase, spaces)
            if toks:
                out.append(toks)
    return out


def line_symbols(vocab: lyrics.Vocabulary, lines: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Each line's emitted symbols (tokens then <eos>; an out-of-vocabulary token is <unk>)."""
    return [vocab.encode(toks, eos=True) - EMIT_OFFSET for toks in lines]


def ppm_line_distributions(train: Sequence[Sequence[int]], test: Sequence[Sequence[int]], alphabet_size: int,
                           escape: str = "c") -> list[np.ndarray]:
    """PPM* (unbounded order, `escape` method) learnt on the training lines (symbols, <eos>
    included), each line from an empty context: for each test line, p(symbol | the line so far)
    at each of its positions [len(line), alphabet_size]. Nothing is learnt from the test lines."""
    from musicjax.prob.ppm import PPM

    model = PPM(alphabet_size, escape=escape)
    for seq in train:
        model.learn(list(map(int, seq)))
    out = []
    for seq in test:
        seq = list(map(int, seq))
        out.append(np.stack([model.distribution(seq[:i]) for i in range(len(seq))]) if seq
                   else np.zeros((0, alphabet_size)))
    return out


def ppm_line_log_probs(train: Sequence[Sequence[int]], test: Sequence[Sequence[int]], alphabet_size: int,
                       escape: str = "c") -> np.ndarray:
    """ln p of each test line under `ppm_line_distributions`' PPM* -> [len(test)]."""
    dists = ppm_line_distributions(train, test, alphabet_size, escape)
    return np.array([np.log(d[np.arange(len(seq)), np.asarray(seq, int)]).sum() for d, seq in zip(dists, test)])


def replace_unknown(tokens: Sequence[str], oov: dict, rng: np.random.Generator) -> list[str]:
    """Tokens with each <unk> replaced by an out-of-vocabulary training token drawn by its count
    (`oov`: token -> count, most frequent first); left as <unk> when there is none."""
    names, counts = list(oov), np.array(list(oov.values()), np.float64)
    out = []
    for t in tokens:
        if t == lyrics.SPECIALS[lyrics.UNK] and names:
            t = names[rng.choice(len(names), p=counts / counts.sum())]
        out.append(t)
    return out


def detokenize(tokens: list[str], unit: str) -> str:
    if unit in ("chars",):
        return "".join(tokens)
    return _CONTRACTION.sub(r"\1\2\3", _TIGHT_PUNCT.sub(r"\1", " ".join(tokens)))
