"""The MIDI reader's compiled lyric steps (numba, beside `midi_kernel.py`'s decoder): the note each
lyric event is sung on (`attach_lyrics`) and the lyric texts' hyphens and blanks settled at the
byte level so that the reader decodes them at once (`lyric_payloads`). Compiled on the first read
of a file with lyrics, cached by numba as the decoder is."""

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
def lyric_payloads(data, lyrics):
    """The sung lyric events among `lyrics` (`midi_kernel.read_file`'s lyric rows) with their hyphens taken off, for
    the reader to decode at once: a lyric-heavy file has thousands, one Python step each is most
    of its reading time.

    Returns
      rows [k] int64: the rows of `lyrics` whose payload is not blank, in file order;
      hyphens [k] int64: 2 * (a hyphen before) + (a hyphen after) (a payload of one byte has
        neither): the index into `midi._SYLLABIC_OF_HYPHENS`;
      joined uint8: those payloads, hyphens off, joined by zero bytes;
      plain: False where a payload holds a zero byte, starts with a verse tag "[v", or is blank
        unless Python strips a non-ASCII space: the caller then reads every lyric its general way."""
    count = lyrics.shape[0]
    rows = np.empty(count, np.int64)
    hyphens = np.empty(count, np.int64)
    total = 0
    k = 0
    plain = True
    for r in range(count):
        at, size = lyrics[r, 3], lyrics[r, 4]
        seen, other = False, False  # a byte Python's strip() keeps for certain; a non-ASCII byte
        for i in range(at, at + size):
            b = data[i]
            if b == 0:
                plain = False
            if b >= 0x80:
                other = True
            elif not (b == 0x20 or 0x09 <= b <= 0x0D or 0x1C <= b <= 0x1F):
                seen = True
        if not seen:
            if other:
                plain = False  # blank, or not, as Python's Unicode whitespace says
            continue
        if size >= 2 and data[at] == ord("[") and data[at + 1] == ord("v"):
            plain = False
        before = 1 if size > 1 and data[at] == ord("-") else 0
        after = 1 if size > 1 and data[at + size - 1] == ord("-") else 0
        rows[k] = r
        hyphens[k] = 2 * before + after
        total += size - before - after + 1
        k += 1
    joined = np.empty(max(total - 1, 0), np.uint8)
    out = 0
    for j in range(k):
        r = rows[j]
        before, after = hyphens[j] >> 1, hyphens[j] & 1
        if j:
            joined[out] = 0
            out += 1
        for i in range(lyrics[r, 3] + before, lyrics[r, 3] + lyrics[r, 4] - after):
            joined[out] = data[i]
            out += 1
    return rows[:k].copy(), hyphens[:k].copy(), joined, plain
