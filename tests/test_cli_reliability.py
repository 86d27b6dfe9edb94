"""The command line on hostile input, as a user meets it (subprocesses): one line and a non-zero
exit per bad file, never a traceback; batches carry on and count; writes that could not be read
back are refused; `bench` runs only registered benchmarks; `data list` leaves no temp folders."""

import os
import pathlib
import subprocess
import sys

from tests.data.test_reliability import HOSTILE, LONG_ABC, make_hostile, zip_bomb

REPO = pathlib.Path(__file__).resolve().parents[1]


def _start(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "musicjax.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _finish(p, timeout=300):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def _lines(text):
    return [l for l in text.splitlines() if l.strip()]


def test_each_hostile_file_gets_one_line_and_a_failing_exit(tmp_path):
    zip_bomb(tmp_path / "bomb.mxl", unzipped=256 << 20)
    paths = [make_hostile(tmp_path, name) for name in sorted(HOSTILE)] + [tmp_path / "bomb.mxl"]
    running = []
    for i in range(0, len(paths), 4):  # a few at a time: the machine has 2 cores
        batch = [(p, _start("data", "inspect", str(p))) for p in paths[i:i + 4]]
        running += [(p, *_finish(proc)) for p, proc in batch]
    for path, rc, out, err in running:
        assert rc == 1 and "Traceback" not in err and not out, (path.name, err)
        lines = _lines(err)
        assert len(lines) == 2 and lines[0].startswith(f"skipped: {path}: "), err
        assert lines[1] == "1 of 1 files could not be read", err


def test_multi_file_inspect_carries_on_and_counts(tmp_path, corpus_dir):
    bad = [make_hostile(tmp_path, n) for n in ("zero_ticks.mid", "zero_tempo.mid", "folder.mxl", "random.krn",
                                                "long_note.abc")]
    good = corpus_dir / "essenFolksong/testd.abc"
    rc, out, err = _finish(_start("data", "inspect", str(bad[0]), str(good), *map(str, bad[1:])))
    assert rc == 1 and "Traceback" not in err, err
    assert out.count('"format": "abc"') == 8
    assert _lines(err)[:-1] == [l for l in _lines(err) if l.startswith("skipped: ")] and len(_lines(err)) == 6
    assert all(str(p) in err for p in bad) and _lines(err)[-1] == "5 of 6 files could not be read"


def test_convert_refuses_what_it_could_not_read_back(tmp_path):
    long = tmp_path / "long.abc"
    long.write_text(LONG_ABC)
    rc, out, err = _finish(_start("data", "convert", str(long), str(tmp_path / "long.mid")))
    assert rc == 1 and "Traceback" not in err and "100,000 quarter notes" in err and len(_lines(err)) == 1, err
    assert not (tmp_path / "long.mid").exists()
    fine = tmp_path / "fine.abc"
    fine.write_text(LONG_ABC.replace("C100000", "C4 D4"))
    for args in (["convert", str(fine), str(tmp_path / "out.txt")],  # not a writable format
                 ["convert", str(fine), str(tmp_path / "fine.abc" / "x.mid")],  # the folder is a file
                 ["render", str(fine), "--tune", "2", "--out", str(tmp_path / "x.wav")]):
        rc, out, err = _finish(_start("data", *args))
        assert rc == 1 and "Traceback" not in err and len(_lines(err)) == 1, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fine.abc", "long.abc"]


def test_bench_runs_only_registered_benchmarks(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\ndef main(argv):\n    pass\n")
    relative = os.path.relpath(evil.with_suffix(""), REPO / "benchmarks")
    for name in (relative, "../benchmarks/lstm_lm", "lstm_lm.py", "lstm_lm/../lstm_lm", str(evil.with_suffix("")), ""):
        rc, out, err = _finish(_start("bench", name))
        assert rc == 1 and "Traceback" not in err and len(_lines(err)) == 1, (name, err)
        assert f"no benchmark {name!r}" in err and "known: " in err and "lstm_lm" in err.split("known: ")[1], err
    assert not marker.exists()


def test_data_list_leaves_no_temp_folders(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "MUSICJAX_DATA": str(tmp_path / "data")}  # nothing built there
    rc, out, err = _finish(_start("data", "list", env=env))
    assert rc == 0 and "bach_chorales" in out and " no " in out, err
    assert list(temp.iterdir()) == []
