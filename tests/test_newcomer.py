"""A newcomer's first hour, each rough edge a test: every bad command is one line and a failing
exit; MusicXML keeps meter, key (with its mode), tempo, title and lyrics; audio is written in the
format its extension names; the demo's samples are whole melodies, reported beside the test set,
and its run is where it says; piano-rolls speak in note names and bars; every option has help."""

import argparse
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from musicjax.cli import build_parser, main
from musicjax.data.io import read_score, read_scores, write_score
from musicjax.data.score import Metadata, Part, make_score, scores_equal

REPO = pathlib.Path(__file__).resolve().parents[1]


def _start(*args):
    return subprocess.Popen([sys.executable, "-m", "musicjax.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)


def _lines(text):
    return [l for l in text.splitlines() if l.strip()]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A melody-LSTM run of two steps (the tiny config)."""
    wd = tmp_path_factory.mktemp("newcomer") / "run"
    assert main(["train", "experiments/melody_lstm.py:tiny", "--workdir", str(wd), "--set", "train.num_steps=2"]) == 0
    return wd


# ---- the CLI boundary ------------------------------------------------------------------------


def test_each_bad_command_is_one_line_and_a_failing_exit(workdir, corpus_dir, tmp_path):
    book = str(corpus_dir / "essenFolksong/kinder0.abc")
    demo = tmp_path / "demo_out"
    (demo / "run").mkdir(parents=True)
    (demo / "run" / "config.json").write_text((workdir / "config.json").read_text())
    out = str(tmp_path / "out")
    sample = ["sample", "--workdir", str(workdir), "--out", out, "--synth", "numpy"]
    cases = [  # (command, what the one line must say)
        (["data", "render", book, "--tune", "500", "--out", str(tmp_path / "x.wav")], "has 213 tune(s); --tune 500"),
        (["data", "render", book, "--out", str(tmp_path / "x.mp3")], "cannot write '.mp3' audio"),
        (["train", "experiments/melody_lstm.py:tiny", "--workdir", str(tmp_path / "t"), "--set",
          "model.implementation=cuda"], "model.implementation is 'cuda'; choose from fused, flax"),
        (["train", "experiments/melody_lstm.py:tiny", "--workdir", str(tmp_path / "t"), "--set", "train.lr=1"],
         "no config field 'train.lr'"),
        (["train", "experiments/idyom.py:kinder", "--workdir", str(tmp_path / "t")], "not a training config"),
        (sample + ["--num", "0"], "--num must be at least 1"),
        (sample + ["--top-p", "0"], "--top-p must be in (0, 1]"),
        (sample + ["--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (sample + ["--temperature", "-1"], "--temperature must be >= 0"),
        (sample + ["--top-k", "-3"], "--top-k must be >= 0"),
        (sample + ["--primer", book, "--primer-tune", "500"], "has 213 tune(s); --primer-tune 500"),
        (["sample", "--workdir", str(demo), "--out", out], f"the demo's training run is in {demo / 'run'}"),
        (["evaluate", "--idyom", "experiments/melody_lstm.py:tiny"], "not an IDyOM benchmark config"),
    ]
    results = []
    for i in range(0, len(cases), 4):  # a few at a time: the machine has 2 cores
        batch = [(args, said, _start(*args)) for args, said in cases[i:i + 4]]
        results += [(args, said, p, *p.communicate(timeout=300)) for args, said, p in batch]
    for args, said, p, stdout, stderr in results:
        assert p.returncode == 1 and "Traceback" not in stderr and not stdout, (args, stderr)
        assert len(_lines(stderr)) == 1 and stderr.startswith("musicjax: error: "), (args, stderr)
        assert said in stderr, (args, stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo_out"]  # nothing written by a refused command


def test_primer_tune_is_chosen_and_named(workdir, corpus_dir, tmp_path, capsys):
    book = corpus_dir / "essenFolksong/kinder0.abc"
    assert main(["sample", "--workdir", str(workdir), "--out", str(tmp_path), "--num", "1", "--synth", "numpy",
                 "--primer", str(book), "--primer-tune", "3"]) == 0
    tune = read_scores(book)[2]
    assert f"primer: tune 3 of 213 in {book} ({tune.meta.title})" in capsys.readouterr().err
    got = read_score(tmp_path / "sample_01.mid")
    assert got.pitch[:tune.num_notes].tolist() == tune.pitch.tolist()  # the sample continues tune 3


def test_render_writes_the_format_its_extension_names(corpus_dir, tmp_path):
    book = str(corpus_dir / "essenFolksong/kinder0.abc")
    for ext, fmt in ((".flac", "FLAC"), (".wav", "WAV"), (".ogg", "OGG")):
        out = tmp_path / f"x{ext}"
        assert main(["data", "render", book, "--out", str(out), "--method", "numpy"]) == 0
        info = soundfile.info(out)
        assert info.format == fmt and info.samplerate == 22050 and info.frames > 22050


def test_every_option_has_help():
    def walk(parser, where):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{where} {name}")
            elif action.dest != "help":
                assert action.help, f"{where} {'/'.join(action.option_strings) or action.dest} has no help"

    walk(build_parser(), "musicjax")


# ---- MusicXML keeps what the Score holds -----------------------------------------------------


def test_musicxml_keeps_meter_key_tempo_title_and_lyrics(corpus_dir, tmp_path):
    mazurka = read_score(corpus_dir / "chopin/mazurka06-2.krn")
    assert (mazurka.meta.key, mazurka.meta.meter) == ("C# minor", "3/4")  # was read as "E major"
    write_score(mazurka, tmp_path / "m.musicxml")
    back = read_score(tmp_path / "m.musicxml")
    assert (back.meta.key, back.meta.meter, back.meta.title) == ("C# minor", "3/4", mazurka.meta.title)
    assert scores_equal(mazurka, back)

    meta = Metadata(title="Ein Lied", composer="N. N.", key="Bb major", meter="6/8")
    song = make_score([70, 72, 74, 75, 77], [0, 1.5, 2, 3, 4.5], [1.5, 2, 3, 4.5, 6], velocity=80,
                      lyrics=[(0, "Al", "begin", 1), (1, "le", "end", 1), (3, "mein", "single", 1),
                              (3, "dein", "single", 2)], tempos=[(0, 96), (3, 72)], meta=meta)
    write_score(song, tmp_path / "s.musicxml")
    back = read_score(tmp_path / "s.musicxml")
    assert scores_equal(song, back)
    assert (back.meta.title, back.meta.composer, back.meta.key, back.meta.meter) == \
        ("Ein Lied", "N. N.", "Bb major", "6/8")


_BARE_SIGNATURE = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1"><part-list><score-part id="P1"><part-name>M</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions><key><fifths>{fifths}</fifths></key>
<time><beats>4</beats><beat-type>4</beat-type></time></attributes>{notes}</measure></part></score-partwise>"""


def _note(step, octave, alter=0):
    a = f"<alter>{alter}</alter>" if alter else ""
    return f"<note><pitch><step>{step}</step>{a}<octave>{octave}</octave></pitch><duration>1</duration></note>"


def test_key_mode_comes_from_the_source_or_the_notes(tmp_path):
    abc = tmp_path / "k.abc"
    abc.write_text("X:1\nT:minor\nM:3/4\nK:Am\nABc|e2A|\n\nX:2\nT:dorian\nM:3/4\nK:D dor\nDEF|A2D|\n")
    assert [s.meta.key for s in read_scores(abc)] == ["A minor", "D dorian"]
    # a MusicXML key signature without <mode>: 0 fifths is C major or A minor, by the notes
    minor = "".join(_note(s, o) for s, o in (("A", 4), ("C", 5), ("E", 5), ("A", 4), ("G", 4, ), ("A", 4)))
    minor = minor.replace("<step>G</step>", "<step>G</step><alter>1</alter>")
    major = "".join(_note(s, o) for s, o in (("C", 4), ("E", 4), ("G", 4), ("F", 4), ("D", 4), ("C", 4)))
    for notes, expected in ((minor, "A minor"), (major, "C major")):
        path = tmp_path / "bare.musicxml"
        path.write_text(_BARE_SIGNATURE.format(fifths=0, notes=notes))
        assert read_score(path).meta.key == expected


# ---- musical statistics and the demo's samples ---------------------------------------------


def test_repetition_tonic_ending_and_bar_ends():
    from musicjax.demo import end_at_bar
    from musicjax.evaluate.music_stats import mean_stats, melody_stats, pitch_ngram_repetition
    from musicjax.tasks import music_vae

    assert music_vae.pitch_ngram_repetition is pitch_ngram_repetition  # one home: evaluate/music_stats
    motif = [60, 62, 64, 65, 67, 65, 64, 62]
    tune = make_score(motif * 2 + [60], np.arange(17.0), np.arange(17.0) + 1)
    stats = melody_stats(tune)
    assert stats["notes"] == 17 and stats["ends_on_tonic"] == 1.0
    assert stats["pitch_4gram_repetition"] == pytest.approx(6 / 14)  # of 14 4-grams, 6 were heard before
    off = make_score(motif * 2 + [67], np.arange(17.0), np.arange(17.0) + 1)  # ends on the dominant
    assert melody_stats(off)["ends_on_tonic"] == 0.0
    means = mean_stats([tune, make_score([60, 62], [0, 1], [1, 2])])
    assert means["pitch_4gram_repetition"] == pytest.approx(6 / 14)  # too short for 4-grams: left out of this mean
    assert means["pieces"] == 2 and means["notes"] == 9.5  # ... and only of this one

    ran_on = make_score([60, 62, 64, 65], [0, 3, 5, 8.5], [3, 5, 8.5, 10])  # hit a 10-quarter limit
    cut = end_at_bar(ran_on, limit_q=10)
    assert cut.pitch.tolist() == [60, 62, 64] and cut.end_q.tolist() == [3, 5, 8]  # the bar line at 8
    ended = make_score([60, 62], [0, 1], [1, 2.5])  # ended by the model (before the limit): kept whole
    assert end_at_bar(ended, limit_q=10) is ended


def test_quick_demo_writes_eval_test_json_and_says_where_its_run_is(tmp_path, capsys):
    from musicjax.demo import run_demo

    summary = run_demo(tmp_path, quick=True)
    out = capsys.readouterr().out
    evaluation = json.loads((tmp_path / "run" / "eval_test.json").read_text())
    assert evaluation["checkpoint_step"] == 12 and set(evaluation["models"]) == {"lstm", "unigram", "bigram"}
    for side in ("samples", "test_set"):
        assert {"notes", "pitch_4gram_repetition", "ends_on_tonic"} <= set(summary["music_stats"][side])
    assert "ends_on_tonic" in out and "pitch_4gram_repetition" in out and str(tmp_path / "run") in out
    sample = read_score(tmp_path / "sample_01.mid")
    assert sample.meta.title == "sample 1"
    assert set(summary["seconds"]) == {"data", "training", "evaluation", "samples_and_audio", "total"}
    assert main(["sample", "--workdir", str(tmp_path), "--out", str(tmp_path / "more")]) == 1
    assert f"the demo's training run is in {tmp_path / 'run'}" in capsys.readouterr().err


# ---- pictures ------------------------------------------------------------------------------


def test_pianoroll_names_notes_draws_bar_lines_and_colours_parts(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from musicjax.evaluate.plots import _draw_notes, bar_quarters, note_name, pianoroll_png

    assert [note_name(p) for p in (60, 61, 21, 108)] == ["C4", "C#4", "A0", "C8"]
    assert (bar_quarters("3/4"), bar_quarters("6/8"), bar_quarters(""), bar_quarters("C")) == (3, 3, 4, 4)
    score = make_score([60, 64, 67, 48, 55], [0, 1, 2, 0, 3], [1, 2, 3, 3, 6], part=[0, 0, 0, 1, 1],
                       parts=(Part("upper"), Part("lower")), meta=Metadata(meter="3/4"))
    fig, ax = plt.subplots()
    _draw_notes(ax, score, plt, legend=True)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels and all(re.fullmatch(r"[A-G]#?-?\d", l) for l in labels) and "C4" in labels
    assert all(float(t).is_integer() for t in ax.get_yticks())  # no ticks at 62.5
    bar_lines = sorted(l.get_xdata()[0] for l in ax.get_lines() if len(set(l.get_xdata())) == 1)
    assert bar_lines == [0.0, 3.0, 6.0]
    colours = {tuple(p.get_facecolor()) for p in ax.patches if p.get_height() == pytest.approx(0.8)}  # notes
    assert len(colours) == 2  # one colour per part
    plt.close(fig)
    pianoroll_png(score, tmp_path / "x.png")
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"


# ---- feedback and setup ------------------------------------------------------------------------


def test_idyom_lstm_shows_a_progress_bar_per_fold(capsys):
    from musicjax.evaluate.idyom_lstm import PitchLSTMConfig, lstm_cross_validation

    cfg = PitchLSTMConfig(hidden=8, steps=3, batch_size=4)
    result = lstm_cross_validation("kinder", cfg, dynamic=False, max_folds=1)
    assert "LSTM fold 1/1" in capsys.readouterr().err and len(result["per_fold"]["LSTM"]) == 1


def test_packaging_license_and_extras():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"  # SPDX: no setuptools deprecation warnings
    assert any(r.startswith("setuptools>=77") for r in project["build-system"]["requires"])
    assert "tensorboard" in project["project"]["optional-dependencies"]  # reads the tb/ a run writes
