"""`musicjax evaluate`: a training run's report on a split, an ensemble of runs, or Pearce's IDyOM
melody benchmark."""

from __future__ import annotations

import json
import pathlib

from musicjax.cli.common import CliError, fitted_family, restored, workdir_config


def cmd_evaluate(args) -> int:
    from musicjax.data.files import atomic_write_text

    if args.idyom:
        return _evaluate_idyom(args)
    if not args.workdir:
        raise CliError("evaluate needs --workdir (a training run) or --idyom CONFIG")
    if args.ensemble or args.transpose:
        return _evaluate_ensemble(args)
    fitted = fitted_family(workdir_config(args.workdir))
    if fitted:
        if args.set:
            raise CliError(f"{args.workdir}: --set does not apply to a fitted {fitted.__name__.split('.')[-1]} run")
        result = fitted.report(args.workdir, args.split)
    else:
        _, task, state, step = restored(args.workdir, args.checkpoint, args.set or ())
        report = task.full_report(state, args.split)
        result = {"checkpoint_step": step, "checkpoint": args.checkpoint, **report}
        write_outputs = task.extra.get("write_outputs")  # a family's pictures, audio and tables of this split
        if write_outputs:
            result["written"] = write_outputs(state, args.workdir, split=args.split, evaluation=report)
    atomic_write_text(pathlib.Path(args.workdir) / f"eval_{args.split}.json", json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def _evaluate_ensemble(args) -> int:
    """--workdir A --ensemble B [--ensemble C ...] [--transpose K]: each run's NLL and their equal
    mixture's on one split (runs of one family whose task gives `unit_log_probs`), with --transpose
    each run also scored on the split moved by every shift in -K..K and those mixed in, written to
    A/ensemble_SPLIT.json."""
    import numpy as np

    from musicjax.data.files import atomic_write_text
    from musicjax.evaluate.ensemble import report

    if args.set:
        raise CliError("--set does not apply to an ensemble (each member is evaluated as it was trained)")
    if args.transpose < 0:
        raise CliError(f"--transpose must be 0 or more, got {args.transpose}")
    shifts = list(range(-args.transpose, args.transpose + 1))
    workdirs = [args.workdir, *(args.ensemble or ())]
    members, names, family = [], [], None
    for w in workdirs:
        config, task, state, step = restored(w, args.checkpoint)
        if family not in (None, config.model_family):
            raise CliError(f"{w}: a {config.model_family} run cannot join an ensemble of {family} runs")
        family = config.model_family
        log_probs = task.extra.get("unit_log_probs")
        if log_probs is None:
            raise CliError(f"{w}: the {family} family does not score units for an ensemble")
        try:
            members.append(np.stack([log_probs(state, args.split, transpose=s) for s in shifts]))
        except ValueError as e:
            raise CliError(f"{w}: {e}") from None
        names.append(f"{w} (step {step})")
    try:
        result = {"family": family, "split": args.split, "checkpoint": args.checkpoint,
                  **report(members, names, shifts)}
    except ValueError as e:
        raise CliError(f"{args.split}: {e}") from None
    atomic_write_text(pathlib.Path(args.workdir) / f"ensemble_{args.split}.json", json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def _evaluate_idyom(args) -> int:
    from musicjax.config import ConfigError, load_config
    from musicjax.data.files import atomic_write_text
    from musicjax.evaluate.idyom import markdown_table, run_experiment

    try:
        config = load_config(args.idyom, args.set or (), training=False)
    except ConfigError as e:
        raise CliError(str(e)) from None
    if "dataset" not in config or "model_family" in config:
        raise CliError(f"{args.idyom}: not an IDyOM benchmark config (such as experiments/idyom.py:kinder)"
                       + (f"; a training config: musicjax train {args.idyom} --workdir DIR"
                          if "model_family" in config else ""))
    result = run_experiment(config)
    table = markdown_table(result)
    out = pathlib.Path(args.out or ".")
    atomic_write_text(out / f"idyom_{config.dataset}.json", json.dumps(result, indent=1))
    atomic_write_text(out / f"idyom_{config.dataset}.md", table + "\n")
    print(table)
    return 0


def add_parser(sub) -> None:
    c = sub.add_parser("evaluate", help="a run's NLL, bits per note, accuracy with unigram/bigram baselines "
                                        "(JSON); or Pearce's melody benchmark with --idyom")
    c.add_argument("--workdir", help="a training run's directory; writes eval_SPLIT.json there")
    c.add_argument("--split", default="test", choices=("train", "valid", "test"),
                   help="which split to score (default test)")
    c.add_argument("--checkpoint", default="best", choices=("best", "latest"),
                   help="best (by the family's best metric, the default) or the latest checkpoint")
    c.add_argument("--idyom", metavar="CONFIG[:VARIANT]",
                   help="e.g. experiments/idyom.py:kinder: 10-fold PPM and LSTM, tens of minutes "
                        "(:kinder_quick: the LSTM on one fold, about a minute)")
    c.add_argument("--out", help="with --idyom: directory for the JSON and Markdown table")
    c.add_argument("--ensemble", action="append", metavar="WORKDIR",
                   help="another run of the same family (repeatable): score --workdir's and these runs' "
                        "equal mixture (chorale_frames); writes ensemble_SPLIT.json in --workdir")
    c.add_argument("--transpose", type=int, default=0, metavar="K",
                   help="also score each run on the split moved by every shift in -K..K semitones (its "
                        "tonic told to a model that takes one) and mix those in: a transposition "
                        "ensemble (chorale_frames); writes ensemble_SPLIT.json")
    c.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field (repeatable); with --workdir eval.* and sample.* only, "
                        "e.g. eval.classifier_count=5")
    c.set_defaults(func=cmd_evaluate)

