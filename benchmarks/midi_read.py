"""MIDI reading speed: files per second of musicjax's reader (`read_scores`: its decoder compiled
with numba, `musicjax/data/midi_kernel.py`) against pretty_midi on the same files, side by side;
and, with `--ingest`, the time to ingest a generated collection of that many files (a share broken).

    musicjax bench midi_read [--files 400] [--ingest 10000] [--out DIR]

The files are made here from the Bach chorales (the test corpus; built on first use) the way
collections such as Lakh MIDI hold them: one track per part or all parts in one track on several
channels, program changes, drums, tempo maps, lyrics or karaoke words, notes of one pitch sounding
together, notes never ended, running status, 10,080 ticks per quarter (music21's), and broken files.
A second reading row (`midi_read_plain`) uses files with notes, programs, drums and the maps only:
no lyrics or text and no overlapping unisons (most of a collection such as Lakh MIDI). Each
reader reads one file before the timed rounds (imports, numba's compiled code loaded).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import random
import statistics
import struct
import sys
import tempfile
import time
import warnings

import numpy as np

# ---- a collection, made here --------------------------------------------------------------------


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def smf(tracks: list[list[tuple[int, bytes]]], tpq: int, running_status: bool = False, fmt: int = 1) -> bytes:
    """A standard MIDI file from tracks of (tick, event bytes) (events at one tick keep their
    order), with running status where asked."""
    out = bytearray(b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), tpq))
    for events in tracks:
        body, now, status = bytearray(), 0, None
        for tick, ev in sorted(events, key=lambda e: e[0]):
            body += _vlq(tick - now)
            now = tick
            if running_status and ev[0] < 0xF0 and ev[0] == status:
                body += ev[1:]
            else:
                body += ev
                status = ev[0] if ev[0] < 0xF0 else status
        body += b"\x00\xff\x2f\x00"
        out += b"MTrk" + struct.pack(">I", len(body)) + body
    return bytes(out)


def _meta(kind: int, payload: bytes) -> bytes:
    return bytes([0xFF, kind]) + _vlq(len(payload)) + payload


def _order_at_tick(ev: bytes) -> int:
    """Note-offs, then program changes, then the rest (note-ons), as most sequencers write."""
    high = ev[0] & 0xF0
    if high == 0x80 or (high == 0x90 and ev[2] == 0):
        return 0
    return 1 if high == 0xC0 else 2


def piece_variant(score, rng: random.Random, tpq: int | None = None, plain: bool = False) -> tuple[bytes, str]:
    """One MIDI file made from `score` with a random mix of what real collections hold; returns
    (bytes, suffix). `plain`: notes, programs, drums and the tempo/meter/key maps only (no lyrics,
    karaoke or text events, every note ended, no pitch struck again while it sounds)."""
    tpq = tpq or rng.choice([96, 120, 192, 384, 480, 960, 10080])
    kar = rng.random() < 0.1 and not plain
    type0 = rng.random() < 0.25
    shift = rng.randint(-5, 5)
    conductor = [(0, _meta(0x03, (score.meta.title or "piece").encode("utf-8")))]
    q = 0.0
    conductor.append((0, _meta(0x51, (500000 + rng.randint(-150000, 150000)).to_bytes(3, "big"))))
    for _ in range(rng.randint(0, 4)):  # a tempo map
        q += rng.uniform(4, 40)
        conductor.append((int(q * tpq), _meta(0x51, rng.randint(300000, 900000).to_bytes(3, "big"))))
    conductor.append((0, _meta(0x58, bytes([rng.choice([2, 3, 4, 6]), rng.choice([2, 3]), 24, 8]))))
    conductor.append((0, _meta(0x59, bytes([rng.randint(-7, 7) & 0xFF, rng.randint(0, 1)]))))
    if rng.random() < 0.3 and not plain:
        conductor.append((int(8 * tpq), _meta(0x06, b"Verse")))
    parts = []
    drums = rng.random() < 0.3
    for pi in range(len(score.parts)):
        idx = score.part_notes(pi)
        notes = [(int(round(score.start_q[i] * tpq)), int(round(score.end_q[i] * tpq)),
                  int(np.clip(score.pitch[i] + shift, 0, 127)), int(score.velocity[i])) for i in idx]
        parts.append(notes)
    if drums:  # a drum part: hits on each beat, some of them of no length or overlapping
        end = int(score.duration_q * tpq)
        parts.append([(t, t + rng.choice([0, tpq // 8 or 1, tpq // 2, tpq * 2]), rng.choice([36, 38, 42, 46]), 100)
                      for t in range(0, max(end, tpq), tpq)])
    tracks = [conductor] if not type0 else []
    all_events = list(conductor) if type0 else None
    for pi, notes in enumerate(parts):
        channel = 9 if drums and pi == len(parts) - 1 else pi % 9
        program = rng.randrange(128)
        events = [(0, _meta(0x03, f"part {pi + 1}".encode()))] if not type0 else []
        events.append((0, bytes([0xC0 | channel, program])))
        change = rng.random() < 0.2 and channel != 9 and len(notes) > 4
        off_as_on = rng.random() < 0.5
        sounding = []  # (on, latest off) of every note, to find a moment when none sounds
        for k, (s, e, p, v) in enumerate(notes):
            events.append((s, bytes([0x90 | channel, p, v])))
            if rng.random() < 0.01 and not change and not plain:
                sounding.append((s, 1 << 40))
                continue  # a note never ended (a later note-off of its pitch may end it)
            events.append((e, bytes([0x90 | channel, p, 0]) if off_as_on else bytes([0x80 | channel, p, 64])))
            sounding.append((s, e))
            if rng.random() < 0.02 and not plain:  # the same pitch struck again while it sounds
                events.append((s + (e - s) // 2, bytes([0x90 | channel, p, v])))
                events.append((e + tpq // 4, bytes([0x80 | channel, p, 0])))
                sounding.append((s + (e - s) // 2, e + tpq // 4))
        if change:  # a program change at a note-on in the middle when no other note sounds
            for s, _, _, _ in notes[len(notes) // 2:]:
                if not any(a < s < b for a, b in sounding):
                    events.append((s, bytes([0xC0 | channel, (program + 1) % 128])))
                    break
        # note-offs before note-ons at one tick, as most sequencers write
        events.sort(key=lambda ev: (ev[0], _order_at_tick(ev[1])))
        if pi == 0 and len(score.lyric_text) and not kar and not plain:
            for n, text in zip(score.lyric_note, score.lyric_text):
                if score.part[n] == 0:
                    events.append((int(round(score.start_q[n] * tpq)), _meta(0x05, text.encode("utf-8"))))
        if type0:
            all_events += events
        else:
            tracks.append(events)
    if type0:
        tracks = [all_events]
    if kar:  # Soft Karaoke: the words as text events in a track of their own
        words = [(0, _meta(0x01, b"@KMIDI KARAOKE FILE")), (0, _meta(0x01, b"@T" + score.meta.title.encode()))]
        for k, (n, text) in enumerate(zip(score.lyric_note, score.lyric_text)):
            if score.part[n] == 0:
                words.append((int(round(score.start_q[n] * tpq)), _meta(0x01, (("/" if k % 8 == 0 else " ") + text).encode())))
        tracks.append(words)
    data = smf(tracks, tpq, running_status=rng.random() < 0.5, fmt=0 if type0 else 1)
    return data, ".kar" if kar else ".mid"


def broken_file(rng: random.Random, good: bytes) -> bytes:
    """One of the ways a file in a real collection is broken."""
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 4000))
    if kind == 1:
        return good[: rng.randint(20, max(21, len(good) - 10))]  # truncated
    if kind == 2:
        return good[:12] + b"\x00\x00" + good[14:]  # 0 ticks per quarter
    if kind == 3:
        return good[:12] + b"\xe7\x28" + good[14:]  # SMPTE division
    if kind == 4:
        return b""
    if kind == 5:
        return b"MThd" + struct.pack(">IHHH", 6, 1, 5000, 480)  # 5,000 tracks declared
    return b"<html>not found</html>"


def make_collection(root: pathlib.Path, scores: list, num_files: int, seed: int = 0, broken: float = 0.05,
                    notation: list[pathlib.Path] = (), plain: bool = False) -> dict:
    """Write `num_files` files under `root` (in subfolders of 1,000): variants of `scores`, a share
    `broken` of broken files, a few exact copies and copies under another name, plus the
    `notation` files copied in. Returns {"broken": [relative paths], "copies": n}."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {"broken": [], "copies": 0}
    last = None
    for i in range(num_files):
        rel = pathlib.Path(f"{i // 1000:03d}") / f"f{i:06d}"
        (root / rel.parent).mkdir(exist_ok=True)
        r = rng.random()
        if r < broken and last is not None:
            path = rel.with_suffix(".mid")
            (root / path).write_bytes(broken_file(rng, last))
            out["broken"].append(path.as_posix())
            continue
        if r < broken + 0.01 and last is not None:
            data, suffix = last, ".mid"
            out["copies"] += 1
        else:
            data, suffix = piece_variant(scores[rng.randrange(len(scores))], rng, plain=plain)
        (root / rel.with_suffix(suffix)).write_bytes(data)
        last = data
    (root / "notation").mkdir(exist_ok=True)
    for p in notation:
        (root / "notation" / p.name).write_bytes(p.read_bytes())
    return out


