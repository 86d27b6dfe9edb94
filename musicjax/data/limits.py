"""What a reader accepts and a writer may write: every size limit, in one place. A file or Score
beyond one is refused with a ScoreError that names the limit, before the expensive work starts.

Each limit is sized so that the worst file within it is read in about two minutes or less on the
project's 2-core machine (measured with music21 10.5, numba 0.68, mido 1.3.3):

- MIDI file (.mid .midi .kar): 2 MiB and 1,000 tracks. The worst within the limits (99,000
  overlapping notes of one pitch and 420,000 other events in 1.9 MB) read in 0.03 s (the
  compiled decoder, `midi_kernel.py`), 290 MB peak for the whole process (numba's included); a
  chorale file ~0.1 ms. The decoder's arrays grow with the file's bytes, so this limit bounds them.
- MusicXML text (.xml .musicxml, and the score inside an .mxl once unzipped): 32 MiB. music21
  took 19 s and 270 MB for Beethoven's op. 132 (10.9 MB, 17,842 notes); at the note limit about
  100 s and 1.2 GB (extrapolated).
- .mxl archive: 16 MiB compressed; 32 MiB unzipped, all members together; 64 members. A zip bomb
  is refused from its declared sizes, and unzipping stops at the cap whatever it declares.
- ABC file (a tune book): 1 MiB and 5,000 tunes (music21: ~22 ms a tune, ~0.3 ms a note).
- One ABC tune: 128 KiB (~0.3 ms and ~6 KB a note in music21: at most ~30 s, ~550 MB).
- Humdrum file (.krn): 512 KiB (music21's Humdrum parser: ~3 ms a note, ~5 KB of file a second).
- Notes in a piece: 100,000. MIDI note-ons and MusicXML `<note>` elements (rests and tied pieces
  count) are counted before parsing; music21 spends ~1 ms and ~12 KB on each.
- A piece's length: 10,000 quarter notes and 3 hours. MIDI ticks have no limit of their own (the
  reader allocates nothing per tick; pretty_midi's 10,000,000 refused valid long movements at
  music21's 10,080 ticks per quarter); at 960 ticks per quarter, which `score_to_pretty_midi`
  writes, 10,000 quarters stay under pretty_midi's limit.

Writers check a Score against the same limits and the bytes they make against the file limits,
so that whatever is written reads back.
"""

from __future__ import annotations

import math


KIB = 1024
MIB = 1024 * KIB

MAX_FILE_BYTES = {  # by format; the size on disk
    "midi": 2 * MIB,
    "musicxml": 32 * MIB,
    "mxl": 16 * MIB,
    "abc": 1 * MIB,
    "humdrum": 512 * KIB,
}
MAX_MIDI_TRACKS = 1_000
MAX_MXL_UNZIPPED_BYTES = MAX_FILE_BYTES["musicxml"]  # all members of an .mxl together, once unzipped
MAX_MXL_MEMBERS = 64  # a score, its container.xml, a few images
MAX_ABC_TUNES = 5_000  # per file; the corpora's largest book (Essen erk30) has 720
MAX_ABC_TUNE_BYTES = 128 * KIB  # the corpora's longest tune is 2.6 KB
MAX_NOTES = 100_000
MAX_PARTS = 32_767  # Score.part is int16 (a MIDI file's parts: its (track, channel, program)s)
MAX_QUARTERS = 10_000.0
MAX_SECONDS = 3 * 3600.0


def score_problem(score) -> str | None:
    """Why `score` is beyond the limits (a reason for ScoreError), or None when it is within them.
    NaN and infinite times or tempos are beyond them."""
    if score.num_notes == 0 or score.num_notes > MAX_NOTES:
        return extent_problem(score.num_notes, 0.0, 0.0, score.tempos)
    return extent_problem(score.num_notes, float(score.end_q.max()), float(score.end.max()), score.tempos)


def extent_problem(num_notes: int, end_q: float, end_s: float, tempos) -> str | None:
    """`score_problem` of a score of `num_notes` whose latest note ends at quarter `end_q`, second
    `end_s`, with tempo map `tempos` [t, 2] (quarter, qpm): what a reader that knows these
    (`midi.read_midi`) checks without the Score's columns."""
    if not num_notes <= MAX_NOTES:
        return f"{num_notes:,} notes; the limit is {MAX_NOTES:,}"
    if num_notes == 0:
        return None
    if not (math.isfinite(end_q) and end_q <= MAX_QUARTERS):
        return f"lasts {end_q:,.0f} quarter notes; the limit is {MAX_QUARTERS:,.0f}"
    tempos = tempos.tolist()  # a few rows: cheaper in Python than three numpy reductions
    if not (tempos and all(math.isfinite(q) and math.isfinite(qpm) and qpm > 0 for q, qpm in tempos)):
        return "a tempo that is not a positive number of quarter notes per minute"
    if not (math.isfinite(end_s) and end_s <= MAX_SECONDS):
        return f"lasts {end_s:,.0f} seconds; the limit is {MAX_SECONDS:,.0f} ({MAX_SECONDS / 3600:g} hours)"
    return None


def too_big(nbytes: int, limit: int, what: str) -> str:
    return f"{what} is {nbytes:,} bytes or more; the limit is {limit:,} ({limit / MIB:g} MiB)"
