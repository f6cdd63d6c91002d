"""Command line: python -m lab {demo,train,eval,compare,synth,predict,reproduce,list} --help."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from lab.config import CONFIG_VERSION, RunConfig


def _kv(text: str) -> tuple[str, object]:
    """"sigma=1.5" -> ("sigma", 1.5); values are JSON when they parse, else strings."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_config_args(p: argparse.ArgumentParser) -> None:
    from lab.heatmaps import DECODERS
    from lab.losses import LOSSES
    from lab.models import MODELS

    d = RunConfig()
    p.add_argument("--config", help="JSON config file (a run's config.json works); flags below override it")
    p.add_argument("--name", help="run name: the folder under --results")
    p.add_argument("--model", choices=sorted(MODELS), help=f"backbone (default {d.model})")
    p.add_argument("--width", type=float, help=f"width multiplier, e.g. 1, 0.5, 0.25, 0.125, 0.0625 (default {d.width})")
    p.add_argument("--loss", choices=sorted(LOSSES), help=f"loss from the registry (default {d.loss})")
    p.add_argument("--loss-kw", type=_kv, action="append", default=[], metavar="KEY=VALUE", help="loss hyper-parameter")
    p.add_argument("--model-kw", type=_kv, action="append", default=[], metavar="KEY=VALUE", help="model argument")
    p.add_argument("--decoder", choices=sorted(DECODERS), help="default: the loss's decoder")
    p.add_argument("--data", help="synthetic (default) or 300w:PATH, wflw:LIST[:ROOT], cofw:MAT, aflw:LIST[:ROOT]")
    p.add_argument("--train-n", type=int, help=f"training faces (default {d.train_n})")
    p.add_argument("--val-n", type=int, help=f"synthetic validation faces (default {d.val_n})")
    p.add_argument("--test-n", type=int, help=f"synthetic faces per test subset (default {d.test_n})")
    p.add_argument("--val-fraction", type=float, help=f"real data: share held out for validation (default {d.val_fraction})")
    p.add_argument("--split-seed", type=int, help="real data: seed of the train/val split")
    p.add_argument("--label-noise", nargs=2, metavar=("KIND", "SIGMA"), help="training-label noise: isotropic|tangential PX")
    p.add_argument("--epochs", type=int, help=f"(default {d.epochs})")
    p.add_argument("--batch-size", type=int, help=f"(default {d.batch_size})")
    p.add_argument("--lr", type=float, help=f"(default {d.lr})")
    p.add_argument("--ema", type=float, help="EMA decay for the evaluated weights, e.g. 0.99")
    p.add_argument("--seed", type=int, help=f"(default {d.seed})")
    p.add_argument("--device", help="auto (default: cuda if available), cpu, cuda, cuda:1")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--workers", type=int, help="DataLoader worker processes (default 0)")
    p.add_argument("--unlabeled", type=int, help="adversarial branch: size N of the unlabeled pool (0 = off)")
    p.add_argument("--adv-weight", type=float, help=f"adversarial weight lambda (default {d.adv_weight})")
    p.add_argument("--init-from", metavar="RUN", help="fine-tune: start from RUN's selected weights (a run folder, "
                   "or a run name under --results); the model must match")
    p.add_argument("--eval-every", type=int, help="validate every N epochs (= --epochs: no selection, keep the last)")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    # the training recipe (lab/runner/recipe.py); defaults in lab/config.py
    p.add_argument("--input-size", type=int, help="model input size in pixels (a model argument: rcn 80, hourglass 128)")
    p.add_argument("--optimizer", choices=["adamw", "adam"], help=f"(default {d.optimizer})")
    p.add_argument("--weight-decay", type=float, help=f"(default {d.weight_decay})")
    p.add_argument("--schedule", choices=["warmup_cosine", "cosine", "constant"],
                   help=f"learning-rate schedule (default {d.schedule}: per-step linear warm-up, then cosine)")
    p.add_argument("--warmup-steps", type=int, help=f"warm-up optimiser steps (default {d.warmup_steps})")
    p.add_argument("--grad-clip", type=float, help=f"gradient-norm clip (default {d.grad_clip}; 0 = off)")
    p.add_argument("--amp", choices=["auto", "bf16", "off", "cuda"],
                   help="bf16 autocast (default auto: on CUDA and on CPUs with native bf16, where it is faster)")
    p.add_argument("--no-channels-last", action="store_true", help="NCHW activations (default: channels_last)")
    p.add_argument("--no-fresh-faces", action="store_true",
                   help="synthetic data: the same training faces every epoch (default: new faces each epoch)")
    p.add_argument("--aug-rotation", type=float, help=f"augmentation: max rotation, degrees (default {d.aug_rotation})")
    p.add_argument("--aug-scale", type=float, help=f"augmentation: std of the log scale (default {d.aug_scale})")
    p.add_argument("--aug-shift", type=float, help=f"augmentation: std of the shift, box sizes (default {d.aug_shift})")
    p.add_argument("--no-flip", action="store_true", help="augmentation: no mirrored crops")
    from lab.models.ert import ERT_OPTIONS  # --model ert: dlib's shape_predictor_training_options, its defaults

    for key, (default, flag, text) in ERT_OPTIONS.items():
        p.add_argument(flag, dest=f"ert_{key}", type=_bool if isinstance(default, bool) else type(default),
                       metavar="BOOL" if isinstance(default, bool) else "N" if isinstance(default, int) else "X",
                       help=f"--model ert: {text} ({key}, default {default})")


