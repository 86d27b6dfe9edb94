"""MusicXML, ABC and Humdrum to Scores through music21, and ABC tune books split into tunes.

While parsing, music21 steps that only lay out notation (beaming; re-barring ABC measures, which
splits notes at barlines into ties that are merged again here) are skipped: together with
music21's `stripTies` (ties are merged in `stream_to_score` instead) they were 80% of the Essen
parse time."""

from __future__ import annotations

import contextlib
import pathlib
import re
import warnings
import zipfile
from fractions import Fraction

import numpy as np

from musicjax.data import limits
from musicjax.data.files import check_regular_file, data_dir, read_capped
from musicjax.data.score import DEFAULT_QPM, SYLLABIC, Metadata, Part, Score, ScoreError, make_score

NOTATION_SUFFIXES = {".xml": "musicxml", ".musicxml": "musicxml", ".mxl": "musicxml", ".abc": "abc",
                     ".krn": "humdrum"}
DEFAULT_VELOCITY = 80  # notation carries no velocity; what music21's MIDI export would differ from
_SYLLABIC = {"begin": "begin", "middle": "middle", "end": "end", "single": "single"}


def configure_music21() -> None:
    """Point music21's scratch directory inside the musicjax data dir (never a shared /tmp path:
    music21 caches pickles there). In memory only: the user's music21 settings file is untouched."""
    from music21 import environment

    scratch = data_dir() / "music21-scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    environment.Environment()["directoryScratch"] = str(scratch)


@contextlib.contextmanager
def _layout_steps_skipped(skip: bool = True):
    """Within the block, music21 neither beams nor re-bars ABC: layout only, no pitch or time
    changes (tests/data/test_notation.py checks the notes equal a plain music21 parse)."""
    from music21 import stream
    from music21.abcFormat import translate

    originals = stream.Stream.makeBeams, translate.reBar
    if skip:
        stream.Stream.makeBeams = lambda self, *args, **kwargs: None if kwargs.get("inPlace") else self
        translate.reBar = lambda s, *args, **kwargs: None if kwargs.get("inPlace") else s
    try:
        yield
    finally:
        stream.Stream.makeBeams, translate.reBar = originals


# Krumhansl-Kessler key profiles (probe-tone ratings) of C major and C minor, index = pitch class
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


def key_name(k) -> str:
    """music21 Key -> 'Bb major' / 'C# minor' style name (a bare KeySignature is read as major:
    `_opening_key_name` decides its mode from the notes instead)."""
    from music21 import key as m21key

    if not isinstance(k, m21key.Key):
        k = k.asKey("major")
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


def _opening_key(flat):
    """The key a part opens in: a Key (tonic and mode) where the source states one beside its
    signature (Humdrum's `*c#:` next to `*k[f#c#g#d#]`, MusicXML's <mode>, ABC's K:Am), else the
    bare KeySignature; None without either."""
    from music21 import key

    sigs = list(flat.getElementsByClass(key.KeySignature))
    if not sigs:
        return None
    first = min(float(k.offset) for k in sigs)
    opening = [k for k in sigs if float(k.offset) == first]
    return next((k for k in opening if isinstance(k, key.Key)), opening[0])


def _opening_key_name(ks, pitch, duration) -> str:
    """'C# minor' style name of the opening key. A signature without a stated mode (4 sharps: E
    major or C# minor) takes the mode whose Krumhansl-Kessler profile fits the notes' duration-
    weighted pitch classes better."""
    from music21 import key

    if isinstance(ks, key.Key):
        return key_name(ks)
    weights = np.bincount(np.asarray(pitch) % 12, weights=np.asarray(duration, float), minlength=12)
    major, minor = ks.asKey("major"), ks.asKey("minor")
    fit = lambda profile, k: np.corrcoef(weights, np.roll(profile, k.tonic.pitchClass))[0, 1]
    r_major, r_minor = fit(MAJOR_PROFILE, major), fit(MINOR_PROFILE, minor)
    return key_name(minor if np.isfinite(r_minor) and (not np.isfinite(r_major) or r_minor > r_major) else major)