# ---- the benchmark -------------------------------------------------------------------------------


def _files(args, plain: bool = False) -> tuple[list[pathlib.Path], tempfile.TemporaryDirectory]:
    from musicjax.data.datasets import load_scores

    scores = [s for split in ("train", "valid", "test") for s in load_scores("bach_chorales", split)]
    tmp = tempfile.TemporaryDirectory(prefix="musicjax-bench-")
    make_collection(pathlib.Path(tmp.name), scores, args.files, seed=args.seed, broken=0.0, plain=plain)
    return sorted(p for p in pathlib.Path(tmp.name).rglob("*") if p.is_file()), tmp


def reader_ratio(paths: list[pathlib.Path], rounds: int = 3) -> dict:
    """Seconds to read all `paths` with each reader, interleaved by round (median), and the ratio
    of files per second over the files both read."""
    import pretty_midi

    from musicjax.data.io import read_score
    from musicjax.data.score import ScoreError

    blobs = [(p, p.read_bytes()) for p in paths]
    refused = {}
    for p, data in blobs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pretty_midi.PrettyMIDI(io.BytesIO(data))
        except Exception as e:  # pretty_midi's refusals, counted
            refused[str(p)] = f"{type(e).__name__}: {str(e)[:80]}"
    both = [(p, d) for p, d in blobs if str(p) not in refused]

    def ours():
        for p, d in both:
            read_score_bytes(p, d)

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _, d in both:
                pretty_midi.PrettyMIDI(io.BytesIO(d))

    read_score_bytes(*both[0])  # warm: imports, the compiled decoder loaded
    pretty_midi.PrettyMIDI(io.BytesIO(both[0][1]))
    times = {"musicjax": [], "pretty_midi": []}
    for _ in range(rounds):
        for name, f in (("musicjax", ours), ("pretty_midi", theirs)):
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    ours_all = time.perf_counter()
    failed = 0
    for p, d in blobs:
        try:
            read_score_bytes(p, d)
        except ScoreError:
            failed += 1
    ours_all = time.perf_counter() - ours_all
    return {"files": len(blobs), "read_by_both": len(both), "refused_by_pretty_midi": len(refused),
            "musicjax_refused": failed, "musicjax_files_per_s": round(len(both) / med["musicjax"], 1),
            "pretty_midi_files_per_s": round(len(both) / med["pretty_midi"], 1),
            "ratio": round(med["pretty_midi"] / med["musicjax"], 1),
            "musicjax_all_files_s": round(ours_all, 3), "rounds": rounds,
            "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()}}


def read_score_bytes(path, data):
    from musicjax.data.io import read_scores

    return read_scores(path, data)[0]


def ingest_run(num_files: int, seed: int = 0, workers: int | None = None) -> dict:
    """Make a collection of `num_files` (5% broken) and ingest it into a fresh data directory;
    the ingest's wall time and report."""
    from musicjax.data.corpora import music21_corpus_dir
    from musicjax.data.datasets import load_scores

    scores = [s for split in ("train", "valid", "test") for s in load_scores("bach_chorales", split)]
    corpus = music21_corpus_dir()
    notation = [corpus / "bach/bwv66.6.mxl", corpus / "bach/bwv1.6.mxl", corpus / "essenFolksong/han1.abc",
                corpus / "palestrina/Agnus_01.krn"]
    with tempfile.TemporaryDirectory(prefix="musicjax-ingest-") as tmp:
        root = pathlib.Path(tmp) / "collection"
        t = time.time()
        made = make_collection(root, scores, num_files, seed=seed, notation=[p for p in notation if p.exists()])
        made_s = time.time() - t
        os.environ["MUSICJAX_DATA"] = str(pathlib.Path(tmp) / "data")
        from musicjax.data import ingest

        t = time.time()
        report = ingest.ingest(root, "bench", workers=workers, progress=False)
        seconds = time.time() - t
        broken = {str(root / b) for b in made["broken"]}
        listed = {e.split(": ")[0] for e in report["errors"]}
        return {"files": report["files"], "ingest_seconds": round(seconds, 1), "make_seconds": round(made_s, 1),
                "pieces": report["items"], "skipped": report["skipped"], "duplicates": report["duplicates"],
                "broken_made": len(broken), "broken_all_listed": broken <= listed, "cpus": os.cpu_count()}


def main(argv=None):
    p = argparse.ArgumentParser(prog="musicjax bench midi_read", description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=400, help="files in the reading comparison")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ingest", type=int, default=0, help="also ingest a collection of this many files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the JSON here too")
    args = p.parse_args(argv)
    result = {}
    for key, plain in (("midi_read", False), ("midi_read_plain", True)):
        paths, tmp = _files(args, plain)
        with tmp:
            result[key] = reader_ratio(paths, args.rounds)
        print(json.dumps({key: result[key]}), file=sys.stderr, flush=True)
    if args.ingest:
        result["ingest"] = ingest_run(args.ingest, args.seed)
    print(json.dumps(result, indent=1))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