def _bool(text: str) -> bool:
    if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("1", "true", "yes")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """RunConfig from --config (if any) overridden by the flags that were given."""
    cfg = RunConfig.load(args.config) if args.config else RunConfig()
    if args.config and cfg.version < CONFIG_VERSION:
        print(f"note: {args.config} has no \"version\": read as a version-{cfg.version} config (Adam, fixed faces, "
              f"the linear head; see lab/config.py LEGACY_V1); add \"version\": {CONFIG_VERSION} for the training "
              "recipe", file=sys.stderr)
    data = cfg.to_dict()
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    special = {"loss_kw", "model_kw", "label_noise"}
    for key, value in vars(args).items():
        if key in fields and key not in special and value is not None:
            data[key] = value
    data["loss_kw"] = {**data["loss_kw"], **dict(args.loss_kw)}
    data["model_kw"] = {**data["model_kw"], **dict(args.model_kw)}
    if args.label_noise:
        data["label_noise"] = {"kind": args.label_noise[0], "sigma": float(args.label_noise[1])}
    if args.no_augment:
        data["augment"] = False
    for flag, key in (("no_channels_last", "channels_last"), ("no_fresh_faces", "fresh_faces"), ("no_flip", "aug_flip")):
        if getattr(args, flag):
            data[key] = False
    if args.input_size:
        data["model_kw"]["input_size"] = args.input_size
    ert = {k[4:]: v for k, v in vars(args).items() if k.startswith("ert_") and v is not None}
    if ert and data["model"] != "ert":
        raise ValueError(f"--ert-* options apply to --model ert, not {data['model']!r}")
    data["model_kw"].update(ert)
    if data["model"] == "ert" and not args.config:  # trees fit by least squares; no channel width
        data["loss"] = args.loss or "l2"
        data["width"] = args.width or 1.0
    if data.get("grad_clip") == 0:
        data["grad_clip"] = None
    if not args.name and not args.config:
        data["name"] = f"{data['model']}-{data['width']:g}-{data['loss']}"
    return RunConfig.from_dict(data)


def cmd_train(args: argparse.Namespace) -> int:
    from lab.runner.train import train

    cfg = config_from_args(args)
    run = train(cfg, args.results, resume=args.resume, progress=not args.quiet)
    if run is not None:  # None: a torchrun rank other than 0, which neither writes nor prints
        _print_metrics(run)
    return 0


def _print_metrics(run) -> None:
    from lab.runner.compare import comparison_table

    print(comparison_table([run]).drop(columns=["run"]).to_markdown(index=False))


def cmd_eval(args: argparse.Namespace) -> int:
    from lab.runner.evaluate import evaluate_run

    from lab.data.sources import parse_test_arg

    jitters = [float(x) for x in args.jitter.split(",")] if args.jitter else []
    test_data: dict[str, list[str]] = {}
    for text in args.test:
        name, spec = parse_test_arg(text)
        test_data.setdefault(name, []).append(spec)
    run = evaluate_run(args.run, test_data=test_data or None)
    _print_metrics(run)
    if jitters:
        from lab.runner.robustness import box_jitter_curve

        curve = box_jitter_curve(args.run, jitters)
        print(curve.to_markdown(index=False))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from lab import compare

    paths = compare(args.runs, args.out, args.subset)
    print(Path(paths["markdown"]).read_text())
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from lab.data.synthetic.sheet import write_synth_sheet

    out = write_synth_sheet(args.split, args.n, args.out, size=args.size, seed=args.seed)
    print(f"wrote {args.n} {args.split} faces and a contact sheet under {out}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from lab.heatmaps import DECODERS
    from lab.losses import LOSSES
    from lab.models import MODELS

    print("losses:")
    for name, spec in sorted(LOSSES.items()):
        print(f"  {name:<12} input={spec.input:<7} decoder={spec.decoder:<11} {spec.paper}")
    print("decoders:")
    for name, dec in DECODERS.items():
        params = ", ".join(f"{k}={v}" for k, v in dec.params.items())
        print(f"  {name:<12} reads={dec.distribution:<7} {dec.summary} ({params})")
    print("models:", ", ".join(sorted(MODELS)))
    return 0


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def _images(inputs: list[str]) -> list[Path]:
    """Image files from files and folders (a folder: its images, sorted, not recursive)."""
    out = []
    for text in inputs:
        p = Path(text)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{p}: no {'/'.join(IMAGE_SUFFIXES)} images in this folder")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such image file or folder")
    return out