def stream_to_score(s, meta: Metadata = Metadata(), path="<stream>") -> Score:
    """A music21 Score/Part/Stream as a Score: ties merged, grace notes and chord symbols dropped,
    each chord pitch a note; repeats are not expanded. Raises ScoreError naming `path`."""
    try:
        return _stream_to_score(s, meta, path)
    except (ScoreError, MemoryError):
        raise
    except Exception as e:  # a stream music21 built but cannot answer questions about
        raise ScoreError(path, f"unusable notation ({type(e).__name__}: {e})") from None


def _stream_to_score(s, meta: Metadata, path) -> Score:
    from music21 import harmony, meter, tempo

    parts_in = list(s.parts) if hasattr(s, "parts") and len(s.parts) else [s]
    flat_all = s.flatten()
    marks = [(float(m.offset), m.getQuarterBPM()) for m in flat_all.getElementsByClass(tempo.MetronomeMark)]
    marks = [(q, float(bpm)) for q, bpm in marks if bpm is not None and bpm > 0]
    tempos = sorted(dict(marks).items()) if marks else []
    if not tempos or tempos[0][0] > 0:
        tempos = [(0.0, tempos[0][1] if tempos else DEFAULT_QPM)] + tempos

    pitch, start_q, end_q, vel, part_of, lyrics, parts = [], [], [], [], [], [], []
    ks, ts = None, None
    for pi, p in enumerate(parts_in):
        flat = p.flatten()
        ks = ks or _opening_key(flat)
        ts = ts or flat.getElementsByClass(meter.TimeSignature).first()
        open_ties = {}  # midi pitch -> index of the note a tie continues
        for el in flat.notes:
            if isinstance(el, harmony.Harmony) or el.duration.isGrace or el.quarterLength == 0:
                continue
            members = sorted(el.notes if el.isChord else [el], key=lambda n: n.pitch.midi)
            if not members:
                continue
            off = float(Fraction(el.offset))
            dur = float(Fraction(el.quarterLength))
            v = el.volume.velocity if el.volume is not None and el.volume.velocity is not None else DEFAULT_VELOCITY
            top = None
            for n in members:
                m = n.pitch.midi
                tie = (n.tie or el.tie).type if (n.tie or el.tie) is not None else None
                held = open_ties.get(m)
                if tie in ("stop", "continue") and held is not None and abs(end_q[held] - off) < 1e-9:
                    end_q[held] = off + dur  # a tied continuation lengthens the note it continues
                    idx = held
                else:
                    idx = len(pitch)
                    pitch.append(m)
                    start_q.append(off)
                    end_q.append(off + dur)
                    vel.append(int(v))
                    part_of.append(pi)
                if tie in ("start", "continue"):
                    open_ties[m] = idx
                else:
                    open_ties.pop(m, None)
                top = idx  # the chord's highest pitch carries its lyrics
            for ly in el.lyrics:
                if ly.text and ly.text.strip():
                    lyrics.append((top, ly.text, _SYLLABIC.get(ly.syllabic, "single"), int(ly.number or 1)))
        inst = p.getInstrument(returnDefault=False) if hasattr(p, "getInstrument") else None
        program = inst.midiProgram if inst is not None and inst.midiProgram is not None else 0
        name = (getattr(p, "partName", None) or (inst.partName if inst is not None else None) or "")
        parts.append(Part(str(name), int(program), False))
    if not pitch:
        raise ScoreError(path, "no notes")
    if any(not 0 <= m <= 127 for m in pitch):
        raise ScoreError(path, "pitch outside the MIDI range 0-127")
    md = s.metadata if getattr(s, "metadata", None) is not None else None
    meta = Metadata(
        title=meta.title or _title(md, path),
        composer=meta.composer or (md.composer if md and md.composer else "") or "",
        key=meta.key or (_opening_key_name(ks, pitch, np.subtract(end_q, start_q)) if ks is not None else ""),
        meter=meta.meter or (ts.ratioString if ts is not None else ""),
        source_id=meta.source_id, collection=meta.collection, region=meta.region, tune_type=meta.tune_type,
    )
    return make_score(pitch, start_q, end_q, velocity=vel, part=part_of, parts=parts, lyrics=lyrics,
                      tempos=tempos, meta=meta, pickup_q=_pickup_q(parts_in[0]))


