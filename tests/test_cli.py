import subprocess
import sys

import numpy as np
import soundfile

from musicjax.cli import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "musicjax.cli", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_subcommands():
    out = _run("--help").stdout
    assert "data" in out and "demo" in out
    assert all(c in _run("data", "--help").stdout for c in ("list", "build", "inspect", "convert", "render"))


def test_bad_files_one_line_no_traceback(tmp_path):
    bad = tmp_path / "x.mid"
    bad.write_bytes(b"garbage")
    for args in (["data", "inspect", str(bad)], ["data", "convert", str(bad), str(tmp_path / "y.mid")],
                 ["data", "render", str(tmp_path / "missing.abc"), "--out", str(tmp_path / "a.wav")],
                 ["data", "convert", str(tmp_path / "a.foo"), str(tmp_path / "y.mid")]):
        r = _run(*args)
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert len([l for l in r.stderr.splitlines() if l.strip()]) <= 2 and "x.mid" in r.stderr or "a.foo" in \
            r.stderr or "missing.abc" in r.stderr
    assert not (tmp_path / "y.mid").exists()


def test_inspect_batch_skips_and_counts(corpus_dir, tmp_path, capsys):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"\x00" * 10)
    rc = main(["data", "inspect", str(corpus_dir / "bach/bwv253.mxl"), str(bad), str(corpus_dir / "essenFolksong/testd.abc")])
    out, err = capsys.readouterr()
    assert rc == 1 and "1 of 3 files could not be read" in err and "bad.mid" in err
    assert '"format": "mxl"' in out and '"notes": 164' in out and out.count('"format": "abc"') == 8


def test_convert_and_render(corpus_dir, tmp_path):
    assert main(["data", "convert", str(corpus_dir / "essenFolksong/kinder0.abc"), str(tmp_path / "k.mid"),
                 "--tune", "3"]) == 0
    assert main(["data", "convert", str(tmp_path / "k.mid"), str(tmp_path / "k.musicxml")]) == 0
    assert main(["data", "render", str(tmp_path / "k.musicxml"), "--out", str(tmp_path / "k.wav"),
                 "--method", "numpy"]) == 0
    audio, sr = soundfile.read(tmp_path / "k.wav")
    assert sr == 22050 and audio.shape[0] > sr and np.abs(audio).max() > 0.1
    assert (tmp_path / "k.png").read_bytes()[:4] == b"\x89PNG"


def test_data_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "bach_chorales" in out and "essen" in out and "folk_abc" in out and "lyrics_text" in out


def test_train_sample_evaluate_commands(tmp_path, corpus_dir, capsys):
    import json

    wd = tmp_path / "run"
    assert main(["train", "experiments/melody_lstm.py:tiny", "--workdir", str(wd), "--set", "train.num_steps=6"]) == 0
    assert main(["train", "experiments/melody_lstm.py:tiny", "--workdir", str(wd), "--set", "train.num_steps=6"]) == 0
    capsys.readouterr()
    primer = corpus_dir / "essenFolksong/testd.abc"
    for out in ("a", "b"):
        assert main(["sample", "--workdir", str(wd), "--num", "2", "--out", str(tmp_path / out), "--seed", "3",
                     "--primer", str(primer), "--synth", "numpy", "--top-k", "10"]) == 0
    for name in ("sample_01.mid", "sample_02.wav", "sample_02.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    capsys.readouterr()
    assert main(["evaluate", "--workdir", str(wd), "--split", "valid"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["models"]) == {"lstm", "unigram", "bigram"} and result["checkpoint_step"] == 6


def test_train_errors_are_one_line(tmp_path):
    r = _run("train", "experiments/nope.py", "--workdir", str(tmp_path))
    assert r.returncode == 1 and "no such experiment file" in r.stderr and "Traceback" not in r.stderr
    r = _run("train", "experiments/melody_lstm.py:tiny", "--workdir", str(tmp_path), "--set", "train.bogus=1")
    assert r.returncode == 1 and "no config field" in r.stderr and "Traceback" not in r.stderr
