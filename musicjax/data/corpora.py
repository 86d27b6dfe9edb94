"""The built-in corpora: which files make each one, how a piece becomes Scores, and its split.

Everything here ships inside the music21 package or Debian packages; nothing is downloaded.
Pieces are parsed in parallel over all cores; a file that fails is reported and skipped. The
parse workers die with the process that started them, however it ends (even by SIGKILL)."""

from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import hashlib
import multiprocessing
import os
import pathlib
import re
import signal
import sys
import threading
import time
from typing import Callable, Iterable, Iterator

import numpy as np

from musicjax.data.files import close_inherited_locks
from musicjax.data.io import read_abc_tune, read_scores
from musicjax.data.notation import configure_music21, normalise_tune_type, read_abc_book
from musicjax.data.score import SYLLABIC, Metadata, Score, ScoreError

SPLITS = ("train", "valid", "test")
ABC_TUNES_PER_TASK = 40  # enough work per task to hide the pool's overhead, small enough to balance
FORTUNES_DIR = pathlib.Path("/usr/share/games/fortunes")


def music21_corpus_dir() -> pathlib.Path:
    import music21

    return pathlib.Path(music21.__file__).parent / "corpus"


# ---- splits ------------------------------------------------------------------------------------


def melody_fingerprint(score: Score) -> str:
    """A transposition-invariant id of the piece's first part: its interval and duration sequence.

    Splitting on this (not on the file name) keeps a tune that appears twice in a corpus, in any
    key, inside one split: valid and test melodies never leak into train."""
    idx = score.part_notes(0)
    pitch = score.pitch[idx].astype(np.int64)
    payload = np.concatenate([np.diff(pitch), np.round((score.end_q[idx] - score.start_q[idx]) * 48)]).astype(np.int64)
    return hashlib.sha1(payload.tobytes()).hexdigest()


def split_of(key: str, fractions: tuple[float, float] = (0.8, 0.9)) -> str:
    """'train', 'valid' or 'test' from a stable hash of `key` (80/10/10 by default).

    A piece's split depends on nothing but its own key, so it never changes when a corpus grows."""
    u = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], 16) / float(16**12)
    return "train" if u < fractions[0] else "valid" if u < fractions[1] else "test"


# ---- work units: picklable descriptions of one parallel task ----------------------------------


@dataclasses.dataclass(frozen=True)
class AbcTask:
    """Some tunes of one ABC file: (position in file, tune text, header fields)."""

    path: str
    source_prefix: str
    collection: str
    tunes: tuple[tuple[int, str, tuple[tuple[str, str], ...]], ...]
    with_tune_type: bool


@dataclasses.dataclass(frozen=True)
class FileTask:
    """Whole files, each one piece."""

    paths: tuple[str, ...]
    source_ids: tuple[str, ...]
    collection: str


def _run_abc(task: AbcTask) -> tuple[list[Score], list[str]]:
    scores, errors = [], []
    for position, text, fields in task.tunes:
        f = dict(fields)
        meta = Metadata(title=f.get("T", ""), composer=f.get("C", ""),
                        source_id=f"{task.source_prefix}/{position}", collection=task.collection,
                        region=f.get("O", ""),
                        tune_type=normalise_tune_type(f.get("R", "")) if task.with_tune_type else "")
        try:
            scores.append(read_abc_tune(text, f"{task.path} (tune {position})", meta))
        except ScoreError as e:
            errors.append(str(e))
    return scores, errors


def _run_files(task: FileTask) -> tuple[list[Score], list[str]]:
    scores, errors = [], []
    for path, sid in zip(task.paths, task.source_ids):
        try:
            s = read_scores(path)[0]
            title = s.meta.title or pathlib.Path(path).stem
            scores.append(s.replace(meta=dataclasses.replace(s.meta, source_id=sid, collection=task.collection,
                                                             title=title)))
        except ScoreError as e:
            errors.append(str(e))
    return scores, errors


def _run(task) -> tuple[list[Score], list[str]]:
    configure_music21()
    return _run_abc(task) if isinstance(task, AbcTask) else _run_files(task)