def _pickup_q(part) -> float | None:
    """Quarters before the first bar line of a music21 Part: the first measure's length when music21
    marks it as a pickup (left padding, or a short measure numbered 0), 0.0 for a full first bar;
    None without measures."""
    first = part.getElementsByClass("Measure").first() if hasattr(part, "getElementsByClass") else None
    if first is None or float(first.offset) != 0.0:
        return None
    length = float(Fraction(first.duration.quarterLength))
    short = first.number == 0 and length < float(first.barDuration.quarterLength)
    return length if float(first.paddingLeft) > 0 or short else 0.0


def _title(md, path) -> str:
    """The piece's title in music21 metadata: its title, else its movement name (where MusicXML
    keeps a title that equals the movement title, music21 reads it as the movement name only),
    unless that is just the file's name, as music21 sets it for a file without one."""
    if md is None:
        return ""
    if md.title:
        return str(md.title)
    movement = str(md.movementName or "")
    return "" if movement in (pathlib.Path(str(path)).name, pathlib.Path(str(path)).stem) else movement


def _parse(data, path, fmt: str, fast: bool = True):
    from music21 import converter

    with warnings.catch_warnings(), _layout_steps_skipped(fast):
        warnings.simplefilter("ignore")
        try:
            if isinstance(data, str):
                return converter.parseData(data, format=fmt, forceSource=True)
            return converter.parse(pathlib.Path(path), format=fmt, forceSource=True)
        except (ScoreError, MemoryError):
            raise
        except Exception as e:  # music21 raises many unrelated types for malformed input
            raise ScoreError(path, f"malformed {fmt} ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})") from None


# ---- MusicXML: notes counted before parsing; .mxl unzipped under a cap -----------------------

_NOTE_ELEMENT = re.compile(rb"<note[\s>/]")


def _check_musicxml_notes(data: bytes, path) -> None:
    """Refuse MusicXML with more `<note>` elements than `limits.MAX_NOTES` (rests and tied pieces
    count) before music21 spends ~12 KB on each."""
    n = len(_NOTE_ELEMENT.findall(data))
    if n > limits.MAX_NOTES:
        raise ScoreError(path, f"{n:,} <note> elements; the limit is {limits.MAX_NOTES:,}")


def _mxl_member(names: list[str]) -> str | None:
    """The score inside an .mxl, chosen as music21 chooses it: the first member outside META-INF
    named *.musicxml, *.xml or *.mxl (or just '.xml', a Noteflight bug)."""
    for name in names:
        if "META-INF" not in name and (pathlib.PurePosixPath(name).suffix in (".musicxml", ".xml", ".mxl")
                                       or name == ".xml"):
            return name
    return None


def read_mxl_text(path) -> str:
    """The MusicXML text inside an .mxl (a zip), read under `limits`: the archive's size, its
    member count and declared unzipped size are checked first, and the score is read in a stream
    that stops at the cap whatever the archive declares (declared sizes can lie)."""
    check_regular_file(path, limits.MAX_FILE_BYTES["mxl"], "an .mxl archive")
    cap = limits.MAX_MXL_UNZIPPED_BYTES
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        if len(infos) > limits.MAX_MXL_MEMBERS:
            raise ScoreError(path, f"an .mxl archive of {len(infos):,} files; the limit is {limits.MAX_MXL_MEMBERS}")
        declared = sum(i.file_size for i in infos)
        if declared > cap:
            raise ScoreError(path, limits.too_big(declared, cap, "the .mxl archive unzipped"))
        name = _mxl_member([i.filename for i in infos])
        if name is None:
            raise ScoreError(path, "no MusicXML score inside the .mxl archive")
        with z.open(name) as f:
            data = f.read(cap + 1)
        if len(data) > cap:
            raise ScoreError(path, limits.too_big(len(data), cap, "the .mxl archive unzipped"))
    _check_musicxml_notes(data, path)
    # decoded as music21's own .mxl reader decodes it
    found = re.match(rb"encoding=['\"](\S*?)['\"]", data[:1000])
    try:
        return data.decode(found.group(1).decode("ascii") if found else "utf-8")
    except UnicodeDecodeError:
        return re.sub(r"encoding=(['\"]\S*?['\"])", "encoding='UTF-8'", data.decode("utf-16-le"))


# ---- ABC tune books --------------------------------------------------------------------------

_FIELD = re.compile(r"^([A-Za-z]):\s*(.*?)\s*$")


