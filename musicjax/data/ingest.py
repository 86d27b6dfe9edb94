"""A user's own folder of music files as a corpus: every readable file under it parsed on all
cores into the same TFDS array_record records as the built-in corpora, read back by name.

State lives in `MUSICJAX_DATA/ingest/<name>/`: `manifest.json` (each file's size, mtime, hash and
what it gave) and `cache/` (its records, one pickle per task and split), so that a second run
parses only files that are new or changed and rewrites the dataset from the cache. The dataset is
written to a staging folder and moved into `MUSICJAX_DATA/tfds/<name>/` whole; its report (counts,
every skipped file with its reason, every duplicate) is `MUSICJAX_DATA/tfds/<name>.build.json`.
A piece's split is the built-in corpora's: a hash of its melody fingerprint, so it never changes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import pickle
import re
import shutil
import sys
import time

import numpy as np

from musicjax.data import corpora
from musicjax.data.files import atomic_write, atomic_write_text, data_dir, exclusive_lock, read_capped
from musicjax.data.io import READ_SUFFIXES, read_scores, size_limit
from musicjax.data.notation import configure_music21
from musicjax.data.records import score_to_record
from musicjax.data.score import Score, ScoreError

MANIFEST_VERSION = 1
MIDI_FILES_PER_TASK = 48  # ~1 ms a file: enough to hide the pool's overhead, small enough to balance
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def ingest_dir(name: str) -> pathlib.Path:
    return data_dir() / "ingest" / name


def ingested_names() -> list[str]:
    """Corpora ingested into this data directory (those with a manifest), sorted."""
    root = data_dir() / "ingest"
    return sorted(p.parent.name for p in root.glob("*/manifest.json") if NAME.fullmatch(p.parent.name)) \
        if root.is_dir() else []


def read_manifest(name: str) -> dict | None:
    path = ingest_dir(name) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def notes_fingerprint(score: Score) -> str:
    """The piece's notes (pitch, start and end in quarters, all parts together): two files that
    hold the same notes are one piece, whatever their instruments, velocities or text."""
    payload = np.concatenate([score.pitch.astype(np.float64), score.start_q, score.end_q])
    return hashlib.sha1(payload.tobytes()).hexdigest()


# ---- the work of one task, in a worker ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IngestTask:
    """Files of one collection, parsed by one worker; `size` orders the work (largest first)."""

    root: str
    paths: tuple[str, ...]  # relative to root, POSIX separators
    name: str
    size: int


def _read_file(task: IngestTask, rel: str) -> dict:
    """One file: its hash and pieces (records with their split and fingerprints), or its error."""
    path = pathlib.Path(task.root) / rel
    entry = {"sha1": None, "error": None, "pieces": []}
    try:
        st = os.stat(path)
        entry.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
        data = read_capped(path, size_limit(path), "the file")
        entry["sha1"] = hashlib.sha1(data).hexdigest()
        scores = read_scores(path, data)
    except ScoreError as e:
        entry["error"] = e.reason
        return entry
    except OSError as e:  # os.stat of a dangling link or a vanished file
        entry["error"] = e.strerror or str(e)
        return entry
    stem, parent = pathlib.PurePosixPath(rel).stem, str(pathlib.PurePosixPath(rel).parent)
    for k, s in enumerate(scores):
        sid = f"{task.name}/{rel}" + (f"/{k + 1}" if len(scores) > 1 else "")
        s = s.replace(meta=dataclasses.replace(s.meta, source_id=sid, title=s.meta.title or stem,
                                               collection="" if parent == "." else parent))
        melody = corpora.melody_fingerprint(s)
        entry["pieces"].append({"source_id": sid, "split": corpora.split_of(melody), "notes_fp": notes_fingerprint(s),
                                "notes": s.num_notes, "record": score_to_record(s)})
    return entry


def _run_ingest(task: IngestTask) -> list[tuple[str, dict]]:
    configure_music21()
    return [(rel, _read_file(task, rel)) for rel in task.paths]


# ---- the collection ----------------------------------------------------------------------------


def _music_files(root: pathlib.Path) -> tuple[list[str], int]:
    """Relative paths of the files under `root` with a readable extension, sorted; and how many
    other files there are (not counted as skipped: a folder holds covers, READMEs, ...)."""
    found, other = [], 0
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for f in files:
            if pathlib.Path(f).suffix.lower() in READ_SUFFIXES:
                found.append(pathlib.Path(folder, f).relative_to(root).as_posix())
            else:
                other += 1
    return sorted(found), other


def _tasks(root: pathlib.Path, name: str, rels: list[str]) -> list[IngestTask]:
    midi = [r for r in rels if pathlib.Path(r).suffix.lower() in (".mid", ".midi", ".kar")]
    notation = [r for r in rels if r not in set(midi)]
    tasks = [IngestTask(str(root), tuple(midi[i:i + MIDI_FILES_PER_TASK]), name, len(midi[i:i + MIDI_FILES_PER_TASK]))
             for i in range(0, len(midi), MIDI_FILES_PER_TASK)]
    return tasks + [IngestTask(str(root), (r,), name, 200) for r in notation]  # music21: ~100x a MIDI file


def ingest(source: str | os.PathLike, name: str, workers: int | None = None, progress: bool = True) -> dict:
    """Ingest every readable file under `source` as corpus `name` (new files only, when it was
    ingested before), then write its dataset. Returns the report. Safe against a second ingest
    or build of the same name at once (they wait for the lock)."""
    from musicjax.data import datasets

    if not NAME.fullmatch(name):
        raise ValueError(f"corpus name {name!r}: use lower-case letters, digits and '_', starting with a letter")
    if name in datasets.BUILTIN_BUILDERS:
        raise ValueError(f"{name!r} is a built-in corpus; choose another name")
    root = pathlib.Path(source).resolve()
    if not root.is_dir():
        raise ValueError(f"{source}: not a folder")
    with exclusive_lock(datasets.tfds_dir() / f"{name}.lock", f"{name}: waiting for another ingest of it to finish"):
        start = time.time()
        state = ingest_dir(name)
        manifest = read_manifest(name) or {"version": MANIFEST_VERSION, "source": str(root), "runs": 0, "files": {}}
        if manifest["source"] != str(root):
            raise ValueError(f"{name!r} was ingested from {manifest['source']}, not {root}; "
                             "choose another name for another folder")
        rels, other = _music_files(root)
        known = manifest["files"]
        todo = []
        for rel in rels:
            e = known.get(rel)
            try:
                st = os.stat(root / rel)
                unchanged = e is not None and e.get("size") == st.st_size and e.get("mtime_ns") == st.st_mtime_ns
            except OSError:
                unchanged = False
            if not unchanged:
                todo.append(rel)
        present = set(rels)
        files = {rel: e for rel, e in known.items() if rel in present and rel not in set(todo)}
        run = manifest["runs"] + 1
        (state / "cache").mkdir(parents=True, exist_ok=True)
        _remove_unused_cache(state, known)  # left by a run killed before it wrote its manifest
        try:
            _parse(root, name, todo, run, files, workers, progress)
        finally:  # interrupted or a worker killed: what finished is kept, a rerun does the rest
            manifest.update(runs=run, files=files)
            atomic_write_text(state / "manifest.json", json.dumps(manifest, ensure_ascii=False))
        _remove_unused_cache(state, files)
        parse_seconds = time.time() - start
        report = write_dataset(name, manifest, parsed=len(todo), other_files=other, parse_seconds=parse_seconds,
                               progress=progress)
    return report


def _parse(root, name, todo, run, files, workers, progress) -> None:
    """Parse `todo` on all cores; each task's records go to its cache files as it finishes, and
    its files' entries into `files`."""
    tasks = _tasks(root, name, todo)
    bar = _bar(f"ingesting {name}", len(todo)) if progress and todo else None
    try:
        for index, results in corpora.run_parallel(tasks, _run_ingest, workers, size=lambda t: t.size):
            shard = f"{run:04d}-{index:06d}"
            by_split = {split: [] for split in corpora.SPLITS}
            for rel, entry in results:
                pieces = entry.pop("pieces")
                entry["run"], entry["shard"], entry["pieces"] = run, shard, []
                for p in pieces:
                    by_split[p["split"]].append((p["source_id"], p["record"]))
                    entry["pieces"].append({k: p[k] for k in ("source_id", "split", "notes_fp", "notes")})
                files[rel] = entry
            for split, rows in by_split.items():
                if rows:
                    atomic_write(ingest_dir(name) / "cache" / f"{shard}.{split}.pkl",
                                 lambda f, rows=rows: pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL))
            if bar:
                bar.update(len(results))
    finally:
        if bar:
            bar.close()


