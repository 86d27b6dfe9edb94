"""How the piano-roll GAN is judged: a split's real segments against generated ones, on MuseGAN's
objective metrics (`evaluate/pianoroll_metrics.py`) and a Fréchet distance in a key classifier's
embedding; `tasks/pianoroll_gan.py` generates the rolls and hands them here.

Fréchet distance. A small classifier (`models.pianoroll_gan.SegmentClassifier`) is trained on the
training split's real segments, with the same transposition augmentation, to name each segment's
key (tonic pitch class x mode: 24 classes; the piece's notated key moved by the shift, or the
Krumhansl-Kessler estimate where the corpus gives none; 600 steps: about 53% right on transposed
test segments, chance 4%). Its 32-unit layer before the logits is the embedding. The real segments
it is compared on are transposed as for training (one fixed-seed shift each): the generator learns
the transposed distribution, and untransposed sets of a few dozen pieces differ from it, and from
each other, by their keys alone (untransposed test halves: FD 229; transposed: 4.9). The split's
segments are halved by piece (alternate pieces by source id); the real-vs-real value is FD(half A,
half B), the generated value the mean of FD(G1, B) and FD(G2, A) with |G1| = |A|, |G2| = |B|, so
both carry the same small-sample bias. One classifier's ratio is one draw: on the chorale test split
the generated distance moves little with the classifier's seed (5.5-6.5 over five seeds for one
generator) but real vs real, two halves of 37 pieces, moves from 2.56 to 4.21, so `report` also gives
the ratio under `eval.classifier_count` classifiers (seeds `eval.classifier_seed`, +1, ...) and
their mean; the headline stays the first classifier's."""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from musicjax.data.augment import shift_pitches
from musicjax.evaluate import pianoroll_metrics as pm
from musicjax.models.pianoroll_gan import SegmentClassifier
from musicjax.tasks.pianoroll_gan_data import SegmentSpec, draw_rows, halves