def abc_tasks(path: pathlib.Path, source_prefix: str, collection: str, with_tune_type: bool) -> list[AbcTask]:
    tunes = [(i + 1, body, tuple(sorted(fields.items())))
             for i, (fields, body) in enumerate(read_abc_book(path))]
    return [AbcTask(str(path), source_prefix, collection, tuple(tunes[i:i + ABC_TUNES_PER_TASK]), with_tune_type)
            for i in range(0, len(tunes), ABC_TUNES_PER_TASK)]


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: this worker ends when `parent_pid` does, however that ends.

    On Linux the kernel sends SIGKILL at the parent's death (prctl PR_SET_PDEATHSIG; the parent is
    the thread that forked, here always the one running `parse_parallel`); elsewhere a daemon
    thread polls getppid. Ctrl-C is left to the parent, which then kills the pool. The parent's
    build lock is closed here, so that it ends with the parent alone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    close_inherited_locks()
    armed = False
    if sys.platform.startswith("linux"):
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        def watch():
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _kill_pool(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Cancel what has not started and kill the workers now (shutdown alone waits for the tasks
    they are running)."""
    kill = getattr(pool, "kill_workers", None)  # Python 3.14+
    processes = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown clears it
    pool.shutdown(wait=False, cancel_futures=True)
    if kill is not None:
        kill()
    for process in processes:
        process.kill()


def parse_parallel(tasks: list, workers: int | None = None, progress: Callable[[int], None] | None = None
                   ) -> tuple[list[Score], list[str]]:
    """Run parse tasks on all cores (forked workers), keeping task order. Returns (scores, errors).

    If this is interrupted or a task fails, the workers are killed before the exception goes on;
    if this process is killed, the kernel kills them (`_die_with_parent`)."""
    results = [None] * len(tasks)
    for i, result in run_parallel(tasks, _run, workers, progress):
        results[i] = result
    scores = [s for r in results for s in r[0]]
    errors = [e for r in results for e in r[1]]
    return scores, errors


def run_parallel(tasks: list, run: Callable, workers: int | None = None,
                 progress: Callable[[int], None] | None = None, size: Callable | None = None) -> Iterator:
    """Yield (index, run(tasks[index])) as each task finishes, on all cores (forked workers; in
    this process when one worker or one task). `size(task)` orders the work, largest first, so
    that no worker is left with a big task at the end. The pool is killed however this ends early
    (interrupted, a task failed, the caller stopped iterating); if this process is killed, the
    kernel kills the workers (`_die_with_parent`)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(tasks) == 1:
        for i, t in enumerate(tasks):
            result = run(t)
            progress and progress(1)
            yield i, result
        return
    order = sorted(range(len(tasks)), key=lambda i: -(size or _task_size)(tasks[i]))
    ctx = multiprocessing.get_context("fork")
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_die_with_parent,
                                                  initargs=(os.getpid(),))
    try:
        futures = {pool.submit(run, tasks[i]): i for i in order}
        for fut in concurrent.futures.as_completed(futures):
            result = fut.result()
            progress and progress(1)
            yield futures[fut], result
    except BaseException:
        _kill_pool(pool)
        raise
    finally:
        pool.shutdown(wait=True)


def _task_size(task) -> int:
    return sum(len(t[1]) for t in task.tunes) if isinstance(task, AbcTask) else 2000 * len(task.paths)


# ---- the corpora -------------------------------------------------------------------------------


def bach_tasks() -> list:
    """The chorales music21's chorale iterator names, each file once (its Riemenschneider numbering
    lists 371 chorales, some of them the same file twice)."""
    from music21 import corpus
    from music21.corpus import chorales

    names = list(dict.fromkeys(chorales.Iterator(returnType="filename")))
    paths = [_corpus_file(corpus.getWork(n), n) for n in names]
    per = 8
    return [FileTask(tuple(paths[i:i + per]), tuple(names[i:i + per]), "bach") for i in range(0, len(names), per)]


def essen_tasks() -> list:
    root = music21_corpus_dir() / "essenFolksong"
    return [t for p in sorted(root.glob("*.abc")) for t in abc_tasks(p, f"essen/{p.stem}", p.stem, False)]


