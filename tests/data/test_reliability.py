"""Hostile input, made here: every reader turns whatever goes wrong into one ScoreError line, files
beyond `musicjax.data.limits` are refused cheaply (a zip bomb within 200 MB), writers refuse what
readers would, and a killed corpus build leaves no workers, no lock and nothing it cannot clean."""

import fcntl
import io
import os
import pathlib
import random
import signal
import struct
import subprocess
import sys
import time
import zlib

import mido
import numpy as np
import pytest

from musicjax.data import io as score_io
from musicjax.data import limits
from musicjax.data.io import read_score, read_scores, write_score
from musicjax.data.score import ScoreError, make_score

REPO = pathlib.Path(__file__).resolve().parents[2]


# ---- hostile files -------------------------------------------------------------------------------


def midi_bytes(*, tempo: int = 500000, ticks_per_quarter: int = 480, note_ticks: int = 480, notes: int = 4) -> bytes:
    mf = mido.MidiFile(type=1, ticks_per_beat=ticks_per_quarter)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    track = mido.MidiTrack()
    for i in range(notes):
        track.append(mido.Message("note_on", note=60 + i, velocity=80, time=0))
        track.append(mido.Message("note_off", note=60 + i, velocity=0, time=note_ticks))
    mf.tracks += [conductor, track]
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


def zero_ticks_midi() -> bytes:
    data = bytearray(midi_bytes())
    data[12:14] = b"\x00\x00"  # the header's division: 0 ticks per quarter note
    return bytes(data)


def zip_bomb(path: pathlib.Path, unzipped: int = 1 << 30, member: str = "score.xml",
             declare: int | None = None) -> int:
    """A one-member zip of `unzipped` bytes of MusicXML-looking whitespace, ~1 KB per MiB, written
    without ever holding more than 1 MiB: deflate blocks after a full flush are identical for
    identical input, so one block is written over and over. `declare` lies about the size in the
    central directory. Returns the true unzipped size."""
    head = b'<?xml version="1.0"?>\n<score-partwise><part-list/>'
    chunk = b" " * (1 << 20)
    n = unzipped // len(chunk)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    last = c.flush()
    crc = zlib.crc32(head)
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    size, csize, name = len(head) + n * len(chunk), len(first) + n * len(block) + len(last), member.encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, csize, size, len(name), 0) + name)
        f.write(first)
        for _ in range(n):
            f.write(block)
        f.write(last)
        offset = f.tell()
        central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, csize,
                              size if declare is None else declare, len(name), 0, 0, 0, 0, 0, 0) + name
        f.write(central)
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), offset, 0))
    return size