def _remove_unused_cache(state: pathlib.Path, files: dict) -> None:
    used = {e["shard"] for e in files.values()}
    for p in (state / "cache").glob("*.pkl"):
        if p.name.split(".")[0] not in used:
            p.unlink(missing_ok=True)


def kept_pieces(manifest: dict) -> tuple[dict, list, list]:
    """({source_id: split} of the pieces the dataset holds, skipped files' reasons, duplicates).

    A file that holds the bytes of one seen before, or a piece whose notes equal one seen before,
    is kept once: the one ingested first (by run, then path), so a piece never leaves the dataset
    because a copy of it arrived later."""
    root = pathlib.Path(manifest["source"])
    kept, skipped, duplicates = {}, [], []
    by_bytes, by_notes = {}, {}
    for rel in sorted(manifest["files"], key=lambda r: (manifest["files"][r]["run"], r)):
        e = manifest["files"][rel]
        if e["error"]:
            skipped.append(f"{root / rel}: {e['error']}")
            continue
        if e["sha1"] in by_bytes:
            duplicates.append({"file": rel, "same_bytes_as": by_bytes[e["sha1"]]})
            continue
        by_bytes[e["sha1"]] = rel
        for p in e["pieces"]:
            if p["notes_fp"] in by_notes:
                duplicates.append({"piece": p["source_id"], "same_notes_as": by_notes[p["notes_fp"]]})
                continue
            by_notes[p["notes_fp"]] = p["source_id"]
            kept[p["source_id"]] = p["split"]
    return kept, skipped, duplicates


