"""Batch-1 latency of exported artifacts in every installed runtime.

Measures each (artifact, runtime) pair in interleaved rounds, so that the
host drifting between fast and slow states (~40% here) hits every pair
alike, and prints medians plus ratios computed inside each round:

* int8 / fp32 per TFLite interpreter (what quantization buys in each);
* ai-edge-litert / tflite-runtime per artifact (what the interpreter buys);
* with ``--delegates``: each TFLite file in each interpreter with its default
  XNNPACK delegate and without it (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``), which
  shows whether XNNPACK takes the graph at all.

Usage::

    python benchmarks/edge_runtimes.py                 # runs `gluon-dl demo --quick` first
    python benchmarks/edge_runtimes.py --artifacts gluon_dl_demo/artifacts
    python benchmarks/edge_runtimes.py --artifacts gluon_dl_demo/artifacts --delegates
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _host


def discover(artifacts):
    from deploy.runtime import available_backends

    pairs = []
    for path in sorted(artifacts.glob("*.tflite")) + sorted(artifacts.glob("*.onnx")):
        for backend in available_backends(path):
            pairs.append((path, backend))
    return pairs


def measure(pairs, rounds, runs, threads):
    from deploy.runtime import benchmark_latency, load

    predictors = {(p, b): load(p, backend=b, num_threads=threads) for p, b in pairs}
    x = np.random.RandomState(0).rand(*next(iter(predictors.values())).config.input_shape)
    samples = {key: [] for key in predictors}
    for _ in range(rounds):
        for key, pred in predictors.items():
            samples[key].append(statistics.median(benchmark_latency(pred, x, runs=runs, warmup=5)))
    return samples


def ratio(samples, a, b):
    """Median over rounds of a/b measured in the same round."""
    if a not in samples or b not in samples:
        return None
    return statistics.median(x / y for x, y in zip(samples[a], samples[b]))


def report(samples, threads):
    print(f"\nbatch-1 latency, median of per-round medians (threads={threads or 'default'})\n")
    print(f"{'artifact':32s} {'runtime':16s} {'ms':>9s}")
    for (path, backend), s in samples.items():
        print(f"{path.name:32s} {backend:16s} {1e3 * statistics.median(s):9.4f}")
    names = {p.name: p for p, _ in samples}
    print("\nratios measured within each round (median over rounds):")
    for backend in ("litert", "tflite-runtime"):
        fp32 = names.get("lenet5_float32.tflite")
        int8 = names.get("lenet5_int8.tflite")
        r = ratio(samples, (int8, backend), (fp32, backend)) if fp32 and int8 else None
        if r is not None:
            print(f"  int8 / fp32 latency under {backend:15s} {r:6.2f}x")
    for name, path in names.items():
        if path.suffix == ".tflite":
            r = ratio(samples, (path, "litert"), (path, "tflite-runtime"))
            if r is not None:
                print(f"  litert / tflite-runtime for {name:28s} {r:6.2f}x")


INTERPRETERS = {"litert": "ai_edge_litert.interpreter",
                "tflite-runtime": "tflite_runtime.interpreter"}


def delegate_probe(artifacts, rounds, runs, threads):
    """Latency of every .tflite with and without the default delegate, per interpreter."""
    import importlib

    interpreters = {}
    for runtime, module_name in INTERPRETERS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for path in sorted(artifacts.glob("*.tflite")):
            for resolver in ("AUTO", "BUILTIN_WITHOUT_DEFAULT_DELEGATES"):
                it = module.Interpreter(model_path=str(path), num_threads=threads,
                                        experimental_op_resolver_type=getattr(
                                            module.OpResolverType, resolver))
                it.allocate_tensors()
                detail = it.get_input_details()[0]
                it.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
                interpreters[(path.name, runtime, resolver)] = it
    samples = {key: [] for key in interpreters}
    for _ in range(rounds):
        for key, it in interpreters.items():
            for _ in range(10):
                it.invoke()
            start = time.perf_counter()
            for _ in range(runs):
                it.invoke()
            samples[key].append((time.perf_counter() - start) / runs)
    print(f"\nTFLite invoke() latency with and without the default (XNNPACK) delegate, "
          f"median of {rounds} interleaved rounds\n")
    print(f"{'artifact':28s} {'interpreter':15s} {'with XNNPACK ms':>16s} {'without ms':>11s} "
          f"{'with/without':>13s}")
    for (name, runtime, resolver), s in samples.items():
        if resolver != "AUTO":
            continue
        other = samples[(name, runtime, "BUILTIN_WITHOUT_DEFAULT_DELEGATES")]
        ratio = statistics.median(a / b for a, b in zip(s, other))
        print(f"{name:28s} {runtime:15s} {1e3 * statistics.median(s):16.4f} "
              f"{1e3 * statistics.median(other):11.4f} {ratio:13.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, help="folder of exported artifacts")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=200, help="calls per pair and round")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (0: default)")
    parser.add_argument("--delegates", action="store_true",
                        help="also time every .tflite with and without the default delegate")
    args = parser.parse_args(argv)
    _host.print_header(args.threads or None, torch=False)
    artifacts = args.artifacts
    if artifacts is None:
        out = Path(tempfile.mkdtemp()) / "demo"
        subprocess.run([sys.executable, "-m", "gluon_dl", "demo", "--quick", "--no-progress",
                        "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
        artifacts = out / "artifacts"
    samples = measure(discover(artifacts), args.rounds, args.runs, args.threads or None)
    report(samples, args.threads)
    if args.delegates:
        delegate_probe(artifacts, args.rounds, args.runs, args.threads or None)


if __name__ == "__main__":
    main()
