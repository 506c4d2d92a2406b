"""Size on disk and latency of every deployment format, in every runtime that runs it.

For each model (``--models``) the script exports, with the library's own
exporters, MXNet float32 and int8 (:mod:`deploy.export.mxnet`, int8 through
:func:`deploy.quantize.quantize_mxnet`), ONNX (:mod:`deploy.export.onnx`) and
TFLite float32, float16 and int8 (:func:`deploy.export.tflite.export_many`, one
file per batch size: TFLite inputs have a fixed batch; int8 is dynamic-range for
token inputs, as in the export matrix). It then times every (format, runtime)
pair at every batch size (``--batches``, default 1 and 32):

* MXNet: the exported files loaded by the library's MXNet backend, hybridized
  with ``static_alloc``/``static_shape``; "float32 fused" is the same float32
  file with oneDNN's inference fusions (``optimize_for("MKLDNN")``), for
  reference: the int8 graph has them too;
* ONNX in onnxruntime; TFLite in ai-edge-litert and in tflite-runtime (each
  with its default XNNPACK delegate).

A call is one batch through the runtime's session (the edge ``Predictor``'s
input checks and layout changes are done once, outside the clock). The host
drifts between fast and slow states (~40% here), so the pairs are timed in
interleaved rounds (the order alternates every round) and every ratio is taken
within a round against MXNet float32 at the same batch, then the median over
rounds is reported. A format a model cannot take is listed with the exporter's
reason. The last column is the top-1 agreement with MXNet float32 on the
timed batch (the largest one), a check that the timed artifact computes the
same function.

Usage::

    python benchmarks/deploy_formats.py                        # four models, ~20-40 min
    python benchmarks/deploy_formats.py --models lenet5 cifar_resnet20_v1 --quick
    python benchmarks/deploy_formats.py --work /tmp/formats --out deploy_formats.md
"""
import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import _host
from edge_runtimes import ratio

MODELS = ("lenet5", "cifar_resnet20_v1", "mobilenetv2_1.0", "lstm_lm")
RUNTIME_PACKAGES = ("mxnet", "onnxruntime", "ai-edge-litert", "tflite-runtime")
TFLITE_RUNTIMES = ("litert", "tflite-runtime")
BASE = ("MXNet float32", "mxnet")


class Contender:
    """One (format, runtime) pair of a model: its files per batch, or why it has none."""

    def __init__(self, label, runtime, paths=None, refused=None, fused=False):
        self.label, self.runtime, self.fused = label, runtime, fused
        self.paths = paths or {}  # batch -> artifact path
        self.refused = refused  # one line: why the format cannot take the model
        self.calls = {}  # batch -> callable running one batch
        self.samples = {}  # batch -> seconds per call, one per round
        self.agreement = None

    @property
    def key(self):
        return (self.label, self.runtime)


# -- exports -------------------------------------------------------------------

def _reason(exc):
    from deploy.matrix import one_line_reason as matrix_reason  # the export matrix's one-line reasons
    return matrix_reason(exc)


def _cached(targets, reuse):
    return reuse and all(Path(p).exists() and Path(f"{p}.json").exists()
                         for p in targets.values())


def export_format(fmt, net, config, calib, out, precisions, reuse, **options):
    """precision -> path or exception, one conversion per precision that fails together."""
    from deploy.export import export, get_format
    targets = get_format(fmt).targets(out, config.name, precisions)
    if _cached(targets, reuse):
        return dict(targets)
    try:
        return export(fmt, net, targets, config=config, calib_data=calib, verify=False,
                      **options)
    except Exception as exc:  # a refusal is a result of the benchmark
        if len(precisions) == 1:
            return {precisions[0]: exc}
    # one precision failed the joint conversion: convert each alone to see which
    found = {}
    for p in precisions:
        found.update(export_format(fmt, net, config, calib, out, (p,), reuse, **options))
    return found


def contenders_for(name, net, config, calib, work, batches, reuse):
    from deploy.matrix import int8_precision
    out = Path(work) / name
    found = []
    mx_paths = {}
    for precision in ("float32", "int8"):
        mx_paths.update(export_format("mxnet", net, config, calib, out / "mxnet", (precision,),
                                      reuse))
    found.append(_contender("MXNet float32", "mxnet", mx_paths["float32"], batches))
    found.append(_contender("MXNet float32 fused", "mxnet", mx_paths["float32"], batches,
                            fused=True))
    found.append(_contender("MXNet int8", "mxnet", mx_paths["int8"], batches))
    onnx = export_format("onnx", net, config, calib, out / "onnx", ("float32",), reuse)
    found.append(_contender("ONNX float32", "onnxruntime", onnx["float32"], batches))
    int8 = int8_precision(config)
    precisions = ("float32", "float16", int8)
    per_batch = {b: export_format("tflite", net, config, calib, out / f"tflite_b{b}",
                                  precisions, reuse, batch_size=b) for b in batches}
    for precision in precisions:
        label = "TFLite " + ("int8 (dynamic range)" if precision == "dynamic_range"
                             else precision)
        for runtime in TFLITE_RUNTIMES:
            found.append(_contender(label, runtime,
                                    {b: per_batch[b][precision] for b in batches}, batches))
    return found