def cmd_predict(args: argparse.Namespace) -> int:
    from lab.atomic import refuse_existing, write_text_atomic
    from lab.data.formats import load_image
    from lab.runner.landmarker import Landmarker
    from lab.runner.progress import progress
    from lab.runner.runs import recipe_note
    from lab.viz.annotate import CSV_HEADER, FORMATS, csv_rows, write_faces

    formats = [f for f in args.format.split(",") if f]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"--format {args.format!r}: choose from {', '.join(FORMATS)} (comma-separated)")
    images = _images(args.inputs)
    if args.box is not None and len(images) != 1:
        raise ValueError(f"--box applies to one image; {len(images)} were given")
    out = Path(args.out)
    csv_path = out / "landmarks.csv"
    if "csv" in formats:
        refuse_existing([csv_path], args.overwrite)
    lm = Landmarker.from_run(args.run, device=args.device)
    print(f"model: {lm.run.path} ({lm.run.config.model} x{lm.run.config.width:g}, {lm.run.config.loss})", file=sys.stderr)
    note = recipe_note([lm.run])
    if note:
        print(f"note: {note}", file=sys.stderr)
    rows, n_faces, missed = [CSV_HEADER], 0, []
    for path in progress(images, enabled=len(images) > 1 and not args.quiet, desc="images", unit="img"):
        img = load_image(path)
        faces = lm.predict(img, boxes=None if args.box is None else [args.box])
        if not faces:
            missed.append(path.name)
            continue
        n_faces += len(faces)
        write_faces(path, img, faces, lm.run.name, out, formats=[f for f in formats if f != "csv"],
                    overlay=not args.no_overlay, overwrite=args.overwrite)
        rows += csv_rows(str(path), faces)
    if "csv" in formats:
        write_text_atomic(csv_path, "\n".join(rows) + "\n")
    print(f"{n_faces} face(s) in {len(images) - len(missed)} of {len(images)} image(s) -> {out}/")
    if missed:
        print(f"no face found in: {', '.join(missed[:10])}{' ...' if len(missed) > 10 else ''} (give --box for one "
              "image)", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The README's main job: two small hourglasses (soft-argmax L2 vs LaplaceKL) trained with the recipe on fresh
    synthetic faces, then a comparison (table + CED figures)."""
    from lab import compare
    from lab.runner.train import train

    base = RunConfig(model="hourglass", width=0.25, model_kw={"stacks": 1}, epochs=args.epochs,
                     train_n=args.train_n, val_n=100, test_n=200, batch_size=32, seed=0, device=args.device or "auto")
    run_dirs = []
    for name, loss in (("softargmax", "l2"), ("laplace_kl", "laplace_kl")):
        cfg = base.replace(name=name, loss=loss)
        run = train(cfg, args.out, resume=True, progress=not args.quiet)
        run_dirs.append(run.path)
    paths = compare(run_dirs, Path(args.out) / "comparison")
    print(Path(paths["markdown"]).read_text())
    print(f"runs: {', '.join(str(p) for p in run_dirs)}")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    print(f"inspect them: streamlit run app.py -- --results {args.out}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from lab import reproduce
    from lab.runner.reproduce import EXPERIMENTS_DIR, run_commands, run_suite

    only = args.only.split(",") if args.only else None
    suite = dict(only=only, experiments=args.experiments or EXPERIMENTS_DIR)
    if args.print_commands or args.wave is not None:
        commands = run_commands(args.results, quick=args.quick, device=args.device, **suite)
        for c in commands:
            if args.wave is None or c["wave"] == args.wave:
                print(c["command"])
        waves = max(c["wave"] for c in commands) + 1 if commands else 0
        waits = [f"{c['name']} after {c['after']}" for c in commands if c["after"]]
        print(f"# {len(commands)} runs in {waves} wave(s) (--wave 0 .. {waves - 1}; a run waits for a run of an "
              f"earlier wave{': ' + '; '.join(waits) if waits else ''}); then `python -m lab reproduce --results "
              f"{args.results}{' --quick' if args.quick else ''}"
              f"{' --experiments ' + str(args.experiments) if args.experiments else ''}` adds the robustness protocols and writes SUMMARY.md "
              "from the finished runs", file=sys.stderr)
        return 0
    if args.run:
        run_suite(args.results, quick=args.quick, device=args.device, workers=args.workers,
                  progress=not args.quiet, run_names=args.run, **suite)
        print(f"trained {', '.join(args.run)} into {args.results}")
        return 0
    path = reproduce(args.results, quick=args.quick, device=args.device, workers=args.workers,
                     progress=not args.quiet, jobs=args.jobs, **suite)
    print(f"summary: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("demo", help="main job: train two small hourglasses on synthetic faces and compare them")
    p.add_argument("--out", default="runs/demo", help="folder for the runs (default runs/demo)")
    p.add_argument("--epochs", type=int, default=12, help="epochs of --train-n fresh faces each (default 12)")
    p.add_argument("--train-n", type=int, default=1024, help="synthetic training faces per epoch (default 1024)")
    p.add_argument("--device", help="auto (default), cpu, cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("train", help="train one run (see --help for every knob)")
    _add_config_args(p)
    p.add_argument("--results", default="runs", help="parent folder of run folders (default runs/)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("eval", help="re-evaluate a run on its test subsets; optional box-jitter levels")
    p.add_argument("run", help="run folder")
    p.add_argument("--jitter", help="comma-separated box-jitter levels (fractions of the box), e.g. 0,0.05,0.1")
    p.add_argument("--test", action="append", default=[], metavar="NAME=SOURCE",
                   help="evaluate on a named real test source instead of the run's own test split (repeat a NAME to "
                   "join sources; 'full' joins every NAME), e.g. --test common=300w:/data/300W/lfpw/testset "
                   "--test common=300w:/data/300W/helen/testset --test challenge=300w:/data/300W/ibug")
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("compare", help="table (Markdown + CSV) and CED figure for several runs")
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("--out", default="runs/comparison", help="output folder (default runs/comparison)")
    p.add_argument("--subset", help="CED for one subset only (default: every subset)")
    p.set_defaults(fn=cmd_compare)

    p = sub.add_parser("synth", help="write synthetic faces with their points drawn, and a contact sheet")
    p.add_argument("--split", default="challenge", choices=["train", "val", "common", "challenge", "unlabeled"],
                   help="which split's difficulty (default challenge)")
    p.add_argument("--n", type=int, default=16, help="faces (default 16)")
    p.add_argument("--out", default="runs/synth", help="output folder (default runs/synth)")
    p.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.set_defaults(fn=cmd_synth)

    p = sub.add_parser("predict", help="68 landmarks for every face in photos: .pts / JSON / CSV and overlays in --out")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and/or folders of images")
    p.add_argument("--run", help="run folder with a model.pt (default: the best real-face run in results/)")
    p.add_argument("--box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"),
                   help="one image: the face box in pixels of the original image (the tight box of the landmarks, "
                   "brows to chin); default: faces found by dlib's HOG detector")
    p.add_argument("--out", default="landmarks", help="output folder (default landmarks/; never beside the inputs "
                   "unless you name their folder)")
    p.add_argument("--format", default="pts,json", help="comma-separated: pts (300-W, one file per face), json (one per "
                   "image), csv (one landmarks.csv for all); default pts,json")
    p.add_argument("--no-overlay", action="store_true", help="do not write <image>_landmarks.png overlays")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (default: refuse)")
    p.add_argument("--device", help="auto (default), cpu, cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_predict)

    p = sub.add_parser("reproduce", help="the reference experiments of experiments/*.json -> results/ + SUMMARY.md")
    p.add_argument("--quick", action="store_true", help="seconds-long smoke version (use another --results)")
    p.add_argument("--results", default="results", help="folder of the run folders and SUMMARY.md (default results/)")
    p.add_argument("--only", help="comma-separated experiment names")
    p.add_argument("--device", help="auto (default), cpu, cuda")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes per run (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once, one process each (default 1; use the "
                   "CPU core count: every run uses one thread, and the results do not depend on it)")
    p.add_argument("--experiments", help="folder of experiment JSON files (default: the repository's experiments/)")
    p.add_argument("--print-commands", action="store_true", help="print one self-contained command per run (in "
                   "dependency order) for a cluster scheduler or GNU parallel, and exit; train nothing")
    p.add_argument("--wave", type=int, help="with --print-commands: only the runs of this wave (0: runs that wait "
                   "for no other run; 1: runs fine-tuned from wave 0; ...)")
    p.add_argument("--run", action="append", metavar="NAME", help="train (or resume) only this run of the suite; "
                   "repeatable; the robustness protocols and SUMMARY.md wait for a reproduce without --run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(fn=cmd_reproduce)

    p = sub.add_parser("list", help="registered losses, decoders and models")
    p.set_defaults(fn=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ValueError, KeyError, OSError, RuntimeError) as e:  # OSError: missing, existing, unwritable files
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        if isinstance(e, OSError) and e.filename and e.strerror:  # e.g. an unwritable or missing output folder
            message = f"{e.filename}: {e.strerror}"
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