LONG_ABC = "X:1\nT:long\nM:4/4\nL:1/4\nK:C\nC100000 |\n"  # one note of 100,000 quarters
LONG_MUSICXML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1"><part-list><score-part id="P1"><part-name>x</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions></attributes>
<note><pitch><step>C</step><octave>4</octave></pitch><duration>100000</duration></note></measure></part>
</score-partwise>
"""

def many_parts_midi() -> bytes:
    """17 tracks x 16 channels x 128 programs, one note each: 34,816 parts (Score.part is int16)."""
    tracks = []
    for _ in range(17):
        events = bytearray()
        for channel in range(16):
            for program in range(128):
                events += bytes([0, 0xC0 | channel, program, 0, 0x90 | channel, 60, 64, 1, 0x80 | channel, 60, 0])
        events += b"\x00\xff\x2f\x00"
        tracks.append(b"MTrk" + struct.pack(">I", len(events)) + bytes(events))
    return b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), 480) + b"".join(tracks)


def one_track_midi(events: bytes, tpq: int = 480) -> bytes:
    """A type-0 MIDI file of one track holding `events` (then an end of track)."""
    body = events + b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(body)) + body


HOSTILE = {  # name -> (write the file, a word its reason must hold)
    "zero_ticks.mid": (lambda p: p.write_bytes(zero_ticks_midi()), "ticks per quarter"),
    "zero_tempo.mid": (lambda p: p.write_bytes(midi_bytes(tempo=0)), "tempo of 0"),
    "truncated.mid": (lambda p: p.write_bytes(midi_bytes(notes=40)[:-37]), "MIDI"),
    # a delta time of 9 bytes (the standard's have 4 at most), and two of 8 bytes (past 2**53 ticks)
    "long_number.mid": (lambda p: p.write_bytes(one_track_midi(b"\x81" * 8 + b"\x00\x90\x3c\x40")),
                        "variable-length number"),
    "many_parts.mid": (lambda p: p.write_bytes(many_parts_midi()), "parts"),
    "far_time.mid": (lambda p: p.write_bytes(one_track_midi((b"\xff" * 7 + b"\x7f\x90\x3c\x40") * 2)),
                     "2**53 ticks"),
    "long_note.mid": (lambda p: p.write_bytes(midi_bytes(note_ticks=100_000 * 480 // 4, notes=4)), "quarter notes"),
    "long_note.abc": (lambda p: p.write_text(LONG_ABC), "quarter notes"),
    "long_note.musicxml": (lambda p: p.write_text(LONG_MUSICXML), "quarter notes"),
    "too_long_name_" + "x" * 300 + ".mid": (None, "too long"),
    "loop.mid": (lambda p: p.symlink_to(p), "symbolic links"),
    "dangling.krn": (lambda p: p.symlink_to(p.parent / "nowhere.krn"), "no such file"),
    "folder.mxl": (lambda p: p.mkdir(), "directory"),
    "device.mid": (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
}
for _suffix in (".mid", ".midi", ".kar", ".xml", ".musicxml", ".mxl", ".abc", ".krn"):
    HOSTILE[f"random{_suffix}"] = (lambda p: p.write_bytes(random.Random(p.suffix).randbytes(3000)), "")


def make_hostile(directory: pathlib.Path, name: str) -> pathlib.Path:
    path = directory / name
    write, _ = HOSTILE[name]
    if write is not None:
        write(path)
    return path


@pytest.mark.parametrize("name", sorted(HOSTILE), ids=lambda n: n[:24])
def test_hostile_file_is_one_score_error(name, tmp_path):
    path = make_hostile(tmp_path, name)
    with pytest.raises(ScoreError) as e:
        read_scores(path)
    assert e.value.path == str(path) and str(e.value) == f"{path}: {e.value.reason}"
    assert "\n" not in str(e.value) and e.value.reason
    assert HOSTILE[name][1] in e.value.reason, e.value.reason


def test_unknown_exception_types_become_score_errors(tmp_path, monkeypatch):
    """Whatever a parser raises — a type no one has seen, a MemoryError — is one ScoreError;
    KeyboardInterrupt and SystemExit pass through."""
    path = tmp_path / "a.mid"
    path.write_bytes(midi_bytes())
    assert read_score(path).num_notes == 4

    class OddParserError(Exception):
        pass

    for raised, expected in ((OddParserError("line 1\nline 2"), "OddParserError: line 1 line 2"),
                             (PermissionError(13, "Permission denied"), "Permission denied"),
                             (MemoryError(), "ran out of memory")):
        def fail(*args, raised=raised, **kwargs):
            raise raised

        monkeypatch.setattr("musicjax.data.midi_kernel.read_file", fail)
        with pytest.raises(ScoreError, match=expected) as e:
            read_score(path)
        assert "\n" not in str(e.value) and str(path) in str(e.value)
    for raised in (KeyboardInterrupt, SystemExit):
        def stop(*args, raised=raised, **kwargs):
            raise raised()

        monkeypatch.setattr("musicjax.data.midi_kernel.read_file", stop)
        with pytest.raises(raised):
            read_score(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_unreadable_file(tmp_path):
    path = tmp_path / "locked.mid"
    path.write_bytes(midi_bytes())
    path.chmod(0)
    with pytest.raises(ScoreError, match="Permission denied"):
        read_score(path)


# ---- limits --------------------------------------------------------------------------------------


def test_zip_bomb_refused_from_declared_size_in_little_memory(tmp_path):
    """A 1 GiB .mxl bomb (~1 MB on disk): refused from its declared size, peak memory of the whole
    reading process within 200 MB (music21 took 41 s and 6 GB on such a file)."""
    bomb = tmp_path / "bomb.mxl"
    size = zip_bomb(bomb)
    assert bomb.stat().st_size < 2_000_000 and size > 1 << 30
    # getrusage's ru_maxrss in a child counts the parent's pages it was forked with (pytest's, a few
    # hundred MB); VmHWM is the peak of the child's own program, from its exec on.
    probe = """if True:
        import resource, sys
        from musicjax.data.io import read_score
        from musicjax.data.score import ScoreError
        try:
            read_score(sys.argv[1])
        except ScoreError as e:
            print(e)
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
        print(int(hwm[0].split()[1]) // 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """
    start = time.time()
    r = subprocess.run([sys.executable, "-c", probe, str(bomb)], capture_output=True, text=True, timeout=120)
    reason, peak_mb = r.stdout.splitlines()
    print(f"zip bomb rejected in {time.time() - start:.1f} s, peak {peak_mb} MB: {reason}")
    assert r.returncode == 0 and f"unzipped is {size:,} bytes" in reason and "limit" in reason, r.stderr
    assert int(peak_mb) <= 200


def test_zip_bomb_with_lying_sizes_and_small_caps(tmp_path, monkeypatch):
    """Declared sizes can lie: reading stops at the cap (or at the declared size, where Python's
    zipfile then finds the CRC wrong), never unzipping the rest."""
    liar = tmp_path / "liar.mxl"
    zip_bomb(liar, unzipped=64 << 20, declare=1000)
    with pytest.raises(ScoreError, match="CRC|unzipped"):
        read_score(liar)
    monkeypatch.setattr(limits, "MAX_MXL_UNZIPPED_BYTES", 1 << 20)
    honest = tmp_path / "honest.mxl"
    size = zip_bomb(honest, unzipped=2 << 20)
    with pytest.raises(ScoreError, match=f"unzipped is {size:,} bytes or more; the limit is 1,048,576"):
        read_score(honest)
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", {**limits.MAX_FILE_BYTES, "mxl": 1000})
    with pytest.raises(ScoreError, match="an .mxl archive is .* the limit is 1,000"):
        read_score(honest)


def test_mxl_through_the_capped_reader_equals_music21s_own(corpus_dir):
    from musicjax.data.notation import _parse, stream_to_score
    from musicjax.data.score import scores_equal

    path = corpus_dir / "bach/bwv253.mxl"
    theirs = stream_to_score(_parse(None, path, "musicxml"), path=path)  # music21 unzips it itself
    ours = read_score(path)
    assert scores_equal(ours, theirs) and ours.meta == theirs.meta and ours.num_notes == 164


def test_note_and_size_caps(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_NOTES", 10)
    many = tmp_path / "many.mid"
    many.write_bytes(midi_bytes(notes=11, note_ticks=10))
    with pytest.raises(ScoreError, match="11 notes; the limit is 10"):
        read_score(many)
    xml = tmp_path / "many.musicxml"
    rests = "<note><rest/><duration>1</duration></note>" * 10
    xml.write_text(LONG_MUSICXML.replace("</measure>", rests + "</measure>"))
    with pytest.raises(ScoreError, match="11 <note> elements; the limit is 10"):
        read_score(xml)
    monkeypatch.setattr(limits, "MAX_MIDI_TRACKS", 1)  # checked before the notes
    with pytest.raises(ScoreError, match="2 tracks; the limit is 1"):
        read_score(many)
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", {**limits.MAX_FILE_BYTES, "midi": 100, "abc": 10})
    monkeypatch.setattr(limits, "MAX_MIDI_TRACKS", 1000)
    with pytest.raises(ScoreError, match="the limit is 100 "):
        read_score(many)
    abc = tmp_path / "a.abc"
    abc.write_text(LONG_ABC)
    with pytest.raises(ScoreError, match="the limit is 10 "):
        read_score(abc)
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", {**limits.MAX_FILE_BYTES, "abc": 1000})
    monkeypatch.setattr(limits, "MAX_ABC_TUNES", 1)
    abc.write_text(LONG_ABC + "\n" + LONG_ABC.replace("X:1", "X:2"))
    with pytest.raises(ScoreError, match="2 ABC tunes; the limit is 1 per file"):
        read_score(abc)
    monkeypatch.setattr(limits, "MAX_ABC_TUNE_BYTES", 20)
    with pytest.raises(ScoreError, match="the ABC tune is"):
        score_io.read_abc_tune(LONG_ABC, "book.abc (tune 1)")


def test_limits_are_stated_and_consistent():
    from musicjax.data.midi_write import TICKS_PER_QUARTER

    doc = limits.__doc__
    for value in ("2 MiB and 1,000 tracks", "32 MiB", "16 MiB compressed; 32 MiB unzipped", "64 members",
                  "1 MiB and 5,000 tunes", "128 KiB", "512 KiB", "100,000", "10,000 quarter notes and 3 hours"):
        assert value in doc, value
    import pretty_midi.pretty_midi

    # what we hand pretty_midi (score_to_pretty_midi, at 960 ticks per quarter) it always reads
    assert limits.MAX_QUARTERS * TICKS_PER_QUARTER < pretty_midi.pretty_midi.MAX_TICK


# ---- whatever we write, we read ----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mid", ".musicxml"])
def test_writers_refuse_what_readers_refuse(suffix, tmp_path):
    fine = make_score([60, 62], [0, 1], [1, 2])
    too_many = limits.MAX_NOTES + 1
    cases = {
        "lasts 100,000 quarter notes": make_score([60], [0], [100_000]),
        f"{limits.MAX_NOTES + 1:,} notes": make_score(np.full(too_many, 60), np.arange(too_many),
                                                      np.arange(too_many) + 0.5),
        "seconds": make_score([60], [0], [1000], tempos=[(0, 1.0)]),
        "pitch outside": make_score([60, 200], [0, 1], [1, 2]),
        "velocity": make_score([60], [0], [1], velocity=0),
        "tempo": fine.replace(tempos=np.array([[0.0, 0.0]])),
    }
    for reason, score in cases.items():
        out = tmp_path / f"x{suffix}"
        with pytest.raises(ScoreError, match=reason) as e:
            write_score(score, out)
        assert e.value.path == str(out) and "\n" not in str(e.value)
        assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name != "ok" + suffix]
    write_score(fine, tmp_path / f"ok{suffix}")
    assert read_score(tmp_path / f"ok{suffix}").num_notes == 2


def test_midi_writer_refuses_a_tempo_midi_cannot_hold(tmp_path):
    slow = make_score([60], [0], [1], tempos=[(0, 2.0)])  # 30 s per quarter: over MIDI's 16.7 s
    with pytest.raises(ScoreError, match="tempo of 2 quarter notes per minute"):
        write_score(slow, tmp_path / "slow.mid")
    write_score(slow, tmp_path / "slow.musicxml")  # MusicXML holds it
    assert not (tmp_path / "slow.mid").exists()


def test_writer_turns_file_system_errors_into_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ScoreError, match="is not a folder") as e:
        write_score(make_score([60], [0], [1]), tmp_path / "file" / "x.mid")  # parent is a file
    assert "\n" not in str(e.value)


