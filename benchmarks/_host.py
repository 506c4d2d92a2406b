"""The host a benchmark ran on, printed above its figures.

Ratios measured on different CPUs are not comparable (oneDNN picks other
kernels with or without AVX-512, and MXNet 1.9.1's oneDNN 2.4.4 is not
PyTorch's), so every script in ``benchmarks/`` starts its output with
:func:`print_header`: the CPU model, the flags that decide oneDNN's kernels,
cores and threads, the oneDNN version each framework runs, and the fp32 peak
this host reaches in a large single-precision matrix product right now.

The versions and the peak are measured in child processes: oneDNN reads its
verbose switch once, at its first primitive, and MXNet and PyTorch each bring
an OpenMP runtime that should not share the benchmark's process.
"""
import json
import os
import re
import subprocess
import sys

# The flags that decide which oneDNN kernels run (ISA, bfloat16, int8, AMX).
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
         "amx_tile", "amx_bf16", "amx_int8")

_ONEDNN_PROBE = r"""
import mxnet as mx
x = mx.nd.ones((1, 1, 4, 4))
w = mx.nd.ones((1, 1, 1, 1))
mx.nd.Convolution(x, w, kernel=(1, 1), num_filter=1, no_bias=True).wait_to_read()
"""

_TORCH_PROBE = r"""
import re, torch
m = re.search(r"(?:MKL-DNN|oneDNN) v([0-9.]+)", torch.__config__.show())
print("VERSION", torch.__version__, m.group(1) if m else "none")
"""

# Each method prints its best GFLOP/s over ``repeats`` products of ``n x n``
# float32 matrices (2 n^3 FLOPs each), after one warm-up product.
_PEAK_PROBE = r"""
import json, sys, time
import numpy as np
n, repeats, method = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.RandomState(0)
a = rng.rand(n, n).astype("float32")
b = rng.rand(n, n).astype("float32")
if method == "numpy":
    run = lambda: np.dot(a, b)
else:
    import mxnet as mx
    A, B = mx.nd.array(a), mx.nd.array(b)
    if method == "mxnet dot":
        run = lambda: mx.nd.dot(A, B).wait_to_read()
    else:  # FullyConnected: oneDNN's inner product, what MXNet's dense layers run
        run = lambda: mx.nd.FullyConnected(A, B, no_bias=True, num_hidden=n).wait_to_read()
run()
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    run()
    best = min(best, time.perf_counter() - start)
print("GFLOPS", json.dumps(2 * n ** 3 / best / 1e9))
"""

PEAK_METHODS = ("numpy", "mxnet dot", "mxnet FullyConnected")


def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_model(text=None):
    """``"AMD EPYC (family 25, model 17)"``: the model name, with family and model numbers."""
    text = _cpuinfo() if text is None else text
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or __import__("platform").processor() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        return f"{name} (family {fields['cpu family']}, model {fields['model']})"
    return name


