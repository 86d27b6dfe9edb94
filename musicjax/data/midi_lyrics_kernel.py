"""The MIDI reader's compiled lyric and text steps (numba, beside `midi_kernel.py`'s decoder), in
one call per file (`sung_words`): the sung syllables (lyric events that are not blank, else a
karaoke file's words), settled at the byte level (hyphens, blanks by Python's rules, UTF-8), the
note each is sung on (`attach_lyrics`), their order in the Score, and the text events in time
order, so that the reader decodes all texts at once. `midi._words_general` is the same rule one
Python step per event: the reference it is tested against, and the path for what it declines.
Compiled on the first read of a file with lyrics or texts, cached by numba as the decoder is."""

from __future__ import annotations

import numba
import numpy as np

from musicjax.data.midi_kernel import _stable_order


@numba.njit(cache=True, nogil=True)
def attach_lyrics(pitch, start_q, part, order, part_track, part_drum, lyric_track, lyric_tick, tpq):
    """The note each lyric is sung on, for `midi.read_midi`.

    pitch, start_q, part [k]: the Score's note columns (in its order, `midi_kernel.read_file`'s columns);
    order [k]: each note's index in file order; part_track [p], part_drum [p] (bool): each part's
    track and drum flag; lyric_track, lyric_tick [m]: the lyric events, grouped by track in
    ascending order, in file order within a track.

    A lyric goes to a note of its own track, or, where its track has no notes, of the pitched part
    (any part if none is pitched) with most notes starting at the lyric ticks (of equal ones the
    first). Of those notes it goes to the highest starting at its tick (of equal ones the first in
    file order), else to the next to start (the first in file order), else to the last in file
    order. Returns (note [m] int64: its index in the Score's order, ordinal [m] int64: the how-
    many-th lyric of its track on that note it is, from 1)."""
    k, m = pitch.shape[0], lyric_track.shape[0]
    note = np.empty(m, np.int64)
    ordinal = np.empty(m, np.int64)
    count = np.zeros(k, np.int64)
    rows = np.empty(k, np.int64)  # the Score rows of the notes that sing a track, in Score order
    high = np.empty(k, np.int64)
    early = np.empty(k, np.int64)
    first = 0
    while first < m:
        track = lyric_track[first]
        stop = first
        while stop < m and lyric_track[stop] == track:
            stop += 1
        n = 0
        for i in range(k):
            if part_track[part[i]] == track:
                rows[n] = i
                n += 1
        if n == 0:
            sung = _sung_part(start_q, part, order, part_drum, lyric_tick[first:stop], tpq)
            for i in range(k):
                if part[i] == sung:
                    rows[n] = i
                    n += 1
        last = rows[0]  # the last of them in file order
        for r in range(n):
            if order[rows[r]] > order[last]:
                last = rows[r]
        # for each run of rows starting together (at its first row): its highest note and its first
        # in file order, so that a lyric costs one binary search however large the chord
        r = 0
        while r < n:
            s = r
            highest, earliest = rows[r], rows[r]
            while r < n and start_q[rows[r]] == start_q[rows[s]]:
                i = rows[r]
                if pitch[i] > pitch[highest] or pitch[i] == pitch[highest] and order[i] < order[highest]:
                    highest = i
                if order[i] < order[earliest]:
                    earliest = i
                r += 1
            high[s], early[s] = highest, earliest
        for e in range(first, stop):
            q = lyric_tick[e] / tpq
            lo, hi = 0, n  # the first of the rows starting at q or later (starts ascend in Score order)
            while lo < hi:
                mid = (lo + hi) // 2
                if start_q[rows[mid]] < q:
                    lo = mid + 1
                else:
                    hi = mid
            if lo == n:
                best = last
            elif start_q[rows[lo]] == q:
                best = high[lo]
            else:
                best = early[lo]
            count[best] += 1
            note[e] = best
            ordinal[e] = count[best]
        for e in range(first, stop):
            count[note[e]] = 0
        first = stop
    return note, ordinal


