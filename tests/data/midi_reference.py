"""A plain-Python MIDI track decoder: the reference the compiled one (`musicjax.data.midi_kernel`)
is tested against. It was the reader's own decoder before the compiled one; kept as written, with
dicts and lists, so that the two share nothing but the rule (see `musicjax.data.midi`)."""

from __future__ import annotations


def tempo_map(tempos: list, tpq: int) -> list:
    """(quarter, qpm) rows from (tick, microseconds per quarter) events in file order: at one tick
    the last one counts, a repeat of the tempo in force is no change, before the first 120 qpm.
    Raises ValueError at a tempo of 0 (the first in time order)."""
    events = sorted(tempos, key=lambda r: r[0])
    for t, m in events:
        if m <= 0:
            raise ValueError(f"a tempo of {m} microseconds per quarter note at tick {t}")
    rows: list[list] = []
    for t, m in events:
        if rows and rows[-1][0] == t:
            rows[-1][1] = m
        else:
            rows.append([t, m])
    out = [(0, 120.0)] if not rows or rows[0][0] > 0 else []
    for t, m in rows:
        if not out or out[-1][1] != 60e6 / m:
            out.append((t, 60e6 / m))
    return [(t / tpq, q) for t, q in out]


def decode_track(body: bytes) -> tuple[list, list, int]:
    """(notes [(channel, program, start, end, pitch, velocity)] grouped by (channel, program) in
    that order, within a group in the order they ended; metas [(tick, kind, payload)] of kinds
    01 03 05 06 51 58 59; note-ons). Raises ValueError where the compiled decoder reports an
    error; what follows a truncated last event is ignored."""
    n, i, tick, status = len(body), 0, 0, 0
    program = [0] * 16
    sounding: dict[int, list] = {}  # channel * 128 + pitch -> [(start tick, velocity, program)]
    notes: dict[tuple[int, int], list] = {}  # (channel, program) -> [(start, end, pitch, velocity)]
    metas, note_ons = [], 0

    def vlq():
        nonlocal i
        start = i
        b = body[i]
        i += 1
        value = b & 0x7F
        while b & 0x80:
            if i - start == 8 and i < n:
                raise ValueError(f"a variable-length number of more than 8 bytes after tick {tick}")
            b = body[i]
            i += 1
            value = (value << 7) | (b & 0x7F)
        return value

    try:
        while i < n:
            delta = vlq()
            if i < n and tick + delta > 2**53:
                raise ValueError(f"a time past 2**53 ticks after tick {tick}")
            tick += delta
            b = body[i]
            if b & 0x80:
                i += 1
                if b < 0xF0:
                    status = b
                elif b == 0xFF:
                    kind = body[i]
                    i += 1
                    size = vlq()
                    payload = body[i:i + size]
                    i += size
                    if kind == 0x2F:
                        break
                    if kind in (0x01, 0x03, 0x05, 0x06, 0x51, 0x58, 0x59):
                        metas.append((tick, kind, payload))
                    continue
                elif b in (0xF0, 0xF7):
                    i += vlq()
                    status = 0
                    continue
                elif b in (0xF1, 0xF2, 0xF3, 0xF6):  # system common: skipped, running status ends
                    size = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}[b]
                    if i + size > n:
                        break
                    for d in body[i:i + size]:
                        if d & 0x80:
                            raise ValueError(f"a data byte of {d} at tick {tick}")
                    i += size
                    status = 0
                    continue
                elif b >= 0xF8 and b not in (0xF9, 0xFD):  # real time: skipped, running status goes on
                    continue
                else:
                    raise ValueError(f"a system message (status {b:#x}) inside a track at tick {tick}")
            elif not status:
                raise ValueError(f"running status without a status byte at tick {tick}")
            high, channel = status & 0xF0, status & 0x0F
            if high in (0xC0, 0xD0):
                d1 = body[i]
                i += 1
                if d1 & 0x80:
                    raise ValueError(f"a data byte of {d1} at tick {tick}")
                if high == 0xC0:
                    program[channel] = d1
                continue
            d1, d2 = body[i], body[i + 1]
            i += 2
            if (d1 | d2) & 0x80:
                raise ValueError(f"a data byte over 127 at tick {tick}")
            if high == 0x90 and d2:
                note_ons += 1
                sounding.setdefault(channel * 128 + d1, []).append((tick, d2, program[channel]))
            elif high in (0x80, 0x90):
                key = channel * 128 + d1
                now = sounding.get(key)
                if now is None:
                    continue
                ending = [x for x in now if x[0] != tick]
                for start, velocity, prog in ending:
                    notes.setdefault((channel, prog), []).append((start, tick, d1, velocity))
                if ending and len(ending) < len(now):
                    sounding[key] = [x for x in now if x[0] == tick]  # begun at this tick: still sounding
                else:
                    del sounding[key]
    except IndexError:  # the last event is cut short
        pass
    rows = [(channel, prog, *note) for (channel, prog), group in sorted(notes.items()) for note in group]
    return rows, metas, note_ons


def attach_lyrics(pitch, start_q, part, order, part_track, part_drum, lyric_track, lyric_tick, tpq) -> tuple:
    """The rule of `midi_lyrics_kernel.attach_lyrics` (same arguments), one scan of the notes per lyric:
    (note index in the Score's order, ordinal among its track's lyrics on that note) per lyric."""
    notes, ordinals = [], []
    everything = range(len(pitch))
    for track in sorted(set(lyric_track.tolist())):
        ticks = [t for tr, t in zip(lyric_track.tolist(), lyric_tick.tolist()) if tr == track]
        mine = [i for i in everything if part_track[part[i]] == track]
        if not mine:
            candidates = [p for p in range(len(part_track)) if not part_drum[p]] or list(range(len(part_track)))

            def hits(p):
                onsets = {round(start_q[i] * tpq) for i in everything if part[i] == p}
                return sum(t in onsets for t in ticks)

            sung = max(candidates, key=hits)  # the first of equal ones
            mine = [i for i in everything if part[i] == sung]
        count: dict[int, int] = {}
        for t in ticks:
            q = t / tpq
            at = [i for i in mine if start_q[i] == q]
            later = [i for i in mine if start_q[i] > q]
            if at:
                note = max(at, key=lambda i: (pitch[i], -order[i]))
            elif later:
                soonest = min(start_q[i] for i in later)
                note = min((i for i in later if start_q[i] == soonest), key=lambda i: order[i])
            else:
                note = max(mine, key=lambda i: order[i])
            count[note] = count.get(note, 0) + 1
            notes.append(note)
            ordinals.append(count[note])
    return notes, ordinals