def split_abc(text: str) -> list[tuple[dict[str, str], str]]:
    """An ABC tune book's text -> [(header fields of the tune, tune text)], in book order.

    Header fields are the first value of each single-letter field before the tune body (T, R, O,
    N, ...); a file header (text before the first X:) is prepended to every tune, as ABC says."""
    chunks = re.split(r"(?m)^(?=X:)", text.replace("\r\n", "\n").replace("\r", "\n"))
    file_header = chunks[0] if chunks and not chunks[0].startswith("X:") else ""
    tunes = []
    for chunk in chunks:
        if not chunk.startswith("X:"):
            continue
        fields = {}
        for line in chunk.splitlines():
            m = _FIELD.match(line)
            if m and m.group(1) not in fields:
                fields[m.group(1)] = m.group(2)
            if m and m.group(1) == "K":
                break
        body = (file_header.strip() + "\n\n" if file_header.strip() else "") + chunk
        tunes.append((fields, body))
    return tunes


def read_abc_text(text: str, path, meta: Metadata = Metadata()) -> Score:
    """One ABC tune's text as a Score."""
    size = len(text.encode("utf-8"))
    if size > limits.MAX_ABC_TUNE_BYTES:
        raise ScoreError(path, limits.too_big(size, limits.MAX_ABC_TUNE_BYTES, "the ABC tune"))
    parsed = _parse(text, path, "abc")
    if hasattr(parsed, "scores") and len(parsed.scores):
        parsed = parsed.scores[0]
    return stream_to_score(parsed, meta, path)


def read_notation(path) -> list[Score]:
    """Every piece in a MusicXML/.mxl, Humdrum or ABC file (an ABC book holds many tunes), each
    file read under `limits`."""
    path = pathlib.Path(path)
    fmt = NOTATION_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ScoreError(path, f"unknown extension {path.suffix!r}")
    if fmt == "abc":
        scores = []
        for fields, body in read_abc_book(path):
            meta = Metadata(title=fields.get("T", ""), composer=fields.get("C", ""),
                            tune_type=normalise_tune_type(fields.get("R", "")))
            scores.append(read_abc_text(body, path, meta))
        return scores
    if path.suffix.lower() == ".mxl":
        parsed = _parse(read_mxl_text(path), path, fmt)
        if getattr(parsed, "metadata", None) is not None and parsed.metadata.movementName is None:
            parsed.metadata.movementName = path.name  # as music21 does when it reads the file itself
    else:
        data = read_capped(path, limits.MAX_FILE_BYTES[fmt], f"a {fmt} file")
        if not data:
            raise ScoreError(path, "empty file")
        if fmt == "musicxml":
            _check_musicxml_notes(data, path)
        parsed = _parse(None, path, fmt)  # music21 reads the file (it knows its encodings)
    if hasattr(parsed, "scores"):
        return [stream_to_score(sc, Metadata(), path) for sc in parsed.scores]
    return [stream_to_score(parsed, Metadata(), path)]


def read_abc_book(path) -> list[tuple[dict[str, str], str]]:
    """The tunes of an ABC file, `split_abc`'s rows, within `limits` (file size, tune count)."""
    tunes = split_abc(read_text(path))
    if not tunes:
        raise ScoreError(path, "no ABC tune (no X: field)")
    if len(tunes) > limits.MAX_ABC_TUNES:
        raise ScoreError(path, f"{len(tunes):,} ABC tunes; the limit is {limits.MAX_ABC_TUNES:,} per file")
    return tunes


def read_text(path) -> str:
    data = read_capped(path, limits.MAX_FILE_BYTES["abc"], "an ABC file")
    if not data.strip():
        raise ScoreError(path, "empty file")
    if b"\x00" in data:
        raise ScoreError(path, "binary data where text was expected")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def normalise_tune_type(r: str) -> str:
    """ABC `R:` values as written in the books ('Reel', ' slip jig', 'slipjig') -> 'reel', 'slip jig'."""
    r = " ".join(r.lower().replace("-", " ").split())
    return {"slipjig": "slip jig", "doublejig": "double jig", "single jig": "jig"}.get(r, r)


