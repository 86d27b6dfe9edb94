"""The MIDI reader's inner loops, compiled with numba (a dependency of librosa, already installed):
the MTrk chunks found (`track_chunks`), one pass over a file's tracks that pairs notes by
`musicjax.data.midi`'s rule and lists the meta events the reader keeps (by kind: names, texts,
lyrics), then the tempo map, the notes in the Score's order (a natural merge of each part's runs)
and their times (the note each lyric is sung on, and the lyric texts: `midi_lyrics_kernel.py`).
Imported on first read (the first read in a checkout compiles it and the lyric kernels,
~19 s on the AMD EPYC, into numba's cache; later processes load them, ~0.7 s).

Measured (`musicjax bench midi_read`, 2-core AMD EPYC, 2026-12-06): a plain chorale file is read
in ~0.075 ms, one with lyrics in ~0.105 ms; the decoder this replaced (symusic, and a Python loop
for the tracks symusic could not settle) took ~1.5 ms, pretty_midi ~5.5 ms."""

from __future__ import annotations

import numba
import numpy as np

# meta events the reader keeps as text: text, track name, lyric, marker
TEXT_META = (0x01, 0x03, 0x05, 0x06)
TEMPO, TIME_SIGNATURE, KEY_SIGNATURE = 0x51, 0x58, 0x59

# error codes (error[1]; the reader words them)
OK, SYSTEM_MESSAGE, NO_STATUS, DATA_BYTE, DATA_BYTES, LONG_NUMBER, FAR_TIME, TRUNCATED = 0, 1, 2, 3, 4, 5, 6, 7
MAX_TICK = 1 << 53  # a later time cannot be a float's quarter exactly (and such a file is past every limit)


@numba.njit(cache=True, nogil=True)
def _vlq(data, i, n):
    """(value, next index) of the variable-length number at data[i]; index n + 1 where the bytes
    end inside it; value -1 where it runs past 8 bytes (the standard's numbers have 4 at most;
    int64 would overflow at 10)."""
    value = 0
    start = i
    while i < n:
        if i - start == 8:
            return -1, i
        b = data[i]
        i += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, i
    return value, n + 1


@numba.njit(cache=True, nogil=True)
def track_chunks(data, pos, declared, error):
    """(where each of the first `declared` MTrk chunks' bodies starts in `data`, its size), the
    chunks read from data[pos:] (other chunk types are skipped, as the standard says); a chunk
    cut short by the end of the file sets error[:4] = (its number, TRUNCATED, the bytes it holds,
    its size) and ends the list."""
    n = data.shape[0]
    starts = np.empty(declared, np.int64)
    sizes = np.empty(declared, np.int64)
    t = 0
    while pos + 8 <= n and t < declared:
        size = np.int64(0)
        for b in range(4):
            size = (size << 8) | np.int64(data[pos + 4 + b])
        held = min(size, n - pos - 8)
        if held < size:
            error[0], error[1], error[2], error[3] = t, TRUNCATED, held, size
            break
        if data[pos] == ord("M") and data[pos + 1] == ord("T") and data[pos + 2] == ord("r") and data[pos + 3] == ord("k"):
            starts[t] = pos + 8
            sizes[t] = size
            t += 1
        pos += 8 + size
    return starts[:t], sizes[:t]


