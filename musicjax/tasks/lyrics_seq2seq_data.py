"""The lyrics seq2seq family's data: melody features of chorale soprano phrases (pitch, duration,
metrical position after the downbeat, phrase end) and the syllables sung on them, one token per
note; Tang/Song line pairs; text-analysis helpers the report uses (syllabic types, stress, well-
formed words, the lookup-table baseline); `Seq2SeqData`, a config's examples as padded arrays."""

from __future__ import annotations

import functools
import re

import numpy as np

from musicjax.codecs.lyrics import EOS, PAD, SPECIALS, Vocabulary, syllables_per_note, syllable_tokens
from musicjax.data.score import Score, melody_line
from musicjax.evaluate.plots import bar_quarters

TASKS = ("melody_lyrics", "next_line")

# ---- melody features ------------------------------------------------------------------------

MIN_PITCH, NUM_PITCHES = 36, 60  # pitch feature: MIDI 36..95, clipped
DURATIONS = (0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # quarters; a note takes the nearest
POSITION_STEPS = 4  # metrical position in sixteenths after the downbeat
NUM_POSITIONS = 6 * POSITION_STEPS  # up to a 6-quarter bar (3/2)
SOURCE_VOCABS = (NUM_PITCHES, len(DURATIONS), NUM_POSITIONS, 2)  # pitch, duration, position, phrase end
MELISMA = "_"
SYLLABIC_TYPES = ("single", "begin", "middle", "end", "melisma")
PHRASE_NOTES = 8  # an untexted melody's phrase may end at a strong-beat note from this many notes (chorale lines: 7-9)
_STRIP = re.compile(r"^\d+\.\s*|[,.;:!?\"()\[\]«»„“”–—]")


def downbeat_offset(line: Score, bar: float) -> float:
    """The quarter (in [0, bar)) of the first downbeat of a monophonic line: the notated pickup when
    the Score states one (`Score.pickup_q`, e.g. 1.0 for a chorale's one-beat pickup); otherwise (a
    MIDI file) estimated as the whole-beat phase on which the most note duration starts (long notes
    fall on strong beats)."""
    if line.pickup_q is not None:
        return float(np.mod(line.pickup_q, bar))
    durations = line.end_q - line.start_q
    candidates = np.arange(0.0, bar, 1.0)
    weight = [durations[np.isclose(np.mod(line.start_q - o, bar), 0.0) | np.isclose(np.mod(line.start_q - o, bar), bar)].sum()
              for o in candidates]
    return float(candidates[int(np.argmax(weight))])


def positions_in_bar(line: Score, offset: float, bar: float) -> np.ndarray:
    """[n] quarters of each note's start after the latest downbeat."""
    return np.round(np.mod(line.start_q - offset, bar), 6) % bar


def strong_beats(positions: np.ndarray, meter: str) -> np.ndarray:
    """[n] bool: a note on the downbeat, or in a 4-beat meter (4/4, 4/2) on the half-bar too."""
    bar = bar_quarters(meter)
    strong = np.isclose(positions, 0.0)
    if meter.split("/")[0].strip() == "4":
        strong |= np.isclose(positions, bar / 2)
    return strong


def note_features(line: Score, phrase_end: np.ndarray, offset: float, bar: float) -> np.ndarray:
    """[n, 4] int32 source features of a line's notes: pitch (MIDI - 36, clipped to 0..59),
    duration (index into DURATIONS), metrical position (sixteenths after the downbeat) and phrase
    end (1 on a phrase's last note)."""
    pitch = np.clip(line.pitch.astype(np.int64) - MIN_PITCH, 0, NUM_PITCHES - 1)
    dur = np.argmin(np.abs(np.log2(np.maximum(line.end_q - line.start_q, 1e-3))[:, None] - np.log2(DURATIONS)), -1)
    pos = np.clip(np.round(positions_in_bar(line, offset, bar) * POSITION_STEPS), 0, NUM_POSITIONS - 1)
    return np.stack([pitch, dur, pos, np.asarray(phrase_end, np.int64)], -1).astype(np.int32)


def melody_phrases(line: Score, max_notes: int, strong=None, phrase_notes: int = 8, min_notes: int = 4
                   ) -> list[tuple[int, int]]:
    """Phrases [(first, last)] of an untexted monophonic line (the Score keeps no fermatas): a
    phrase ends at a note followed by a rest or lasting at least twice the line's median note,
    once it has `min_notes` notes; or, once it has `phrase_notes`, at a note of at least the median
    length on a strong beat (`strong` [n] bool; a likely cadence); after `max_notes` at the latest."""
    dur = line.end_q - line.start_q
    gap = np.append(line.start_q[1:] - line.end_q[:-1], 0.0) > 1e-6
    median = np.median(dur)
    long = dur >= 2 * median
    cadence = (dur >= median) & (np.ones(line.num_notes, bool) if strong is None else np.asarray(strong, bool))
    out, start = [], 0
    for i in range(line.num_notes):
        size = i - start + 1
        if (i == line.num_notes - 1 or size >= max_notes or (size >= min_notes and (gap[i] or long[i]))
                or (size >= phrase_notes and cadence[i])):
            out.append((start, i))
            start = i + 1
    if len(out) > 1 and out[-1][1] - out[-1][0] + 1 < min_notes and out[-1][1] - out[-2][0] + 1 <= max_notes:
        out[-2:] = [(out[-2][0], out[-1][1])]  # a last note or two closes the phrase before
    return out


def boundary_f1(predicted, true) -> float:
    """F1 of phrase-end positions: 2|P & T| / (|P| + |T|)."""
    p, t = {b for _, b in predicted}, {b for _, b in true}
    return 2 * len(p & t) / max(len(p) + len(t), 1)


# ---- syllables ------------------------------------------------------------------------------


def clean_syllable(text: str) -> str:
    """A corpus syllable as a token's text: lowercase, punctuation and verse numbers ('1.') gone."""
    t = _STRIP.sub("", text.replace("’", "'")).strip().lower()
    return t or text.strip().lower()


def syllabic_type(token: str) -> str:
    """The position a syllable token marks: single | begin | middle | end | melisma."""
    if token == MELISMA:
        return "melisma"
    starts, ends = token.startswith("-"), token.endswith("-") and len(token) > 1
    return "middle" if starts and ends else "end" if starts else "begin" if ends else "single"


def unknown_token(token: str) -> str:
    """The typed placeholder of a rare syllable: '?' with the token's hyphens, so an unknown
    syllable keeps its syllabic type."""
    kind = syllabic_type(token)
    return {"single": "?", "begin": "?-", "middle": "-?-", "end": "-?", "melisma": MELISMA}[kind]


def type_matrix(vocab: Vocabulary) -> np.ndarray:
    """[V, 5] one-hot syllabic type of each token (rows of the special tokens are zero)."""
    m = np.zeros((len(vocab), len(SYLLABIC_TYPES)), np.float32)
    for i, t in enumerate(vocab.tokens):
        if i >= len(SPECIALS):
            m[i, SYLLABIC_TYPES.index(syllabic_type(t))] = 1.0
    return m


_UNSTRESSED_PREFIXES = ("be", "ge", "er", "ver", "zer", "ent", "emp")


def stressed_syllables(tokens) -> list[int]:
    """Indices of the stressed syllables of the multi-syllable words in a syllable-token sequence:
    German stem stress, the word's first syllable, or its second when the first is an unstressed
    prefix (be-, ge-, er-, ver-, zer-, ent-, emp-). One-syllable words are left out: their stress
    depends on the sentence. A word starts at a token without a leading hyphen."""
    words, out = [], []
    for i, t in enumerate(tokens):
        if t == MELISMA or t in SPECIALS:
            continue
        if not t.startswith("-") or not words:
            words.append([])
        words[-1].append((i, t.strip("-")))
    for w in words:
        if len(w) < 2:
            continue
        out.append(w[1][0] if w[0][1] in _UNSTRESSED_PREFIXES else w[0][0])
    return out


def text_phrases(aligned, max_tail: int = 4) -> list[tuple[int, int]]:
    """Phrases [(first, last)] of a verse's aligned syllables (`syllables_per_note`): a phrase runs
    from a texted note to the syllable that ends a text line (punctuation, as in `chorale_texts`)
    and the untexted notes after it, unless more than `max_tail` follow (an untexted stretch)."""
    n, out, i = len(aligned), [], 0
    while i < n:
        while i < n and aligned[i] is None:
            i += 1
        if i >= n:
            break
        j, last_texted = i, i
        while j < n:
            a = aligned[j]
            if a is not None:
                last_texted = j
                if a[1] in ("single", "end") and re.search(r"[,.;:!?]\W*$", a[0]):
                    break
            j += 1
        j = min(j, last_texted)  # a verse's last line may lack its punctuation
        tail = j + 1
        while tail < n and aligned[tail] is None:
            tail += 1
        if tail - (j + 1) <= max_tail:
            j = tail - 1
        out.append((i, j))
        i = j + 1
    return out


def melody_examples(scores, max_notes: int, min_notes: int = 3, max_melisma: float = 0.5) -> list[dict]:
    """One example per (chorale, verse, text line) of the soprano: {'source' [n, 4], 'tokens' (n
    syllable tokens), 'strong' [n] bool, 'piece', 'verse', 'notes' [n] indices into the line}.
    Phrases with fewer than `min_notes` or more than `max_notes` notes, or a larger melisma share
    than `max_melisma`, are left out."""
    out = []
    for s in scores:
        try:
            line = melody_line(s, 0)
        except ValueError:
            continue
        if not len(line.lyric_note):
            continue
        bar = bar_quarters(s.meta.meter)
        offset = downbeat_offset(line, bar)
        positions = positions_in_bar(line, offset, bar)
        strong = strong_beats(positions, s.meta.meter)
        for verse in sorted(set(line.lyric_verse.tolist())):
            aligned = syllables_per_note(line, np.arange(line.num_notes), verse)
            for first, last in text_phrases(aligned):
                n = last - first + 1
                part = aligned[first:last + 1]
                tokens = syllable_tokens([None if a is None else (clean_syllable(a[0]), a[1]) for a in part])
                if not min_notes <= n <= max_notes or tokens.count(MELISMA) > max_melisma * n:
                    continue
                end = np.zeros(line.num_notes, np.int64)
                end[last] = 1
                feats = note_features(line, end, offset, bar)[first:last + 1]
                out.append({"source": feats, "tokens": tokens, "strong": strong[first:last + 1],
                            "piece": s.meta.source_id, "verse": verse, "notes": np.arange(first, last + 1)})
    return out


# ---- lines ----------------------------------------------------------------------------------

_ZH_BREAK = re.compile(r"[，。？！；：、,.;:!?\s]+")


def poem_lines(text: str) -> list[list[str]]:
    """A poem's lines (split at punctuation and line breaks) as characters."""
    return [list(l) for l in _ZH_BREAK.split(text) if l]


def line_pairs(texts, max_chars: int) -> list[tuple[list[str], list[str]]]:
    """(line, next line) of the same poem, both at most `max_chars` characters."""
    out = []
    for text in texts:
        lines = poem_lines(text)
        out += [(a, b) for a, b in zip(lines, lines[1:]) if len(a) <= max_chars and len(b) <= max_chars]
    return out


def pad_examples(sources, targets, src_len: int, tgt_len: int, features: int) -> dict:
    """Lists of source [n, K] and target [m] arrays -> padded batch arrays."""
    n = len(sources)
    src = np.zeros((n, src_len, features), np.int32)
    tgt = np.full((n, tgt_len), PAD, np.int32)
    for i, (s, t) in enumerate(zip(sources, targets)):
        src[i, :len(s)] = s
        tgt[i, :len(t)] = t
    lengths = np.array([len(s) for s in sources], np.int32)
    return {"source": src, "source_len": lengths, "targets": tgt,
            "mask": (tgt != PAD).astype(np.float32)}


class Seq2SeqData:
    """A task's examples per split as padded arrays, its vocabulary and how to read its outputs."""

    def __init__(self, config):
        d = config.data
        self.task = d.task
        if d.task not in TASKS:
            raise ValueError(f"data.task must be one of {', '.join(TASKS)}, got {d.task!r}")
        self.config = d
        if d.task == "melody_lyrics":
            self.src_len = self.tgt_len = d.max_notes
            self.source_vocabs, self.features = SOURCE_VOCABS, len(SOURCE_VOCABS)
        else:
            self.src_len, self.tgt_len = d.max_chars, d.max_chars + 1  # + EOS
            self.features = 1
        train = self.raw("train")
        if d.task == "melody_lyrics":
            counts = {}
            for e in train:
                for t in e["tokens"]:
                    counts[t] = counts.get(t, 0) + 1
            self.keep = {t for t, c in counts.items() if c >= d.min_count}
            self.vocab = Vocabulary.build([self._typed(e["tokens"]) for e in train])
        else:
            self.vocab = Vocabulary.build([a + b for a, b in train], min_count=d.min_count, max_size=d.max_vocab)
            self.source_vocabs = (len(self.vocab),)

    def _typed(self, tokens):
        return [t if t in self.keep else unknown_token(t) for t in tokens]

    @functools.cache
    def raw(self, split: str):
        d = self.config
        if d.task == "melody_lyrics":
            from musicjax.data.datasets import load_scores

            scores = load_scores("bach_chorales", split)
            if d.max_pieces:
                scores = scores[:d.max_pieces]
            return melody_examples(scores, d.max_notes)
        from musicjax.tasks.lyrics_data import corpus_texts

        texts = corpus_texts(d.language, split)
        return line_pairs(texts[:d.max_pieces] if d.max_pieces else texts, d.max_chars)

    @functools.cache
    def arrays(self, split: str) -> dict:
        ex = self.raw(split)
        if not ex:
            raise ValueError(f"no {self.task} examples in split {split!r}")
        if self.task == "melody_lyrics":
            sources = [e["source"] for e in ex]
            targets = [self.vocab.encode(self._typed(e["tokens"])) for e in ex]
        else:
            sources = [self.vocab.encode(a)[:, None] for a, _ in ex]
            targets = [self.vocab.encode(b, eos=True) for _, b in ex]
        return pad_examples(sources, targets, self.src_len, self.tgt_len, self.features)


def type_table_baseline(train, held_out, typed) -> float:
    """Syllabic-type accuracy of a lookup table fitted on `train` examples: the most frequent type
    given (the previous syllable's type, the note's duration and metrical position, phrase end),
    backing off to the previous type alone, then to the most frequent type; scored on `held_out` (teacher forced, as the model's
    `type_accuracy`). `typed` maps an example's tokens to the vocabulary's."""
    import collections

    def rows(examples):
        for e in examples:
            prev = "start"
            for i, t in enumerate(typed(e["tokens"])):
                kind = syllabic_type(t)
                yield (prev, *e["source"][i, 1:].tolist()), prev, kind
                prev = kind if kind != "melisma" else prev

    full, back = collections.defaultdict(collections.Counter), collections.defaultdict(collections.Counter)
    overall = collections.Counter()
    for key, prev, kind in rows(train):
        full[key][kind] += 1
        back[prev][kind] += 1
        overall[kind] += 1
    guess = lambda key, prev: (full.get(key) or back.get(prev) or overall).most_common(1)[0][0]
    hits = [guess(key, prev) == kind for key, prev, kind in rows(held_out)]
    return float(np.mean(hits))


def type_accuracy_ceiling(train, held_out, typed) -> float:
    """The syllabic-type accuracy (teacher forced, as the model's `type_accuracy`) of an oracle that
    knows each word's length and where the melismas fall, but not the next word: inside a word
    (after a begin or middle syllable, melismas skipped) and at every melisma it is always right;
    at a word boundary it must choose single or begin without the next word, and takes the more
    frequent of the two in `train`. Any model whose guess at a boundary is no better than that
    scores at most this."""
    def boundary_types(examples):
        for e in examples:
            prev = "start"
            for t in typed(e["tokens"]):
                kind = syllabic_type(t)
                yield prev not in ("begin", "middle") and kind in ("single", "begin"), kind
                prev = kind if kind != "melisma" else prev

    majority = max(("single", "begin"), key=lambda k: sum(b and kind == k for b, kind in boundary_types(train)))
    hits = [not boundary or kind == majority for boundary, kind in boundary_types(held_out)]
    return float(np.mean(hits)) if hits else float("nan")


def well_formed_share(sequences) -> float:
    """Share of syllable-token sequences whose words are well formed: after a begin or middle
    syllable (melismas aside) comes a middle or end one, and after a single or end one a single
    or begin one; a sequence ends outside a word."""
    ok = []
    for seq in sequences:
        inside, good = False, True
        for t in seq:
            kind = syllabic_type(t)
            if kind == "melisma":
                continue
            if inside != (kind in ("middle", "end")):
                good = False
                break
            inside = kind in ("begin", "middle")
        ok.append(good and not inside)
    return float(np.mean(ok)) if ok else float("nan")