def _music21_key(name: str):
    """'C# minor' / 'Bb major' / 'D dorian' -> a music21 Key; None for '' or a name it cannot read."""
    from music21 import key

    words = name.split()
    if not words:
        return None
    tonic = words[0][:1] + words[0][1:].replace("b", "-")  # music21 spells flats '-': 'B-'
    try:
        return key.Key(tonic, words[1].lower() if len(words) > 1 else "major")
    except Exception:  # music21 raises several types for a tonic or mode it does not know
        return None


def _music21_meter(ratio: str):
    """'3/4' -> a music21 TimeSignature; None for '' or a meter it cannot read."""
    from music21 import meter

    if not ratio:
        return None
    try:
        return meter.TimeSignature(ratio)
    except Exception:
        return None


def score_to_stream(score: Score):
    """The Score as a music21 stream.Score for MusicXML: one Part per part, each opening with the
    score's key (tonic and mode), meter and tempo marks; title and composer; lyrics on notes; a
    pickup (`pickup_q` shorter than a bar of the meter) as a short measure 0, so bar lines fall
    where the source had them."""
    from music21 import metadata, note, stream, tempo

    ts = _music21_meter(score.meta.meter)
    bar = float(ts.barDuration.quarterLength) if ts is not None else 4.0
    shift = bar - score.pickup_q if score.pickup_q and score.pickup_q < bar else 0.0
    out = stream.Score()
    out.metadata = metadata.Metadata(title=score.meta.title, composer=score.meta.composer)
    lyrics_of = {}
    for n, t, s, v in zip(score.lyric_note, score.lyric_text, score.lyric_syllabic, score.lyric_verse):
        lyrics_of.setdefault(int(n), []).append((int(v), t, int(s)))
    for pi, part in enumerate(score.parts):
        p = stream.Part()
        p.partName = part.name
        for opening in (_music21_key(score.meta.key), _music21_meter(score.meta.meter)):
            if opening is not None:
                p.insert(0, opening)
        for q, qpm in score.tempos:
            p.insert(float(q) + shift, tempo.MetronomeMark(number=float(qpm)))
        for i in score.part_notes(pi):
            n = note.Note(int(score.pitch[i]), quarterLength=float(score.end_q[i] - score.start_q[i]))
            n.volume.velocity = int(score.velocity[i])
            for verse, text, syl in sorted(lyrics_of.get(int(i), [])):
                n.addLyric(text, lyricNumber=verse)
                n.lyrics[-1].syllabic = SYLLABIC[syl]
            p.insert(float(score.start_q[i]) + shift, n)
        if shift:
            p = _as_pickup(p.makeMeasures(), shift)
            p.partName = part.name
        out.insert(0, p)
    return out


def _as_pickup(part, shift: float):
    """A measured music21 Part whose music was placed `shift` quarters late (so that its first bar
    line is a real one) with that lead removed: the first measure loses its leading rests and
    becomes a pickup measure 0 (left padding `shift`), every later measure moves `shift` earlier."""
    measures = list(part.getElementsByClass("Measure"))
    first = measures[0]
    for holder in [first, *first.voices]:
        for el in list(holder.notesAndRests):
            if el.isRest and el.offset < shift:
                holder.remove(el)
        for el in list(holder.getElementsByClass(("GeneralNote", "MetronomeMark"))):
            holder.setElementOffset(el, max(0.0, float(el.offset) - shift))
    first.paddingLeft, first.number = shift, 0
    for m in measures[1:]:
        part.setElementOffset(m, float(m.offset) - shift)
        m.number -= 1
    return part


def write_musicxml(score: Score, path) -> None:
    """Write MusicXML through music21 (which lays out measures and voices), atomically. Refuses
    (ScoreError) bytes that `read_notation` would refuse: too large, or too many <note> elements
    (music21 adds rests and splits notes at barlines into tied pieces)."""
    import tempfile

    from musicjax.data.files import atomic_write

    with tempfile.TemporaryDirectory() as tmp:
        written = score_to_stream(score).write("musicxml", fp=pathlib.Path(tmp) / "score.musicxml")
        data = pathlib.Path(written).read_bytes()
    cap = limits.MAX_FILE_BYTES["musicxml"]
    if len(data) > cap:
        raise ScoreError(path, limits.too_big(len(data), cap, "the MusicXML it makes"))
    _check_musicxml_notes(data, path)
    atomic_write(path, lambda f: f.write(data))