@numba.njit(cache=True, nogil=True)
def _sung_part(start_q, part, order, part_drum, ticks, tpq):
    """The part whose notes sing lyrics from a track without notes: of the pitched parts (all parts
    if none is pitched), the one with notes starting at most of the lyric `ticks` (a lyric counted
    once however many notes start at its tick); of equal ones the first. The notes are visited in
    file order, where each part's are together (in the Score's order two parts' notes can
    interleave at one tick when times past 2**52 ticks round to the same quarter)."""
    num_parts = part_drum.shape[0]
    pitched = False
    for p in range(num_parts):
        pitched = pitched or not part_drum[p]
    tick_order = _stable_order(ticks)
    sorted_ticks = ticks[tick_order]
    seen = np.full(ticks.shape[0], -1, np.int64)  # the last part found starting at that tick
    hits = np.zeros(num_parts, np.int64)
    in_file_order = np.empty(order.shape[0], np.int64)
    for r in range(order.shape[0]):
        in_file_order[order[r]] = r
    for i in in_file_order:
        p = part[i]
        if pitched and part_drum[p]:
            continue
        tick = np.int64(np.rint(start_q[i] * tpq))
        lo, hi = 0, sorted_ticks.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            if sorted_ticks[mid] < tick:
                lo = mid + 1
            else:
                hi = mid
        while lo < sorted_ticks.shape[0] and sorted_ticks[lo] == tick and seen[lo] != p:
            seen[lo] = p
            hits[p] += 1
            lo += 1
    best = -1
    for p in range(num_parts):
        if (not pitched or not part_drum[p]) and (best < 0 or hits[p] > hits[best]):
            best = p
    return best


@numba.njit(cache=True, nogil=True)
def sung_words(data, texts, lyrics, is_kar, pitch, start_q, part, order, parts, tpq, syllabic_of):
    """What `midi._words` reads from a file's text and lyric meta rows, in one call: a lyric-heavy
    file has thousands, and one Python step each was most of its reading time.

    data uint8: the file; texts, lyrics [., 5]: `midi_kernel.read_file`'s text and lyric rows
    (track, tick, kind, payload start, payload length; grouped by track in ascending order, file
    order within one); is_kar: the file is named .kar; pitch, start_q, part, order as
    `attach_lyrics` takes them; parts [p, 3]: (track, channel, program) of each part
    (`midi_kernel.read_file`'s); syllabic_of [4] int8: the syllabic code of 2 * (a hyphen
    before) + (a hyphen after) (`midi._SYLLABIC_OF_HYPHENS`).

    The sung syllables are the lyric events that are not blank, or, where there are none, the
    words of the karaoke tracks (`_karaoke_syllables`); each goes to its note (`attach_lyrics`).
    Returns
      note [k] int32, syllabic [k] int8, verse [k] int8: the lyric columns in the Score's order
        (by note, then verse: the how-many-th of its track on that note; ties in file order);
      joined uint8: their texts, hyphens off, joined by zero bytes, in that order;
      plain: False where the reader must take its general path (`midi._words_general`): a zero
        byte in a text, a verse tag "[v", a payload blank only by Unicode's whitespace, a note
        with over 127 lyrics of one track; texts that are not UTF-8 the caller finds;
      title_rows [t] int64: rows of `texts` that may title a karaoke file (each karaoke track's
        first "@T" header, in track order);
      text_q [t] float64, text_kind [t] int8 (0: text FF 01, 1: marker; `score.TEXT_KINDS`),
        text_joined uint8: the text and marker events in time order (ties in file order), their
        payloads joined by zero bytes."""
    text_q, text_kind, text_joined = _texts_in_time(data, texts, tpq)
    syllables, plain = _lyric_syllables(data, lyrics)
    title_rows = np.empty(0, np.int64)
    if syllables.shape[0] == 0 and texts.shape[0]:
        syllables, title_rows, karaoke_plain = _karaoke_syllables(data, texts, is_kar)
        plain = plain and karaoke_plain
    k = syllables.shape[0]
    if k == 0 or not plain:
        return (np.empty(0, np.int32), np.empty(0, np.int8), np.empty(0, np.int8), np.empty(0, np.uint8), plain,
                title_rows, text_q, text_kind, text_joined)
    part_track = parts[:, 0].copy()
    part_drum = parts[:, 1] == 9
    note, ordinal = attach_lyrics(pitch, start_q, part, order, part_track, part_drum, syllables[:, 0].copy(),
                                  syllables[:, 1].copy(), tpq)
    key = np.empty(k, np.int64)
    for j in range(k):
        if ordinal[j] > 127:  # Score.lyric_verse is int8: the general path says so
            return (np.empty(0, np.int32), np.empty(0, np.int8), np.empty(0, np.int8), np.empty(0, np.uint8), False,
                    title_rows, text_q, text_kind, text_joined)
        key[j] = note[j] * 128 + ordinal[j]
    by = _stable_order(key)
    out_note = np.empty(k, np.int32)
    out_syllabic = np.empty(k, np.int8)
    out_verse = np.empty(k, np.int8)
    for j in range(k):
        s = by[j]
        out_note[j], out_verse[j] = note[s], ordinal[s]
        out_syllabic[j] = syllabic_of[syllables[s, 4]]
    joined = _joined(data, syllables[:, 2], syllables[:, 3], by)
    return out_note, out_syllabic, out_verse, joined, plain, title_rows, text_q, text_kind, text_joined