def _contender(label, runtime, path_or_paths, batches, fused=False):
    paths = path_or_paths if isinstance(path_or_paths, dict) else \
        {b: path_or_paths for b in batches}
    errors = [p for p in paths.values() if isinstance(p, Exception)]
    if errors:
        return Contender(label, runtime, refused=_reason(errors[0]))
    return Contender(label, runtime, paths=paths, fused=fused)


def size_on_disk(path):
    """Bytes of the artifact's files (the metadata sidecar left out)."""
    from deploy.export import artifact_files
    return sum(Path(f).stat().st_size for f in artifact_files(path))


# -- runners -------------------------------------------------------------------

def open_call(contender, batch, x, threads):
    """A callable running one batch of ``x`` in the contender's runtime, and its outputs."""
    import mxnet as mx

    from deploy.runtime import load
    predictor = load(contender.paths[batch], backend=contender.runtime, num_threads=threads)
    feeds = predictor.preprocess(*x, normalize=False)
    feeds = feeds if isinstance(feeds, list) else [feeds]
    session = predictor._session  # the runtime's own call, without the Predictor's checks
    if contender.runtime == "mxnet":
        if contender.fused:
            session.block.optimize_for(*[mx.nd.array(f, dtype=f.dtype) for f in feeds],
                                       backend="MKLDNN", static_alloc=True, static_shape=True)
        else:
            session.block.hybridize(static_alloc=True, static_shape=True)
    outputs = predictor.predict(*x, normalize=False)
    return (lambda: session.run(feeds)), outputs


def top1_agreement(outputs, reference):
    outputs = outputs if isinstance(outputs, list) else [outputs]
    reference = reference if isinstance(reference, list) else [reference]
    a, b = np.asarray(outputs[0]), np.asarray(reference[0])
    if a.ndim < 2 or a.shape != b.shape:
        return None
    return float((a.argmax(-1) == b.argmax(-1)).mean())


def open_all(models, batches, threads, log):
    """Open every contender at every batch; refusals at load or first run are recorded."""
    by_model = {}
    for name, (contenders, x) in models.items():
        reference = {}
        for c in contenders:
            for b in batches if c.refused is None else ():
                try:
                    c.calls[b], outputs = open_call(c, b, [a[:b] for a in x], threads)
                except Exception as exc:  # a runtime that cannot run the file is a result
                    c.refused, c.calls = _reason(exc), {}
                    break
                if c.key == BASE:
                    reference[b] = outputs
                elif b == max(batches) and b in reference:
                    c.agreement = top1_agreement(outputs, reference[b])
            log(f"  {name}: {c.label} in {c.runtime}: "
                + ("ready" if c.refused is None else f"refused ({c.refused[:80]})"))
        by_model[name] = contenders
    return by_model


# -- timing --------------------------------------------------------------------