@numba.njit(cache=True, nogil=True)
def read_file(data, pos, declared, tpq, max_notes):
    """Decode the first `declared` MTrk chunks from data[pos:] (data: uint8; `track_chunks`) of
    a file at `tpq` ticks per quarter.

    Returns
      columns: (pitch int16, start_q, end_q, start, end float64 seconds, velocity int16,
        part int16) [k] in `make_score`'s order (start_q, part, pitch; ties in the order they
        came), times computed as `make_score` computes them, bit for bit;
      order [k] int64: for each of those notes, its index in file order: the notes grouped by
        part, within a part in the order they ended (of one note-off, in the order they began);
      parts [p, 3] int64: (track, channel, program) of each part, in that order;
      metas: (names, texts, lyrics), each [m, 5] int64 rows of (track, tick, kind, payload
        start in data, payload length) in file order: track names, text and marker events
        with a payload, lyrics;
      tempos [t, 2] float64: the tempo map, (quarter, qpm) rows: at one tick the last tempo read
        counts, a repeat of the tempo in force is no change, before the first 120 qpm holds;
      signatures [s, 4] int64: (kind, tick, a, b) of time signatures (TIME_SIGNATURE: numerator,
        denominator) and key signatures (KEY_SIGNATURE: fifths -128..127, minor byte), in file
        order; a payload of the wrong length is skipped;
      note_ons: every note-on, ended or not (counted past `max_notes`, beyond which no more notes
        are stored: the caller refuses such a file);
      tracks: the MTrk chunks found;
      extent [2] float64: the latest end of a note in quarters and in seconds (0 without notes),
        for `limits.extent_problem`;
      error [6] int64: (track, code, tick, value) of the first track that cannot be decoded (code
        OK: none; code TRUNCATED: (track, code, bytes held, size) of a chunk cut short, and
        nothing decoded), then (tick, value) of the first tempo of 0 microseconds per quarter
        (tick -1: none).
    In each track what follows a truncated last event is ignored; a meta payload cut short by the
    end of the chunk is what remains of it."""
    error = np.zeros(6, np.int64)
    error[4] = -1
    track_start, track_size = track_chunks(data, pos, declared, error)
    if error[1] != OK:
        track_start, track_size = track_start[:0], track_size[:0]
    n = 0
    for t in range(track_size.shape[0]):
        n += track_size[t]
    cap = min(n // 3 + 1, max_notes + 1)
    on = np.empty((cap, 4), np.int64)  # sounding notes: (tick, velocity, program, next in its list)
    # per channel * 128 + pitch: first and last sounding note, valid where `owner` is this track
    # (so that no track pays to clear 2,048 lists)
    head = np.empty(16 * 128, np.int64)
    tail = np.empty(16 * 128, np.int64)
    owner = np.full(16 * 128, -1, np.int64)
    raw = np.empty((cap, 7), np.int64)  # (track, start, end, pitch, velocity, channel, program)
    metas = np.empty((n // 4 + 1, 5), np.int64)
    signatures = np.empty((n // 6 + 1, 4), np.int64)
    counts = np.zeros(4, np.int64)  # notes, metas, signatures, note-ons so far
    for t in range(track_size.shape[0]):
        _decode_track(data, track_start[t], track_start[t] + track_size[t], t, cap, on, head, tail, owner, raw,
                      metas, signatures, counts, error)
        if error[1] != OK:
            error[0] = t
            break
    k = counts[0]
    raw = raw[:k]
    tempos = _tempo_map(signatures[:counts[2]], tpq, error)
    part_of, parts = _parts(raw)
    columns, order = _columns(raw, part_of, tpq, tempos)
    extent = np.zeros(2, np.float64)
    for i in range(k):
        extent[0] = max(extent[0], columns[2][i])
        extent[1] = max(extent[1], columns[4][i])
    return (columns, order, parts, _meta_kinds(metas[:counts[1]]), tempos, _signatures(signatures[:counts[2]]),
            counts[3], track_start.shape[0], extent, error)


@numba.njit(cache=True, nogil=True)
def _meta_kinds(metas):
    """(track names, text and marker events with a payload, lyrics): the rows of `metas` of each,
    in file order."""
    counts = np.zeros(3, np.int64)
    which = np.full(metas.shape[0], -1, np.int64)
    for r in range(metas.shape[0]):
        kind = metas[r, 2]
        if kind == 0x03:
            which[r] = 0
        elif (kind == 0x01 or kind == 0x06) and metas[r, 4] > 0:
            which[r] = 1
        elif kind == 0x05:
            which[r] = 2
        if which[r] >= 0:
            counts[which[r]] += 1
    names = np.empty((counts[0], 5), np.int64)
    texts = np.empty((counts[1], 5), np.int64)
    lyrics = np.empty((counts[2], 5), np.int64)
    counts[:] = 0
    for r in range(metas.shape[0]):
        w = which[r]
        if w < 0:
            continue
        out = names if w == 0 else texts if w == 1 else lyrics
        out[counts[w]] = metas[r]
        counts[w] += 1
    return names, texts, lyrics


@numba.njit(cache=True, nogil=True)
def _decode_track(data, i, n, track, cap, on, head, tail, owner, notes, metas, signatures, counts, error):
    """One track's bytes data[i:n] into `notes`, `metas` and `signatures` (from the rows `counts`
    says are filled, which it advances); an undecodable event sets error[1:4] = (code, tick,
    value)."""
    k, m, s, ons = counts[0], counts[1], counts[2], counts[3]
    program = np.zeros(16, np.int64)
    tick = status = 0
    while i < n:
        delta, i = _vlq(data, i, n)
        if delta < 0:
            error[1], error[2] = LONG_NUMBER, tick
            break
        if i >= n:
            break
        if delta > MAX_TICK - tick:
            error[1], error[2] = FAR_TIME, tick
            break
        tick += delta
        b = data[i]
        if b & 0x80:
            i += 1
            if b < 0xF0:
                status = b
            elif b == 0xFF:
                if i + 1 >= n:
                    break
                kind = data[i]
                size, i = _vlq(data, i + 1, n)
                if size < 0:
                    error[1], error[2] = LONG_NUMBER, tick
                    break
                if i > n or kind == 0x2F:
                    break
                held = min(size, n - i)
                for kept in TEXT_META:
                    if kind == kept:
                        metas[m, 0] = track
                        metas[m, 1] = tick
                        metas[m, 2] = kind
                        metas[m, 3] = i
                        metas[m, 4] = held
                        m += 1
                if (kind == TEMPO and held == 3) or (kind == TIME_SIGNATURE and held >= 2) or (
                        kind == KEY_SIGNATURE and held == 2):
                    signatures[s, 0] = kind
                    signatures[s, 1] = tick
                    a, b2 = np.int64(data[i]), np.int64(data[i + 1])
                    if kind == TEMPO:
                        signatures[s, 2] = (a << 16) | (b2 << 8) | np.int64(data[i + 2])
                        signatures[s, 3] = 0
                    elif kind == TIME_SIGNATURE:
                        signatures[s, 2] = a
                        signatures[s, 3] = np.int64(1) << min(b2, 31)
                    else:
                        signatures[s, 2] = a - 256 if a > 127 else a
                        signatures[s, 3] = b2
                    s += 1
                i += size
                continue
            elif b == 0xF0 or b == 0xF7:
                size, i = _vlq(data, i, n)
                if size < 0:
                    error[1], error[2] = LONG_NUMBER, tick
                    break
                if i > n:
                    break
                i += size
                status = 0  # a system exclusive message cancels running status
                continue
            elif b == 0xF1 or b == 0xF2 or b == 0xF3 or b == 0xF6:  # system common: skipped
                size = 2 if b == 0xF2 else 0 if b == 0xF6 else 1
                if i + size > n:
                    break
                bad = -1
                for d in range(size):
                    if data[i + d] & 0x80 and bad < 0:
                        bad = data[i + d]
                if bad >= 0:
                    error[1], error[2], error[3] = DATA_BYTE, tick, bad
                    break
                i += size
                status = 0  # as the standard says: it cancels running status
                continue
            elif b >= 0xF8 and b != 0xF9 and b != 0xFD:  # real time (clock, start, ...): skipped
                continue  # and running status goes on
            else:  # F4, F5, F9, FD: undefined, of unknown length
                error[1], error[2], error[3] = SYSTEM_MESSAGE, tick, b
                break
        elif status == 0:
            error[1], error[2] = NO_STATUS, tick
            break
        high = status & 0xF0
        channel = status & 0x0F
        if high == 0xC0 or high == 0xD0:
            if i >= n:
                break
            d1 = data[i]
            i += 1
            if d1 & 0x80:
                error[1], error[2], error[3] = DATA_BYTE, tick, d1
                break
            if high == 0xC0:
                program[channel] = d1
            continue
        if i + 1 >= n:
            break
        d1 = data[i]
        d2 = data[i + 1]
        i += 2
        if (d1 | d2) & 0x80:
            error[1], error[2] = DATA_BYTES, tick
            break
        if high != 0x80 and high != 0x90:
            continue
        key = channel * 128 + d1
        if owner[key] != track:
            owner[key] = track
            head[key] = tail[key] = -1
        if high == 0x90 and d2:
            if ons < cap:
                on[ons, 0] = tick
                on[ons, 1] = d2
                on[ons, 2] = program[channel]
                _append(on, head, tail, key, ons)
            ons += 1
            continue
        ending = total = 0
        j = head[key]
        while j >= 0:
            total += 1
            if on[j, 0] != tick:
                ending += 1
            j = on[j, 3]
        j = head[key]
        head[key] = tail[key] = -1
        if ending == 0:  # nothing, or only notes begun at this tick: dropped
            continue
        # end the notes begun before this tick; keep those begun at it sounding
        while j >= 0:
            following = on[j, 3]
            if on[j, 0] != tick:
                notes[k, 0] = track
                notes[k, 1] = on[j, 0]
                notes[k, 2] = tick
                notes[k, 3] = d1
                notes[k, 4] = on[j, 1]
                notes[k, 5] = channel
                notes[k, 6] = on[j, 2]
                k += 1
            elif ending < total:
                _append(on, head, tail, key, j)
            j = following
    counts[0], counts[1], counts[2], counts[3] = k, m, s, ons


@numba.njit(cache=True, nogil=True)
def _append(on, head, tail, key, j):
    """Put sounding note j at the end of the list of channel * 128 + pitch `key`."""
    on[j, 3] = -1
    if head[key] < 0:
        head[key] = j
    else:
        on[tail[key], 3] = j
    tail[key] = j


# The helpers below use loops and one sort of their own rather than numpy's fancy indexing, unique,
# searchsorted and argsort: each of those is one more function for numba to compile (a first read
# compiled for 16 s with them), and numba's stable argsort took ~12 us for 400 keys, a radix sort ~2.


@numba.njit(cache=True, nogil=True)
def _stable_order(key):
    """Indices that sort `key` (int64 [n], each >= 0), ties in the order they came: 0..n-1 when
    `key` is already in order, else a least significant digit first radix sort, one byte a pass,
    as many passes as the largest key needs."""
    n = key.shape[0]
    order = np.arange(n)
    top = 0
    ascending = True
    for i in range(n):
        top = max(top, key[i])
        if i and key[i] < key[i - 1]:
            ascending = False
    if ascending:  # most files' part keys and tempo maps: already in order
        return order
    spare = np.empty(n, np.int64)
    count = np.empty(257, np.int64)
    shift = 0
    while shift < 64 and (top >> shift) > 0:
        count[:] = 0
        for i in range(n):
            count[((key[order[i]] >> shift) & 255) + 1] += 1
        for b in range(256):
            count[b + 1] += count[b]
        for i in range(n):
            digit = (key[order[i]] >> shift) & 255
            spare[count[digit]] = order[i]
            count[digit] += 1
        order, spare = spare, order
        shift += 8
    return order


@numba.njit(cache=True, nogil=True)
def _precedes(major, minor, b, a):
    """Whether entry b sorts strictly before entry a by (major, minor)."""
    return major[b] < major[a] or (major[b] == major[a] and minor[b] < minor[a])


@numba.njit(cache=True, nogil=True)
def _merge_order(major, minor, order):
    """`order` (a permutation of 0..n-1) stably sorted by (major, minor) of its entries: a
    natural merge sort, its ascending runs merged pairwise until one is left: O(n) where `order`
    is in order already, O(n log runs) in all, against a radix sort's pass per key byte. (A
    chorale's notes, grouped by part, are one run per voice: two merge passes for four voices.)"""
    n = order.shape[0]
    bounds = np.empty(n + 1, np.int64)  # where each run starts, then n
    bounds[0] = 0
    runs = 1 if n else 0
    for r in range(1, n):
        if _precedes(major, minor, order[r], order[r - 1]):
            bounds[runs] = r
            runs += 1
    bounds[runs] = n
    order = order.copy()
    if runs <= 1:
        return order
    spare = np.empty(n, np.int64)
    while runs > 1:
        merged = 0
        for r in range(0, runs, 2):
            lo = bounds[r]
            mid = bounds[r + 1]
            hi = bounds[r + 2] if r + 2 <= runs else mid
            i, j, out = lo, mid, lo
            while i < mid and j < hi:  # on a tie the left run's entry (it came first) goes first
                if _precedes(major, minor, order[j], order[i]):
                    spare[out] = order[j]
                    j += 1
                else:
                    spare[out] = order[i]
                    i += 1
                out += 1
            while i < mid:
                spare[out] = order[i]
                i += 1
                out += 1
            while j < hi:
                spare[out] = order[j]
                j += 1
                out += 1
            bounds[merged] = lo
            merged += 1
        bounds[merged] = n
        runs = merged
        order, spare = spare, order
    return order


@numba.njit(cache=True, nogil=True)
def _tempo_map(signatures, tpq, error):
    """The tempo map [t, 2] of (quarter, qpm) from the TEMPO rows of `signatures`; a tempo of 0
    microseconds per quarter sets error[4:6] = (tick, 0) (the first, in time order)."""
    count = 0
    for r in range(signatures.shape[0]):
        if signatures[r, 0] == TEMPO:
            count += 1
    ticks = np.empty(count, np.int64)
    values = np.empty(count, np.int64)
    count = 0
    for r in range(signatures.shape[0]):
        if signatures[r, 0] == TEMPO:
            ticks[count] = signatures[r, 1]
            values[count] = signatures[r, 2]
            count += 1
    by_tick = _stable_order(ticks)
    for r in range(count):
        if values[by_tick[r]] <= 0:
            error[4], error[5] = ticks[by_tick[r]], values[by_tick[r]]
            out = np.empty((1, 2))  # a map the notes can be timed by (the caller refuses the file)
            out[0, 0], out[0, 1] = 0.0, 120.0
            return out
    out = np.empty((count + 1, 2))
    rows = 0
    if count == 0 or ticks[by_tick[0]] > 0:
        out[0, 0], out[0, 1] = 0.0, 120.0  # MIDI's default tempo
        rows = 1
    r = 0
    while r < count:
        while r + 1 < count and ticks[by_tick[r + 1]] == ticks[by_tick[r]]:  # at one tick the last counts
            r += 1
        qpm = 60e6 / values[by_tick[r]]
        if rows == 0 or out[rows - 1, 1] != qpm:
            out[rows, 0] = ticks[by_tick[r]] / tpq
            out[rows, 1] = qpm
            rows += 1
        r += 1
    return out[:rows].copy()


@numba.njit(cache=True, nogil=True)
def _signatures(signatures):
    """The time and key signature rows of `signatures`."""
    count = 0
    for r in range(signatures.shape[0]):
        if signatures[r, 0] != TEMPO:
            count += 1
    out = np.empty((count, 4), np.int64)
    count = 0
    for r in range(signatures.shape[0]):
        if signatures[r, 0] != TEMPO:
            for c in range(4):
                out[count, c] = signatures[r, c]
            count += 1
    return out


@numba.njit(cache=True, nogil=True)
def _parts(raw):
    """(the part of each note [k], parts [p, 3] of (track, channel, program) in that order)."""
    k = raw.shape[0]
    key = np.empty(k, np.int64)
    for i in range(k):
        key[i] = (raw[i, 0] * 16 + raw[i, 5]) * 128 + raw[i, 6]
    by_key = _stable_order(key)
    part_of = np.empty(k, np.int64)
    parts = np.empty((k, 3), np.int64)
    p = -1
    for r in range(k):
        i = by_key[r]
        if r == 0 or key[i] != key[by_key[r - 1]]:
            p += 1
            parts[p, 0], parts[p, 1], parts[p, 2] = raw[i, 0], raw[i, 5], raw[i, 6]
        part_of[i] = p
    return part_of, parts[:p + 1].copy()


@numba.njit(cache=True, nogil=True)
def _columns(raw, part_of, tpq, tempos):
    """The Score's note columns and `order` (see `read_file`)."""
    k = raw.shape[0]
    # file order: grouped by part, each group in the order the notes ended
    grouped = _stable_order(part_of)
    position = np.empty(k, np.int64)
    for r in range(k):
        position[grouped[r]] = r
    # make_score's order: by (start, part, pitch), ties as they came (ties share a part, so the
    # grouping kept their order); a part's notes, in the order they ended, are mostly in order
    # of start already
    start = np.empty(k, np.int64)
    low = np.empty(k, np.int64)
    for i in range(k):
        start[i] = raw[i, 1]
        low[i] = part_of[i] * 128 + raw[i, 3]
    by_start = _merge_order(start, low, grouped)
    tq = tempos[:, 0].copy()
    qpm = tempos[:, 1].copy()
    seg_start = np.zeros(tq.shape[0])
    for j in range(1, tq.shape[0]):  # as np.cumsum adds them
        seg_start[j] = seg_start[j - 1] + (tq[j] - tq[j - 1]) * 60.0 / qpm[j - 1]
    last = tq.shape[0] - 1
    pitch = np.empty(k, np.int16)
    velocity = np.empty(k, np.int16)
    part = np.empty(k, np.int16)
    quarters = np.empty((2, k))
    seconds = np.empty((2, k))
    order = np.empty(k, np.int64)
    at = 0  # the tempo in force at the current start (starts come in time order)
    for r in range(k):
        i = by_start[r]
        order[r] = position[i]
        pitch[r] = raw[i, 3]
        velocity[r] = raw[i, 4]
        part[r] = part_of[i]
        q = raw[i, 1] / tpq
        while at < last and tq[at + 1] <= q:
            at += 1
        quarters[0, r] = q
        seconds[0, r] = seg_start[at] + (q - tq[at]) * 60.0 / qpm[at]
        q = raw[i, 2] / tpq
        j = at
        while j < last and tq[j + 1] <= q:
            j += 1
        quarters[1, r] = q
        seconds[1, r] = seg_start[j] + (q - tq[j]) * 60.0 / qpm[j]
    columns = (pitch, quarters[0], quarters[1], seconds[0], seconds[1], velocity, part)
    return columns, order
