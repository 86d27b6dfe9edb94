"""Interop with the MIDI objects users' code already holds: `pretty_midi.PrettyMIDI` and
`symusic.Score`, both ways, through the MIDI bytes each side writes and the other reads (so the
notes are what `midi.read_midi` reads from that file)."""

from __future__ import annotations

import io

from musicjax.data.midi import read_midi
from musicjax.data.midi_write import TICKS_PER_QUARTER, midi_bytes
from musicjax.data.score import Score


def _symusic_parse(data: bytes):
    import symusic

    return symusic.Score.from_midi(data)


def score_to_pretty_midi(score: Score):
    """The score as a `pretty_midi.PrettyMIDI` (for synthesis, or a user's own code), via the bytes
    `write_midi` writes at 960 ticks per quarter (pretty_midi allocates an array per tick)."""
    import pretty_midi

    return pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(score, TICKS_PER_QUARTER)))


def pretty_midi_to_score(pm, name: str = "<pretty_midi>") -> Score:
    """A `pretty_midi.PrettyMIDI` as a Score: the MIDI bytes it writes, read by `read_midi`."""
    buf = io.BytesIO()
    pm.write(buf)
    return read_midi(name, buf.getvalue())


def score_to_symusic(score: Score):
    """The score as a `symusic.Score` (ticks), via the bytes `write_midi` writes."""
    return _symusic_parse(midi_bytes(score))


def symusic_to_score(sym, name: str = "<symusic>") -> Score:
    """A `symusic.Score` (any time unit) as a Score: the MIDI bytes it writes, read by `read_midi`."""
    return read_midi(name, bytes(sym.to("tick").dumps_midi() if sym.ttype != "Tick" else sym.dumps_midi()))