def cached_records(name: str, split: str, keep: dict):
    """(source_id, record) of `split` from the cache, those in `keep` only, each once."""
    seen = set()
    for path in sorted((ingest_dir(name) / "cache").glob(f"*.{split}.pkl")):
        with open(path, "rb") as f:
            rows = pickle.load(f)
        for sid, rec in rows:
            if keep.get(sid) == split and sid not in seen:
                seen.add(sid)
                yield sid, rec


def write_dataset(name: str, manifest: dict | None = None, parsed: int = 0, other_files: int = 0,
                  parse_seconds: float = 0.0, progress: bool = False) -> dict:
    """(Re)write the TFDS dataset of an ingested corpus from its cache, into a staging folder
    moved into place whole (a reader never sees half a dataset). Call under the corpus lock."""
    from musicjax.data import datasets

    manifest = manifest or read_manifest(name)
    start = time.time()
    kept, skipped, duplicates = kept_pieces(manifest)
    staging = datasets.tfds_dir() / f".staging-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    builder = datasets.ingested_builder_class(name)(data_dir=str(staging), file_format="array_record")
    builder.kept = kept
    builder.download_and_prepare()
    final = datasets.tfds_dir() / name
    version = str(builder.version)
    old = datasets.tfds_dir() / f".old-{name}"
    shutil.rmtree(old, ignore_errors=True)
    (final).mkdir(parents=True, exist_ok=True)
    if (final / version).exists():
        os.replace(final / version, old)
    os.replace(staging / name / version, final / version)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    splits = {s: sum(1 for v in kept.values() if v == s) for s in corpora.SPLITS}
    files = manifest["files"]
    report = {
        "name": name,
        "source": manifest["source"],
        "items": len(kept),
        "notes": int(sum(p["notes"] for e in files.values() for p in e["pieces"] if p["source_id"] in kept)),
        "splits": splits,
        "files": len(files),
        "parsed_this_run": parsed,
        "other_files": other_files,
        "skipped": len(skipped),
        "duplicates": len(duplicates),
        "errors": skipped,
        "duplicate_list": duplicates,
        "parse_seconds": round(parse_seconds, 1),
        "write_seconds": round(time.time() - start, 1),
    }
    atomic_write_text(datasets.tfds_dir() / f"{name}.build.json", json.dumps(report, indent=1, ensure_ascii=False))
    if skipped:
        print(f"{name}: {len(skipped)} file(s) skipped, listed in {datasets.tfds_dir() / f'{name}.build.json'}",
              file=sys.stderr)
    return report


def _bar(desc: str, total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="file", file=sys.stderr, leave=False)
