"""Batch-1 latency of exported artifacts in every installed runtime.

Measures each (artifact, runtime) pair in interleaved rounds, so that the
host drifting between fast and slow states (~40% here) hits every pair
alike, and prints medians plus ratios computed inside each round:

* int8 / fp32 per TFLite interpreter (what quantization buys in each);
* ai-edge-litert / tflite-runtime per artifact (what the interpreter buys).

Usage::

    python benchmarks/edge_runtimes.py                 # runs `gluon-dl demo --quick` first
    python benchmarks/edge_runtimes.py --artifacts gluon_dl_demo/artifacts
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, help="folder of exported artifacts")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=200, help="calls per pair and round")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (0: default)")
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


if __name__ == "__main__":
    main()
