"""Peak memory and time of exporting a network, per format: how much RAM an export needs.

Each (model, format) is exported in a fresh child process (the export
matrix's network, ``deploy.matrix.prepare_row``), so one export's
heap does not carry into the next. As in the matrix, the artifacts are not
verified here (the matrix judges them with relative tolerances; verifying
runs each file once, which needs far less memory than converting it). The table gives the child's peak resident set (the kernel's
``ru_maxrss``), its wall time and the peak as a multiple of the network's
float32 weights. ``tflite`` writes float32 and float16 (``--int8`` adds the
calibrated int8 file).

Usage::

    python benchmarks/export_memory.py                               # lenet5, cifar_resnet20_v1
    python benchmarks/export_memory.py --models vgg16 --formats tflite   # ~5 min, ~14 GB
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time

import _host

_CHILD = r"""
import json, resource, sys, tempfile
from deploy.export import export_all
from deploy.matrix import prepare_row
name, fmt, int8 = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
net, config, _, calib = prepare_row(name)
precisions = ("float32", "float16", "int8") if int8 else ("float32", "float16")
with tempfile.TemporaryDirectory() as out:
    written = export_all(net, out, formats=[fmt], precisions=precisions,
                         calib_data=calib if int8 else None, verify=False)
weights = sum(p.data().size * 4 for p in net.collect_params().values())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # this process's own peak
print("RESULT", json.dumps({"weights": weights, "peak": peak,
                            "precisions": [p for _, p, _ in written]}))
"""


def export_in_child(model, fmt, int8, timeout):
    """``(peak RSS bytes, wall s, weight bytes, precisions)`` of one export in a fresh process.

    The peak is the child's own (``RUSAGE_SELF``, read by the child as it ends);
    the int8 allocation check's short-lived grandchild is not in it.
    """
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, model, fmt, "1" if int8 else "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"{model} {fmt}: no result in {timeout} s") from None
    wall = time.perf_counter() - start
    result = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not result:
        tail = (err.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{model} {fmt}: exit {proc.returncode}: {tail}")
    data = json.loads(result[-1][len("RESULT "):])
    return data["peak"], wall, data["weights"], data["precisions"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet5", "cifar_resnet20_v1"])
    parser.add_argument("--formats", nargs="+", default=["onnx", "tflite"])
    parser.add_argument("--int8", action="store_true", help="also the calibrated TFLite int8 file")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per export")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from deploy.export import list_formats
    from gluon_dl.models import list_models
    unknown = [m for m in args.models if m not in list_models()]
    unknown += [f for f in args.formats if f not in list_formats()]
    if unknown:
        raise SystemExit(f"unknown model(s) or format(s) {unknown}; see "
                         f"gluon_dl.models.list_models() and deploy.export.list_formats()")
    _host.print_header(peak_n=0, torch=False)
    rows = []
    for model in args.models:
        for fmt in args.formats:
            print(f"exporting {model} to {fmt} ...", flush=True)
            try:
                peak, wall, weights, precisions = export_in_child(model, fmt, args.int8, args.timeout)
            except RuntimeError as exc:
                rows.append((model, fmt, "-", "-", "-", "-", str(exc)))
                continue
            rows.append((model, fmt, f"{weights / 2**20:.1f} MiB", f"{peak / 2**30:.2f} GiB",
                         f"{peak / weights:.0f}x", f"{wall:.0f} s",
                         ", ".join(precisions)))
    heads = ("model", "format", "fp32 weights", "peak RSS", "peak / weights", "wall",
             "precisions")
    print("\n| " + " | ".join(heads) + " |\n|" + "---|" * len(heads))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