# ---- corpus builds: workers die with their parent; one build at a time -----------------------


def _children(pid: int) -> list[int]:
    out = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return (pathlib.Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_build_leaves_no_workers_then_concurrent_builds_finish(tmp_path, monkeypatch, capfd, chorales):
    """SIGKILL a build of bach_chorales once its pool runs: no worker outlives it. Then two builds
    at once: one (here) removes the dead build's incomplete folder and builds, the other (a
    process started to run while the first holds the lock) waits, finds it built and exits 0. The
    new build equals the session's corpus piece for piece."""
    from musicjax.data import datasets
    from musicjax.data.score import scores_equal

    data = tmp_path / "data"
    env = {**os.environ, "MUSICJAX_DATA": str(data)}
    with open(tmp_path / "killed.log", "wb") as log:
        killed = subprocess.Popen([sys.executable, "-m", "musicjax.cli", "data", "build", "bach_chorales"],
                                  env=env, stdout=log, stderr=log)
    deadline = time.time() + 240
    while len(workers := _children(killed.pid)) < min(2, os.cpu_count() or 1) and time.time() < deadline:
        assert killed.poll() is None, (tmp_path / "killed.log").read_text()
        time.sleep(0.1)
    assert workers, "the build's pool never started"
    time.sleep(1.0)  # let them take tasks
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    deadline = time.time() + 5
    while any(map(_alive, workers)) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers)), f"orphaned workers: {[w for w in workers if _alive(w)]}"
    assert list((data / "tfds" / "bach_chorales").glob("incomplete.*")), "the killed build left nothing to clean"

    lock = data / "tfds" / "bach_chorales.lock"
    waiter = ("import fcntl, os, sys, time\n"
              "from musicjax.cli import main\n"
              "path = sys.argv[1]\n"
              "while True:  # until the other build holds the lock\n"
              "    if os.path.exists(path):\n"
              "        fd = os.open(path, os.O_RDWR)\n"
              "        try:\n"
              "            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
              "        except BlockingIOError:\n"
              "            break\n"
              "        finally:\n"
              "            os.close(fd)\n"
              "    time.sleep(0.05)\n"
              "sys.exit(main(['data', 'build', 'bach_chorales']))\n")
    second = subprocess.Popen([sys.executable, "-c", waiter, str(lock)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    monkeypatch.setenv("MUSICJAX_DATA", str(data))
    report = datasets.build("bach_chorales")
    out, err = second.communicate(timeout=240)
    assert second.returncode == 0 and "Traceback" not in err, err
    assert "waiting for another build" in err and '"splits": {"train": 274, "valid": 33, "test": 43}' in out
    assert report["splits"] == {"train": 274, "valid": 33, "test": 43} and report["skipped"] == 0
    captured = capfd.readouterr()
    assert "left by a build that did not finish" in captured.err
    # the build said nothing untrue or alarming: nothing was downloaded, no half-written folder warned about
    said = captured.out + captured.err + (tmp_path / "killed.log").read_text()
    assert "Downloading" not in said and "downloaded" not in said and "WARNING:absl" not in said, said[-2000:]
    assert not list((data / "tfds").rglob("incomplete.*"))
    fcntl.flock(fd := os.open(lock, os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it now
    os.close(fd)

    fresh = {s.meta.source_id: s for split in ("train", "valid", "test")
             for s in datasets.load_scores("bach_chorales", split)}
    assert len(fresh) == len(chorales) == 350
    assert all(scores_equal(fresh[s.meta.source_id], s) for s in chorales)


def _sleepy_run(task):
    if task == "slow":
        time.sleep(120)
    return [], []


def _dying_run(task):
    os._exit(3)  # as the OOM killer would end it


def test_interrupted_or_broken_parse_leaves_no_workers(monkeypatch):
    """Ctrl-C (here: raised from the progress callback) while a worker is busy kills the pool at
    once instead of waiting for its tasks; a worker's death is a BrokenProcessPool, not a hang."""
    from concurrent.futures.process import BrokenProcessPool

    from musicjax.data import corpora

    before = set(_children(os.getpid()))
    monkeypatch.setattr(corpora, "_task_size", lambda task: 0)
    monkeypatch.setattr(corpora, "_run", _sleepy_run)

    def interrupt(n):
        raise KeyboardInterrupt

    start = time.time()
    with pytest.raises(KeyboardInterrupt):
        corpora.parse_parallel(["slow", "quick"], workers=2, progress=interrupt)
    assert time.time() - start < 30
    monkeypatch.setattr(corpora, "_run", _dying_run)
    with pytest.raises(BrokenProcessPool):
        corpora.parse_parallel(["a", "b"], workers=2)
    time.sleep(0.2)
    assert not [c for c in set(_children(os.getpid())) - before if _alive(c)]