def cpu_flags(text=None):
    """The CPU's feature flags, as Linux reports them (empty elsewhere)."""
    text = _cpuinfo() if text is None else text
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def topology(text=None):
    """``(logical CPUs, physical cores, threads per core)`` from /proc/cpuinfo."""
    text = _cpuinfo() if text is None else text
    cores, logical = set(), 0
    physical, core = "0", None
    for line in text.splitlines() + [""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "processor":
            logical += 1
        elif key == "physical id":
            physical = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not line.strip() and core is not None:
            cores.add((physical, core))
            core = None
    logical = logical or os.cpu_count() or 1
    physical_cores = len(cores) or logical
    return logical, physical_cores, max(1, logical // physical_cores)


def _child(code, *args, env=None, timeout=300):
    """Stdout and stderr of ``python -c code args`` (empty text if it failed to start)."""
    try:
        done = subprocess.run([sys.executable, "-c", code, *map(str, args)],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def mxnet_onednn():
    """MXNet's version and the oneDNN version it runs (from oneDNN's verbose banner)."""
    out = _child("import mxnet; print('VERSION', mxnet.__version__)\n" + _ONEDNN_PROBE,
                 env={"DNNL_VERBOSE": "1", "MKLDNN_VERBOSE": "1", "OMP_NUM_THREADS": "1"})
    version = re.search(r"VERSION (\S+)", out)
    onednn = re.search(r"(?:oneDNN|DNNL|MKL-DNN) v([0-9.]+)", out)
    isa = re.search(r"isa:(.+)", out)
    if not version:
        return None
    return {"version": version.group(1), "onednn": onednn.group(1) if onednn else "none",
            "isa": isa.group(1).strip() if isa else "?"}


def torch_onednn():
    """PyTorch's version and its oneDNN version (``torch.__config__.show()``), or None."""
    match = re.search(r"VERSION (\S+) (\S+)", _child(_TORCH_PROBE))
    return {"version": match.group(1), "onednn": match.group(2)} if match else None


def sgemm_peak(threads, n=2048, repeats=3, methods=PEAK_METHODS):
    """Best fp32 GFLOP/s of an ``n``-square matrix product per method, with ``threads`` threads.

    Each method runs in its own child process with ``OMP_NUM_THREADS`` (and
    OpenBLAS's and MKL's thread settings) at ``threads``; a method that cannot
    run here (MXNet not installed) is left out.
    """
    env = {k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS")}
    found = {}
    for method in methods:
        match = re.search(r"GFLOPS (\S+)", _child(_PEAK_PROBE, n, repeats, method, env=env))
        if match:
            found[method] = json.loads(match.group(1))
    return found


def describe(threads=None, peak_n=2048, torch=True):
    """Everything :func:`print_header` prints, as a dict (``peak_gflops``: the best method)."""
    text = _cpuinfo()
    flags = cpu_flags(text)
    logical, cores, per_core = topology(text)
    threads = threads or logical
    peaks = sgemm_peak(threads, peak_n) if peak_n else {}
    return {"cpu": cpu_model(text), "flags": [f for f in FLAGS if f in flags],
            "missing_flags": [f for f in FLAGS if f not in flags],
            "logical_cpus": logical, "cores": cores, "threads_per_core": per_core,
            "threads": threads, "mxnet": mxnet_onednn(),
            "torch": torch_onednn() if torch else None,
            "peak_n": peak_n, "peaks": peaks,
            "peak_gflops": max(peaks.values()) if peaks else None}


def print_header(threads=None, peak_n=2048, torch=True):
    """Print the host block every benchmark starts with; return :func:`describe`'s dict.

    ``threads`` is the thread count the benchmark runs with (the peak is
    measured with as many); ``peak_n=0`` skips the matrix products, and
    ``torch=False`` the PyTorch probe (scripts that never run PyTorch).
    """
    host = describe(threads, peak_n, torch)
    mx_info, torch_info = host["mxnet"], host["torch"]
    print(f"host: {host['cpu']}; {host['logical_cpus']} logical CPUs = {host['cores']} cores x "
          f"{host['threads_per_core']} thread(s); benchmark threads: {host['threads']}")
    print(f"  flags: {' '.join(host['flags']) or 'none of ' + ', '.join(FLAGS)}"
          + (f"; absent: {' '.join(host['missing_flags'])}" if host["missing_flags"] else ""))
    print("  MXNet " + (f"{mx_info['version']} with oneDNN {mx_info['onednn']} "
                        f"(isa: {mx_info['isa']})" if mx_info else "not installed"))
    if torch:
        print("  PyTorch " + (f"{torch_info['version']} with oneDNN {torch_info['onednn']}"
                              if torch_info else "not installed"))
    if host["peaks"]:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in host["peaks"].items())
        print(f"  fp32 peak measured now ({host['peak_n']}-square sgemm, best of 3, "
              f"{host['threads']} threads): {host['peak_gflops']:.1f} GFLOP/s ({parts})")
    print(flush=True)
    return host