def time_call(call, runs):
    """Median seconds per call over ``runs`` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(by_model, batches, rounds, target_s, max_runs, log):
    """Interleaved rounds over every (model, batch, contender); samples kept per contender."""
    pairs = [(c, b) for contenders in by_model.values() for c in contenders
             for b in batches if b in c.calls]
    runs = {}
    for c, b in pairs:  # warm up, and size each measurement to about target_s
        c.calls[b]()
        one = time_call(c.calls[b], 1)
        runs[id(c), b] = max(1, min(max_runs, math.ceil(target_s / max(one, 1e-6))))
    for r in range(rounds):
        for c, b in (pairs if r % 2 == 0 else pairs[::-1]):
            if runs[id(c), b] > 1:
                c.calls[b]()  # one untimed call: the caches held the previous pair's data
            c.samples.setdefault(b, []).append(time_call(c.calls[b], runs[id(c), b]))
        log(f"  round {r + 1}/{rounds} done")


def speedup(contenders, contender, batch):
    """Median over rounds of MXNet float32's time / the contender's, same round and batch."""
    base = next(c for c in contenders if c.key == BASE)
    if batch not in base.samples or batch not in contender.samples:
        return None
    samples = {"base": base.samples[batch], "this": contender.samples[batch]}
    return ratio(samples, "base", "this")


# -- report --------------------------------------------------------------------

def versions():
    """``"mxnet 1.9.1, onnxruntime 1.18.1, ..."``: the installed runtime packages."""
    from importlib import metadata
    found = []
    for name in RUNTIME_PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def rows(name, contenders, batches):
    out = []
    for c in contenders:
        row = {"model": name, "format": c.label, "runtime": c.runtime, "refused": c.refused}
        if c.refused is None:
            row["size"] = size_on_disk(c.paths[batches[0]])
            for b in batches:
                row[f"ms{b}"] = 1e3 * statistics.median(c.samples[b]) if b in c.samples \
                    else None
                row[f"x{b}"] = speedup(contenders, c, b)
            row["agree"] = c.agreement
        out.append(row)
    return out


def _cells(row, batches):
    if row["refused"]:
        return [row["model"], row["format"], row["runtime"], "-"] + ["-"] * 2 * len(batches) \
            + ["refused: " + row["refused"]]
    cells = [row["model"], row["format"], row["runtime"], f"{row['size'] / 1e6:.3f}"]
    for b in batches:
        ms, x = row[f"ms{b}"], row[f"x{b}"]
        cells += [f"{ms:.3f}" if ms is not None else "-", f"{x:.2f}x" if x is not None else "-"]
    cells.append("" if row["agree"] is None else f"top-1 {100 * row['agree']:.0f}%")
    return cells


def headings(batches):
    return (["model", "format", "runtime", "MB"]
            + [h for b in batches for h in (f"b{b} ms", f"b{b} vs MXNet fp32")] + ["note"])


def print_table(table, batches):
    lines = [headings(batches)] + [_cells(r, batches) for r in table]
    widths = [max(len(line[i]) for line in lines if not line[-1].startswith("refused"))
              for i in range(len(lines[0]) - 1)]
    for line in lines:
        body = "  ".join(cell.ljust(w) if i < 3 else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(line, widths)))
        print(f"{body}  {line[-1]}")


def markdown(table, batches, host, args):
    mx_info = host["mxnet"] or {}
    lines = [
        "# Deployment formats: size and latency",
        "",
        f"Host: {host['cpu']}; {host['logical_cpus']} logical CPUs, {host['cores']} cores; "
        f"flags: {' '.join(host['flags'])}; MXNet {mx_info.get('version')} with oneDNN "
        f"{mx_info.get('onednn')} (isa: {mx_info.get('isa')}); threads: {args.threads}; "
        f"{args.rounds} interleaved rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Runtimes: {versions()}.",
        "",
        "`bN ms`: median milliseconds per batch of N; `vs MXNet fp32`: MXNet float32's time / "
        "this one's, taken within each round, median over rounds (> 1: faster).",
        "",
        "| " + " | ".join(headings(batches)) + " |",
        "|" + "---|" * 3 + "---:|" * (1 + 2 * len(batches)) + "---|",
    ]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in _cells(r, batches)) + " |"
              for r in table]
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------

def prepare(name, batches):
    """The export matrix's network (``deploy.matrix.prepare_row``), inputs, calibration."""
    from deploy.matrix import prepare_row, sample_inputs
    net, config, _, calib = prepare_row(name)
    x = sample_inputs(config, max(batches), seed=3)
    return net, config, calib, x


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--rounds", type=int, default=None, help="default 7 (3 with --quick)")
    parser.add_argument("--target-s", type=float, default=None,
                        help="seconds per measurement (default 0.3; 0.05 with --quick)")
    parser.add_argument("--max-runs", type=int, default=200, help="calls per measurement, at most")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and repetitions")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads of every runtime (default: all CPUs)")
    parser.add_argument("--work", type=Path,
                        help="folder for the exported files; artifacts already there are reused")
    parser.add_argument("--out", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--peak-n", type=int, default=None,
                        help="sgemm size of the host's fp32 peak (0 skips; --quick skips)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.target_s = args.target_s or (0.05 if args.quick else 0.3)
    args.peak_n = args.peak_n if args.peak_n is not None else (0 if args.quick else 2048)
    if any(b < 1 for b in args.batches):
        parser.error(f"--batches must be positive, got {args.batches}")
    return args


def main(argv=None):
    args = parse_args(argv)
    # MXNet reads its thread count at import; the other runtimes take num_threads.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from gluon_dl.models import list_models
    unknown = [m for m in args.models if m not in list_models()]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; see gluon_dl.models.list_models()")
    host = _host.print_header(args.threads, peak_n=args.peak_n, torch=False)
    print(f"runtimes: {versions()}\n", flush=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="deploy_formats_"))
    log = lambda line: print(line, flush=True)  # noqa: E731
    models = {}
    for name in args.models:
        log(f"exporting {name} into {work / name}")
        net, config, calib, x = prepare(name, args.batches)
        models[name] = (contenders_for(name, net, config, calib, work, args.batches,
                                       reuse=args.work is not None), x)
    by_model = open_all(models, args.batches, args.threads, log)
    log(f"timing: {args.rounds} interleaved rounds, ~{args.target_s} s per measurement")
    measure(by_model, args.batches, args.rounds, args.target_s, args.max_runs, log)
    table = [row for name, contenders in by_model.items()
             for row in rows(name, contenders, args.batches)]
    print(f"\nlatency per batch, median of {args.rounds} interleaved rounds "
          f"({args.threads} threads); vs MXNet fp32 = its time / this one's, per round\n")
    print_table(table, args.batches)
    if args.out:
        from gluon_dl.utils.io import atomic_write_text
        atomic_write_text(args.out, markdown(table, args.batches, host, args))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