@numba.njit(cache=True, nogil=True)
def _texts_in_time(data, texts, tpq):
    """(quarter [t] float64, kind [t] int8, payloads joined by zero bytes uint8) of the text rows
    in time order, ties in file order."""
    by = _stable_order(texts[:, 1].copy())
    t = texts.shape[0]
    text_q = np.empty(t, np.float64)
    text_kind = np.empty(t, np.int8)
    for j in range(t):
        text_q[j] = texts[by[j], 1] / tpq
        text_kind[j] = 0 if texts[by[j], 2] == 0x01 else 1
    return text_q, text_kind, _joined(data, texts[:, 3], texts[:, 4], by)


@numba.njit(cache=True, nogil=True)
def _joined(data, starts, sizes, by):
    """The bytes data[starts[r]:starts[r] + sizes[r]] for each r of `by` in turn, joined by zero bytes."""
    total = max(by.shape[0] - 1, 0)
    for r in by:
        total += sizes[r]
    joined = np.empty(total, np.uint8)
    out = 0
    for j in range(by.shape[0]):
        if j:
            joined[out] = 0
            out += 1
        at, size = starts[by[j]], sizes[by[j]]
        joined[out:out + size] = data[at:at + size]
        out += size
    return joined


@numba.njit(cache=True, nogil=True)
def _lyric_syllables(data, lyrics):
    """The lyric events that are not blank, in file order: (rows [k, 5] int64 of (track, tick,
    text start, text length, hyphens: 2 * (a hyphen before) + (a hyphen after), off the text; a
    payload of one byte has neither), plain: as `sung_words` says)."""
    count = lyrics.shape[0]
    rows = np.empty((count, 5), np.int64)
    k = 0
    plain = True
    for r in range(count):
        at, size = lyrics[r, 3], lyrics[r, 4]
        blank, valid, zero = _blank_utf8(data, at, size)
        if not valid or zero:
            plain = False  # the general path decodes it as Latin-1, or splits nothing at its zero byte
        if blank:
            continue
        if size >= 2 and data[at] == ord("[") and data[at + 1] == ord("v"):
            plain = False
        before = 1 if size > 1 and data[at] == ord("-") else 0
        after = 1 if size > 1 and data[at + size - 1] == ord("-") else 0
        rows[k, 0], rows[k, 1] = lyrics[r, 0], lyrics[r, 1]
        rows[k, 2], rows[k, 3], rows[k, 4] = at + before, size - before - after, 2 * before + after
        k += 1
    return rows[:k].copy(), plain


@numba.njit(cache=True, nogil=True)
def _is_space(c):
    """Whether code point `c` is white space to Python's str.strip() and str.isspace()."""
    return (0x09 <= c <= 0x0D or 0x1C <= c <= 0x20 or c == 0x85 or c == 0xA0 or c == 0x1680 or 0x2000 <= c <= 0x200A
            or c == 0x2028 or c == 0x2029 or c == 0x202F or c == 0x205F or c == 0x3000)


@numba.njit(cache=True, nogil=True)
def _blank_utf8(data, at, size):
    """(blank: every character of data[at:at + size] is white space, valid: the bytes are UTF-8 as
    Python's decoder takes it (no overlong forms, surrogates or code points past U+10FFFF), zero:
    a zero byte is among them)."""
    i, end = at, at + size
    blank, zero = True, False
    for j in range(at, end):
        zero = zero or data[j] == 0
    while i < end:
        b = data[i]
        if b < 0x80:
            c, n, low, high = np.int64(b), 0, 0x80, 0xBF
        elif 0xC2 <= b <= 0xDF:
            c, n, low, high = np.int64(b & 0x1F), 1, 0x80, 0xBF
        elif 0xE0 <= b <= 0xEF:  # E0: no overlong form; ED: no surrogate
            c, n, low, high = np.int64(b & 0x0F), 2, 0xA0 if b == 0xE0 else 0x80, 0x9F if b == 0xED else 0xBF
        elif 0xF0 <= b <= 0xF4:  # F0: no overlong form; F4: nothing past U+10FFFF
            c, n, low, high = np.int64(b & 0x07), 3, 0x90 if b == 0xF0 else 0x80, 0x8F if b == 0xF4 else 0xBF
        else:
            return blank, False, zero
        if n and i + n >= end:
            return blank, False, zero
        for j in range(1, n + 1):
            nxt = data[i + j]
            if not (low if j == 1 else 0x80) <= nxt <= (high if j == 1 else 0xBF):
                return blank, False, zero
            c = (c << 6) | (nxt & 0x3F)
        blank = blank and _is_space(c)
        i += n + 1
    return blank, True, zero