def train_key_classifier(classifier: SegmentClassifier, data: dict, bounds, steps: int, batch_size: int, seed: int,
                         learning_rate: float = 1e-3):
    """Parameters of `classifier` fitted to name the key of transposed training segments (the
    label follows the shift), and the training accuracy of its last 20 steps."""
    params = classifier.init(jax.random.key(seed), jnp.zeros((1,) + data["rolls"].shape[1:]))["params"]
    tx = optax.adam(learning_rate)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits, _ = classifier.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), (logits.argmax(-1) == y).mean()

        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, acc

    accs = []
    for i in range(steps):
        idx, shift = draw_rows(data, bounds, batch_size, seed + 7919, i)
        x = np.stack([shift_pitches(data["rolls"][j], s) for j, s in zip(idx, shift)]).astype(np.float32)
        key = data["key"][idx]
        y = (key % 12 + shift) % 12 + 12 * (key // 12)
        params, opt_state, acc = step(params, opt_state, x, y)
        accs.append(acc)
    return params, float(np.mean(jax.device_get(accs[-20:])))


class Judge(NamedTuple):
    """The judging functions of one task (see `make_judge`)."""
    classify: Callable  # rolls, classifier seed -> (logits [N, 24], embedding [N, embed])
    judge: Callable  # generated rolls, split[, embedding] -> Fréchet distance, ratio, metric rows
    report: Callable  # {binarization: rolls}, split -> the full report with its Markdown table


def make_judge(spec: SegmentSpec, data: Callable, bounds: Callable, e) -> Judge:
    """Judging against the real segments `data(split)` (a dict with rolls, ids, key, skipped; the
    training augmentation's shift bounds `bounds(split)`), under the eval config `e`."""
    names = spec.tracks
    classifier = SegmentClassifier(24, e.embed_dim)
    classifier_seed = e.get("classifier_seed", 0)

    def metrics(rolls: np.ndarray) -> dict:
        """Every metric of a roll set (`pianoroll_metrics.all_metrics` on this task's tracks)."""
        return pm.all_metrics(rolls, spec.min_pitch, names, e.qualified_steps)

    classifier = SegmentClassifier(24, e.embed_dim)
    classifier_seed = e.get("classifier_seed", 0)

    @functools.cache
    def fitted_classifier(cseed: int):
        # seeded by the evaluation, not the run: runs of different seeds are judged by one classifier
        return train_key_classifier(classifier, data("train"), bounds("train"), e.classifier_steps,
                                    e.classifier_batch, cseed)

    @jax.jit
    def _classify(params, x):
        return classifier.apply({"params": params}, x)

    def classify(rolls: np.ndarray, cseed: int = classifier_seed):
        """(logits [N, 24], embedding [N, embed]) of segments under the classifier of seed `cseed`."""
        params = fitted_classifier(cseed)[0]
        outs = [jax.device_get(_classify(params, jnp.asarray(rolls[i:i + 256], jnp.float32)))
                for i in range(0, len(rolls), 256)]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

    @functools.cache
    def real_summary(split: str) -> dict:
        """The split's metrics, its halves (by piece) and their metrics."""
        d = data(split)
        a, b = halves(d)
        return {"metrics": metrics(d["rolls"]), "halves": (a, b),
                "halves_metrics": (metrics(d["rolls"][a]), metrics(d["rolls"][b]))}

    @functools.cache
    def real_embedding(split: str, cseed: int = classifier_seed) -> dict:
        """The split's segments' embeddings after the training augmentation (each segment
        transposed by a shift drawn as for training, fixed seed): the generator learns the
        transposed distribution, and the key classifier's embedding sees keys, so untransposed real
        sets of a few dozen pieces differ from it, and from each other, by their keys alone."""
        d = data(split)
        a, b = halves(d)  # not real_summary's: the training split's embedding needs no metrics
        lo, hi = bounds(split)
        shift = lo + np.floor(np.random.default_rng([e.seed, 1]).random(len(lo)) * (hi - lo + 1)).astype(np.int64)
        moved = np.stack([shift_pitches(r, int(k)) for r, k in zip(d["rolls"], shift)])
        logits, emb = classify(moved, cseed)
        labels = (d["key"] % 12 + shift) % 12 + 12 * (d["key"] // 12)
        return {"embedding": emb, "frechet_real_vs_real": pm.frechet_distance(emb[a], emb[b]),
                "classifier_accuracy": float((logits.argmax(-1) == labels).mean())}

    def frechet(emb: np.ndarray, split: str, cseed: int = classifier_seed) -> dict:
        """Generated embeddings (as many as the split's segments) against the split's real ones
        under the classifier of seed `cseed`: the distance, real vs real, and their ratio."""
        real = real_embedding(split, cseed)
        a, b = halves(data(split))
        fd = 0.5 * (pm.frechet_distance(emb[:len(a)], real["embedding"][b]) +
                    pm.frechet_distance(emb[len(a):len(a) + len(b)], real["embedding"][a]))
        return {"frechet": fd, "frechet_real_vs_real": real["frechet_real_vs_real"],
                "frechet_ratio": fd / max(real["frechet_real_vs_real"], 1e-12)}

    def judge(rolls: np.ndarray, split: str, emb: np.ndarray | None = None) -> dict:
        """Generated rolls (as many as the split's segments; their embeddings `emb` if known)
        against the split's real ones."""
        emb = classify(rolls)[1] if emb is None else emb
        real = real_summary(split)
        rows = pm.compare(real["metrics"], metrics(rolls), halves=real["halves_metrics"])
        error, within = pm.summary(rows)
        return {**frechet(emb, split), "metric_error": error, "metrics_within_10pct": within, "rows": rows}

    def over_classifiers(rolls: np.ndarray, pick: np.ndarray, split: str, count: int) -> dict:
        """The Fréchet ratio of generated rolls and of the training stand-in (training segments
        `pick`, transposed as in `real_embedding`) under `count` classifiers (seeds classifier_seed,
        +1, ...): one classifier's ratio is one draw (the chorale test split's real-vs-real value
        moved from 2.76 to 4.21 with the seed), their mean the steadier figure."""
        seeds = [classifier_seed + i for i in range(count)]
        gen = [frechet(classify(rolls, s)[1], split, s) for s in seeds]
        train = [frechet(real_embedding("train", s)["embedding"][pick], split, s) for s in seeds]
        ratios = np.array([g["frechet_ratio"] for g in gen])
        train_ratios = np.array([t["frechet_ratio"] for t in train])
        return {"seeds": seeds, "frechet": [g["frechet"] for g in gen],
                "frechet_real_vs_real": [g["frechet_real_vs_real"] for g in gen], "frechet_ratio": ratios.tolist(),
                "training_segments_ratio": train_ratios.tolist(), "mean_ratio": float(ratios.mean()),
                "sd_ratio": float(ratios.std(ddof=1)) if count > 1 else 0.0,
                "training_segments_mean_ratio": float(train_ratios.mean()),
                "classifier_accuracy": [real_embedding(split, s)["classifier_accuracy"] for s in seeds]}

    def report(rolls: dict, split: str) -> dict:
        """The split's real segments against as many generated ones (`rolls`: one set per
        binarisation): every metric, the Fréchet distances, and a Markdown table (of e.binarize)."""
        d = data(split)
        out = {"split": split, "segments": int(len(d["rolls"])), "pieces": len(d["ids"]), "skipped": d["skipped"],
               "segment_shape": dict(zip(("tracks", "bars", "steps", "pitches"), spec.shape)),
               "tracks": list(names), "default_binarization": e.binarize}
        for how in rolls:
            out[how] = judge(rolls[how], split)
        out["frechet_classifier"] = {"classes": "key: tonic pitch class x mode (24)", "embedding": e.embed_dim,
                                     "training_steps": e.classifier_steps, "seed": classifier_seed,
                                     "train_accuracy_last_steps": fitted_classifier(classifier_seed)[1],
                                     f"{split}_accuracy": real_embedding(split)["classifier_accuracy"],
                                     "halves_segments": [len(h) for h in real_summary(split)["halves"]]}
        # for scale: the training split's own segments (transposed as for training), drawn at random as a
        # generator's samples are, judged the same way: what a generator that reproduced the training
        # distribution exactly would score
        train = real_embedding("train")
        pick = np.random.default_rng([e.seed, 2]).permutation(len(train["embedding"]))[:len(d["rolls"])]
        stand_in = judge(data("train")["rolls"][pick], split, emb=train["embedding"][pick])
        out["training_segments"] = {**{k: stand_in[k] for k in ("frechet", "frechet_ratio", "metrics_within_10pct")},
                                    "missed": [k for k, r in stand_in["rows"].items() if r["within"] is False]}
        count = e.get("classifier_count", 1)
        across = ""
        if count > 1:
            o = out["frechet_over_classifiers"] = over_classifiers(rolls[e.binarize], pick, split, count)
            across = (f" Over {count} classifiers (seeds {o['seeds'][0]}-{o['seeds'][-1]}): generated ratio "
                      f"{o['mean_ratio']:.2f} ± {o['sd_ratio']:.2f} (" +
                      ", ".join(f"{r:.2f}" for r in o["frechet_ratio"]) +
                      f"), training segments {o['training_segments_mean_ratio']:.2f}.")
        j = out[e.binarize]
        halves = [r["halves_difference"] for r in j["rows"].values() if not np.isnan(r["halves_difference"])]
        out["real_halves_within_10pct"] = float(np.mean(np.array(halves) <= 0.10)) if halves else float("nan")
        out["markdown"] = (pm.markdown_table(j["rows"], f"real ({split})", f"generated ({e.binarize})") +
                           f"\n\nFréchet distance (key-classifier embedding, {e.embed_dim}-d): generated "
                           f"{j['frechet']:.3f}, real vs real (two halves of {split}) {j['frechet_real_vs_real']:.3f}"
                           f" (ratio {j['frechet_ratio']:.2f}); metrics within 10%: "
                           f"{100 * j['metrics_within_10pct']:.0f}% (the two real halves lie within 10% of each "
                           f"other on {100 * out['real_halves_within_10pct']:.0f}% of them). For scale, "
                           f"{len(pick)} random training segments judged as a generator's: Fréchet distance "
                           f"{stand_in['frechet']:.3f} (ratio {stand_in['frechet_ratio']:.2f}), metrics within 10% "
                           f"{100 * stand_in['metrics_within_10pct']:.0f}%.{across}\n")
        return out

    return Judge(classify=classify, judge=judge, report=report)
