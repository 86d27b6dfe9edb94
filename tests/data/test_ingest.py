"""`musicjax data ingest`: a folder of a few hundred generated files (variants of the chorales as
collections hold them, copies, broken files, notation files) becomes a corpus read like the
built-in ones; every broken file is in the report and none in the data; duplicates are kept once;
splits are by melody fingerprint; a rerun parses only what was added."""

import importlib.util
import json
import pathlib

import pytest

from musicjax.data import corpora, datasets, ingest
from musicjax.data.records import record_to_score

REPO = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("midi_read_bench", REPO / "benchmarks" / "midi_read.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

ABC = "X:1\nT:one\nM:3/4\nL:1/8\nK:G\nGAB c2d|e4 d2|]\n\nX:2\nT:two\nM:2/4\nL:1/8\nK:D\nDE FA|d2 A2|]\n"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICJAX_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def _collection(root, chorales, corpus_dir, n=300, seed=0):
    made = bench.make_collection(root, chorales, n, seed=seed, broken=0.08,
                                 notation=[corpus_dir / "bach/bwv66.6.mxl", corpus_dir / "palestrina/Agnus_01.krn"])
    (root / "notation" / "two.abc").write_text(ABC)
    (root / "notation" / "cover.jpg").write_bytes(b"\xff\xd8 not music")
    return made


def test_ingest_a_collection(chorales, corpus_dir, tmp_path, data_dir):
    root = tmp_path / "collection"
    made = _collection(root, chorales, corpus_dir)
    report = ingest.ingest(root, "mine", progress=False)
    assert report["files"] == 300 + 3 and report["other_files"] == 1
    # every broken file is listed with its reason, on one line naming it
    listed = {e.split(": ")[0]: e for e in report["errors"]}
    assert {str(root / b) for b in made["broken"]} <= set(listed) and made["broken"]
    assert all("\n" not in e and e.split(": ", 1)[1] for e in report["errors"])
    assert report["skipped"] == len(report["errors"]) == len(listed)
    # copies are kept once; a piece's split is its melody fingerprint's
    assert report["duplicates"] >= made["copies"]
    pieces = {}
    for split in corpora.SPLITS:
        for rec in datasets.data_source("mine", split):
            s = record_to_score(rec)
            assert corpora.split_of(corpora.melody_fingerprint(s)) == split
            pieces[s.meta.source_id] = s
    assert len(pieces) == report["items"] == sum(report["splits"].values()) > 200
    broken_ids = {f"mine/{b}" for b in made["broken"]}
    assert not broken_ids & set(pieces)
    assert len({ingest.notes_fingerprint(s) for s in pieces.values()}) == len(pieces)
    assert "mine/notation/two.abc/2" in pieces and "mine/notation/bwv66.6.mxl" in pieces
    assert any(s.meta.source_id.endswith(".kar") and len(s.lyric_text) for s in pieces.values())
    # listed and built like the built-in corpora
    assert "mine" in datasets.BUILDERS and datasets.is_built("mine")
    assert datasets.build("mine")["items"] == report["items"]

    # a rerun after files were added parses only those, and no piece changes split
    extra = bench.make_collection(tmp_path / "more", chorales, 20, seed=5, broken=0.0)
    for p in (tmp_path / "more").rglob("*.*"):
        target = root / "added" / p.relative_to(tmp_path / "more")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(p.read_bytes())
    again = ingest.ingest(root, "mine", progress=False)
    assert again["parsed_this_run"] == 20 and again["files"] == report["files"] + 20
    after = {record_to_score(r).meta.source_id: split for split in corpora.SPLITS
             for r in datasets.data_source("mine", split)}
    assert all(after[sid] == corpora.split_of(corpora.melody_fingerprint(s)) for sid, s in pieces.items())
    assert len(after) > len(pieces) and not extra["broken"]
    # a file removed leaves the corpus; nothing to parse
    gone = next(sid for sid in pieces if sid.startswith("mine/000/"))
    (root / gone.split("/", 1)[1]).unlink()
    third = ingest.ingest(root, "mine", progress=False)
    assert third["parsed_this_run"] == 0 and third["items"] == again["items"] - 1


def test_cli_ingest_and_list(chorales, corpus_dir, tmp_path, data_dir, capfd):
    from musicjax.cli import main

    root = tmp_path / "c"
    bench.make_collection(root, chorales, 40, seed=3)
    assert main(["data", "ingest", str(root), "--name", "tiny"]) == 0
    said = capfd.readouterr()
    out = json.loads(said.out.strip().splitlines()[-1])
    # nothing untrue or alarming from tfds: nothing was downloaded, no half-written folder warned about
    assert not any(w in said.out + said.err for w in ("Downloading", "downloaded", "WARNING:absl")), said.err[-2000:]
    assert out["name"] == "tiny" and out["items"] > 0
    assert main(["data", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capfd.readouterr().out)}
    assert rows["tiny"]["built"] and rows["tiny"]["items"] == out["items"]
    assert main(["data", "ingest", str(root / "nowhere"), "--name", "tiny2"]) == 1
    assert main(["data", "ingest", str(root), "--name", "Bad Name"]) == 1
    assert main(["data", "ingest", str(root), "--name", "bach_chorales"]) == 1
    err = capfd.readouterr().err
    assert err.count("musicjax: error:") == 3 and "Traceback" not in err