@numba.njit(cache=True, nogil=True)
def _stripped(b):
    """One of the bytes a karaoke syllable is stripped of (`midi._karaoke_words`): space / \\ CR LF tab."""
    return b == 0x20 or b == 0x2F or b == 0x5C or b == 0x0D or b == 0x0A or b == 0x09


@numba.njit(cache=True, nogil=True)
def _karaoke_syllables(data, texts, is_kar):
    """The words of a Soft Karaoke file's tracks, byte for byte as `midi._karaoke_words` reads them
    (its docstring gives the convention), as `_lyric_syllables`' rows, with the hyphens that
    rule writes read off again as `midi._lyrics_from_midi_texts` reads them; (rows, title_rows,
    plain) as `sung_words` says. A track is karaoke when the file is .kar or one of its text
    events is an "@K", "@L" or "@T" header."""
    m = texts.shape[0]
    rows = np.empty((m, 5), np.int64)
    title_rows = np.empty(m, np.int64)
    k, t = 0, 0
    plain = True
    first = 0
    while first < m:
        track = texts[first, 0]
        stop = first
        while stop < m and texts[stop, 0] == track:
            stop += 1
        words, karaoke, title = False, is_kar, -1
        for r in range(first, stop):
            at, size = texts[r, 3], texts[r, 4]
            if texts[r, 2] != 0x01:
                continue
            words = True
            if size >= 2 and data[at] == ord("@"):
                tag = data[at + 1]
                karaoke = karaoke or tag == ord("K") or tag == ord("L") or tag == ord("T")
                if title < 0 and tag == ord("T"):
                    title = r
        if words and karaoke:
            if title >= 0:
                title_rows[t] = title
                t += 1
            begin = k
            spaced = False  # the last syllable kept ended with a space
            for r in range(first, stop):
                at, size = texts[r, 3], texts[r, 4]
                if texts[r, 2] != 0x01 or size >= 1 and data[at] == ord("@"):
                    continue
                starts = k == begin or spaced or size >= 1 and (data[at] == ord(" ") or data[at] == ord("/")
                                                                 or data[at] == ord("\\"))
                a, b = at, at + size
                while a < b and _stripped(data[a]):
                    a += 1
                while b > a and _stripped(data[b - 1]):
                    b -= 1
                if a == b:
                    continue
                spaced = data[at + size - 1] == ord(" ")
                for i in range(a, b):
                    if data[i] == 0:
                        plain = False
                rows[k, 0], rows[k, 1], rows[k, 2], rows[k, 3], rows[k, 4] = track, texts[r, 1], a, b - a, starts
                k += 1
            for j in range(begin, k):
                # the rule writes "-" before a syllable that does not start a word and after one that
                # does not end it; the reader then takes one "-" off each end of a text of 2 or more
                a, size, starts = rows[j, 2], rows[j, 3], rows[j, 4]
                ends = j + 1 == k or rows[j + 1, 4]
                dash_before, dash_after = 0 if starts else 1, 0 if ends else 1
                whole = size + dash_before + dash_after
                before = 1 if whole > 1 and (dash_before or data[a] == ord("-")) else 0
                after = 1 if whole > 1 and (dash_after or data[a + size - 1] == ord("-")) else 0
                if starts and size >= 2 and data[a] == ord("[") and data[a + 1] == ord("v"):
                    plain = False
                rows[j, 2] = a + before - dash_before
                rows[j, 3] = size - (before - dash_before) - (after - dash_after)
                rows[j, 4] = 2 * before + after
        first = stop
    return rows[:k].copy(), title_rows[:t].copy(), plain