def _corpus_file(found, name: str) -> str:
    """music21's getWork may return several files for a name (bwv248.5 also matches bwv248.53-5,
    and a chorale may exist as .krn and .mxl): take the exact stem, MusicXML first."""
    found = found if isinstance(found, list) else [found]
    stem = name.split("/")[-1]
    exact = [pathlib.Path(f) for f in found if pathlib.Path(f).stem == stem] or [pathlib.Path(f) for f in found]
    rank = {".mxl": 0, ".xml": 1, ".musicxml": 1, ".krn": 2}
    return str(min(exact, key=lambda p: rank.get(p.suffix, 9)))


FOLK_BOOKS = ("ryansMammoth", "oneills1850", "airdsAirs", "miscFolk")


def folk_abc_tasks() -> list:
    root = music21_corpus_dir()
    tasks = []
    for book in FOLK_BOOKS:
        for p in sorted((root / book).glob("*.abc")):
            tasks += abc_tasks(p, f"{book}/{p.stem}", book, True)
    return tasks


@dataclasses.dataclass(frozen=True)
class Corpus:
    name: str
    description: str
    tasks: Callable[[], list]


CORPORA = {
    "bach_chorales": Corpus("bach_chorales", "Bach chorales, four parts, German lyrics on notes (music21)", bach_tasks),
    "essen": Corpus("essen", "Essen folksong collection, ~8,500 monophonic tunes incl. ~1,200 Chinese (music21)",
                    essen_tasks),
    "folk_abc": Corpus("folk_abc", "ABC fiddle-tune books: Ryan's Mammoth, O'Neill's 1850, Aird's Airs, misc. folk "
                       "(music21)", folk_abc_tasks),
}


def load_corpus(name: str, workers: int | None = None, progress=None) -> tuple[list[Score], list[str]]:
    """Parse every piece of a score corpus. Returns (scores, errors); errors name file and reason."""
    tasks = CORPORA[name].tasks()
    return parse_parallel(tasks, workers, progress)


# ---- lyrics text -------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LINE_END = re.compile(r"[,.;:!?]$")


def chorale_texts(scores: Iterable[Score]) -> list[dict]:
    """One text per chorale verse, joined from the syllables of its top part; a line ends at
    punctuation."""
    out = []
    for s in scores:
        top = set(s.part_notes(0).tolist())
        for verse in sorted(set(s.lyric_verse.tolist())):
            rows = [(n, t, SYLLABIC[c]) for n, t, c, v in zip(s.lyric_note, s.lyric_text, s.lyric_syllabic,
                                                              s.lyric_verse) if v == verse and n in top]
            text, lines = "", []
            for _, t, syl in sorted(rows, key=lambda r: r[0]):
                text += t
                if syl in ("single", "end"):
                    if _LINE_END.search(text):
                        lines.append(text)
                        text = ""
                    else:
                        text += " "
            lines += [text.strip()] if text.strip() else []
            if lines:
                out.append({"id": f"{s.meta.source_id}/verse{verse}", "title": s.meta.title, "author": "",
                            "text": "\n".join(lines), "language": "de", "source": "bach_chorales"})
    return out


def fortune_texts(fortunes_dir: pathlib.Path = FORTUNES_DIR) -> tuple[list[dict], list[str]]:
    """Tang poems and Song ci (Debian fortunes-zh) and English songs and poems (fortunes), if
    installed. Returns (records, names of sources that are missing)."""
    out, missing = [], []
    for fname, lang, has_header in (("tang300", "zh", True), ("song100", "zh", True), ("songs-poems", "en", False)):
        path = fortunes_dir / fname
        if not path.exists():
            missing.append(str(path))
            continue
        text = _ANSI.sub("", path.read_text(encoding="utf-8", errors="replace"))
        for i, entry in enumerate(e.strip("\n") for e in text.split("\n%\n")):
            lines = [l.rstrip() for l in entry.strip().splitlines()]
            if not lines:
                continue
            title = author = ""
            if has_header and len(lines) > 2:
                title = lines[0].strip("《》 ")
                author = lines[1].split("：", 1)[-1].strip()
                lines = lines[2:]
            body = "\n".join(l for l in lines if l.strip())
            if body:
                out.append({"id": f"{fname}/{i + 1}", "title": title, "author": author, "text": body,
                            "language": lang, "source": fname})
    return out, missing
