"""Where one training step's time goes: fit (MXNet) vs PyTorch, kernel by kernel.

For each model and thread count, two child processes per framework train
the same network on the same fixed batch as ``train_vs_pytorch.py`` (the
worker functions are that script's):

* a **kernel** run with oneDNN's verbose log on (``DNNL_VERBOSE``/``MKLDNN_VERBOSE``
  for MXNet 1.9.1's oneDNN 2.4.4, ``ONEDNN_VERBOSE`` for PyTorch's oneDNN 3):
  which implementation every primitive ran (``jit:avx512_core``, ``brg:...``,
  ``x64:gemm:jit``, ``ref``...), in which memory layout (``abcd`` = plain NCHW,
  ``aBcd16b`` = oneDNN's 16-channel blocks), how many reorders (layout
  conversions) a step runs and what they cost, and which share of the
  step's wall time oneDNN's primitives account for (the rest: operators
  outside oneDNN, the framework's own work between kernels);
* an **operator** run with the framework's profiler (``mx.profiler`` with
  aggregate statistics and bulk execution off, so that every operator is
  reported alone; ``torch.profiler``): time per operator, forward and
  backward, including what oneDNN does not run (optimizer updates, MXNet's
  NaN/Inf checks, PyTorch's own pooling and ReLU); before it, the calling
  thread's CPU time per step (``time.thread_time``): with MXNet, whose engine
  computes on threads of its own, that is the Python work of the step.

Times are medians over the profiled steps, per step; shares are taken within
one process, which keeps them readable on a busy host where absolute times
are not.  Then a side-by-side table lines up the convolutions and dense
layers (same problem descriptor in both logs) with the kernel each framework
picked.

Usage::

    .venv-bench/bin/python benchmarks/profile_step.py                      # both models, 1 and all threads
    .venv-bench/bin/python benchmarks/profile_step.py --model lenet5 --threads 1 --steps 5
    .venv-bench/bin/python benchmarks/profile_step.py --variant "channel padding to 16"

``--variant`` profiles fit with one of ``train_vs_pytorch.py``'s ``VARIANTS``
(a lever) instead of the default step.  Runs in the benchmark environment
(``make bench-env``), which has PyTorch; ``--frameworks mxnet`` runs in ``.venv``.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

import _host
import train_vs_pytorch as tvp

MARK = "=== profile_step"
VERBOSE_ENV = {"mxnet": {"DNNL_VERBOSE": "1", "MKLDNN_VERBOSE": "1"},
               "torch": {"ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1"}}


# ----------------------------------------------------------------- workers

def _build(spec):
    worker = tvp._torch_worker if spec["framework"] == "torch" else tvp._mxnet_worker
    run, *_ = worker(spec)
    return run


def kernel_worker(spec):
    """Train ``warmup`` steps, then ``steps`` steps each between two marker lines."""
    run = _build(spec)
    for _ in range(spec["warmup"]):
        run(1)
    for i in range(spec["steps"]):
        print(f"{MARK} begin {i}", flush=True)
        start = time.perf_counter()
        run(1)
        ms = 1e3 * (time.perf_counter() - start)
        print(f"{MARK} end {i} {ms:.6f}", flush=True)


def operator_worker(spec):
    """Wall and calling-thread CPU ms of each step without profiling, then the profiler's
    per-operator totals."""
    run = _build(spec)
    for _ in range(spec["warmup"]):
        run(1)
    walls, cpus = [], []
    for _ in range(spec["steps"]):
        start, cpu = time.perf_counter(), time.thread_time()
        run(1)
        cpus.append(1e3 * (time.thread_time() - cpu))
        walls.append(1e3 * (time.perf_counter() - start))
    ops = (_torch_operators if spec["framework"] == "torch" else _mxnet_operators)(run, spec)
    print("RESULT " + json.dumps({"walls": walls, "cpus": cpus, "ops": ops}), flush=True)


def _mxnet_operators(run, spec):
    """``{operator: ms per step}`` from MXNet's profiler (aggregate statistics)."""
    import tempfile

    import mxnet as mx

    with tempfile.TemporaryDirectory() as tmp:
        mx.profiler.set_config(profile_symbolic=True, profile_imperative=True,
                               profile_memory=False, profile_api=False,
                               aggregate_stats=True, filename=os.path.join(tmp, "trace.json"))
        mx.profiler.set_state("run")
        run(spec["steps"])
        mx.profiler.set_state("stop")
        stats = json.loads(mx.profiler.dumps(reset=True, format="json"))
    ops = stats.get("Time", {}).get("operator", {})
    return {name: v["Total"] / spec["steps"] for name, v in ops.items()}


def _torch_operators(run, spec):
    """``{operator: self CPU ms per step}`` from ``torch.profiler``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(spec["steps"])
    return {e.key: e.self_cpu_time_total / 1e3 / spec["steps"] for e in prof.key_averages()
            if e.self_cpu_time_total > 0}


# ----------------------------------------------------------------- parsing

def parse_verbose_line(line):
    """One executed primitive of a oneDNN 2.x or 3.x verbose log as a dict, else None."""
    fields = line.rstrip("\n").split(",")
    if not fields[0].endswith("_verbose") or "exec" not in fields[:5]:
        return None
    i = fields.index("exec")
    try:
        ms = float(fields[-1])
    except ValueError:
        return None
    prim, impl, prop, mds = fields[i + 2], fields[i + 3], fields[i + 4], fields[i + 5]
    layouts = []
    for md in mds.split():  # "src_f32::blocked:abcd:f0" (2.x), "src:f32::blocked:abcd::f0" (3.x)
        name = md.split(":")[0].split("_")[0]
        parts = md.split(":")
        tag = parts[parts.index("blocked") + 1] if "blocked" in parts else "-"
        if name in ("src", "dst", "wei", "data", "diff"):
            layouts.append(f"{name}:{tag}")
    return {"prim": prim, "impl": impl, "prop": prop, "layouts": " ".join(layouts),
            "problem": fields[-2], "ms": ms}


def parse_kernel_log(text):
    """Per-step primitive lists and wall times from a kernel worker's output."""
    steps, walls, current = [], [], None
    for line in text.splitlines():
        if line.startswith(MARK):
            words = line.split()
            if words[2] == "begin":
                current = []
            else:
                steps.append(current)
                walls.append(float(words[4]))
                current = None
        elif current is not None:
            rec = parse_verbose_line(line)
            if rec:
                current.append(rec)
    return steps, walls


def summarize(steps, walls):
    """Rows per distinct primitive (median ms per step) and the step's totals."""
    keys = ("prim", "impl", "prop", "layouts", "problem")
    per_step = [defaultdict(lambda: [0, 0.0]) for _ in steps]
    for agg, recs in zip(per_step, steps):
        for r in recs:
            cell = agg[tuple(r[k] for k in keys)]
            cell[0] += 1
            cell[1] += r["ms"]
    rows = []
    for key in {k for agg in per_step for k in agg}:
        ms = statistics.median(agg[key][1] if key in agg else 0.0 for agg in per_step)
        calls = statistics.median(agg[key][0] if key in agg else 0 for agg in per_step)
        rows.append(dict(zip(keys, key), calls=calls, ms=ms))
    rows.sort(key=lambda r: -r["ms"])
    onednn = [sum(r["ms"] for r in recs) for recs in steps]
    reorder = [sum(r["ms"] for r in recs if r["prim"] == "reorder") for recs in steps]
    reorders = [sum(r["prim"] == "reorder" for r in recs) for recs in steps]
    return rows, {
        "wall_ms": statistics.median(walls), "onednn_ms": statistics.median(onednn),
        "onednn_share": statistics.median(o / w for o, w in zip(onednn, walls)),
        "reorder_ms": statistics.median(reorder), "reorders": statistics.median(reorders),
        "reorder_share": statistics.median(r / o for r, o in zip(reorder, onednn) if o),
        "primitives": statistics.median(len(s) for s in steps)}


# ----------------------------------------------------------------- parent

def _child(spec, mode, extra_env):
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), **spec.get("env", {}),
           **extra_env}
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", mode,
                           json.dumps(spec)], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{spec['framework']} {mode} worker failed:\n{done.stderr[-3000:]}")
    return done.stdout


def kernels(spec):
    steps, walls = parse_kernel_log(_child(spec, "kernel", VERBOSE_ENV[spec["framework"]]))
    return summarize(steps, walls)


def operators(spec):
    # one profiler entry per operator, not per bulked segment of operators
    out = _child(spec, "operator", {"MXNET_EXEC_BULK_EXEC_TRAIN": "0"}
                 if spec["framework"] == "mxnet" else {})
    result = json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:])
    return statistics.median(result["walls"]), statistics.median(result["cpus"]), result["ops"]


def _short(text, width):
    return text if len(text) <= width else text[:width - 1] + "~"


def print_kernels(title, rows, totals, top):
    print(f"\n{title}: {totals['primitives']:.0f} oneDNN primitives per step, "
          f"{totals['onednn_ms']:.2f} ms of a {totals['wall_ms']:.2f} ms step "
          f"({100 * totals['onednn_share']:.0f}% in oneDNN); "
          f"{totals['reorders']:.0f} reorders, {totals['reorder_ms']:.3f} ms "
          f"({100 * totals['reorder_share']:.1f}% of oneDNN time)")
    print(f"  {'primitive':14s} {'prop':17s} {'implementation':20s} {'layouts':40s} "
          f"{'problem':44s} {'calls':>5s} {'ms':>7s} {'share':>6s}")
    for r in rows[:top]:
        share = r["ms"] / totals["onednn_ms"] if totals["onednn_ms"] else 0.0
        print(f"  {r['prim']:14s} {r['prop']:17s} {_short(r['impl'], 20):20s} "
              f"{_short(r['layouts'], 40):40s} {_short(r['problem'], 44):44s} "
              f"{r['calls']:5.0f} {r['ms']:7.3f} {100 * share:5.1f}%")
    if len(rows) > top:
        rest = sum(r["ms"] for r in rows[top:])
        print(f"  ... {len(rows) - top} more primitives, {rest:.3f} ms")


def print_operators(title, wall, ops, top, cpu=None, framework="mxnet"):
    total = sum(ops.values())
    print(f"\n{title}: step {wall:.2f} ms without the profiler; profiled operators "
          f"{total:.2f} ms per step")
    if cpu is not None:
        # MXNet computes on its engine's threads, so the Python thread's CPU time is the
        # framework's and the script's own work; PyTorch computes on the calling thread too
        what = ("Python and operator launches, the engine's threads compute"
                if framework == "mxnet" else "PyTorch computes on this thread too")
        print(f"  calling thread's CPU: {cpu:.2f} ms per step ({what})")
    print(f"  {'operator':44s} {'ms/step':>8s} {'share':>6s}")
    for name, ms in sorted(ops.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {_short(name, 44):44s} {ms:8.3f} {100 * ms / total:5.1f}%")


def print_side_by_side(mx_rows, torch_rows):
    """Convolutions and dense layers found in both logs, with each side's kernel."""
    def index(rows):
        out = defaultdict(lambda: ["-", 0.0])
        for r in rows:
            if r["prim"] in ("convolution", "inner_product"):
                cell = out[(r["prim"], r["problem"], r["prop"])]
                cell[0] = r["impl"] if cell[0] == "-" else cell[0]
                cell[1] += r["ms"]
        return out
    mx_i, t_i = index(mx_rows), index(torch_rows)
    keys = sorted(set(mx_i) | set(t_i), key=lambda k: -(mx_i[k][1] if k in mx_i else 0))
    print("\n  layer by layer (same oneDNN problem in both logs; ms per step):")
    print(f"  {'problem':46s} {'prop':16s} {'MXNet kernel':20s} {'ms':>7s} "
          f"{'PyTorch kernel':20s} {'ms':>7s}")
    for k in keys:
        m, t = mx_i.get(k, ["-", 0.0]), t_i.get(k, ["-", 0.0])
        print(f"  {_short(k[1], 46):46s} {k[2]:16s} {_short(m[0], 20):20s} {m[1]:7.3f} "
              f"{_short(t[0], 20):20s} {t[1]:7.3f}")


def profile(model, threads, args):
    shape = tvp._input_shape(model)
    variant = tvp.VARIANTS[args.variant] if args.variant else {}
    print(f"\n=== {model}, batch {args.batch}, {threads} thread(s), {args.steps} profiled "
          f"steps after {args.warmup} warm-up" + (f"; fit with {args.variant!r}"
                                                   if args.variant else ""))
    found = {}
    for fw in args.frameworks:
        spec = tvp._spec(fw, model, args.batch, threads, shape,
                         variant if fw == "mxnet" else None)
        spec.update(steps=args.steps, warmup=args.warmup)
        rows, totals = kernels(spec)
        found[fw] = rows
        label = "MXNet fit" if fw == "mxnet" else "PyTorch"
        print_kernels(f"{label} kernels", rows, totals, args.top)
        if not args.kernels_only:
            wall, cpu, ops = operators(spec)
            print_operators(f"{label} operators", wall, ops, args.top, cpu, fw)
    if len(found) == 2:
        print_side_by_side(found["mxnet"], found["torch"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--model", nargs="+", default=list(tvp.DEFAULT_MODELS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", nargs="+", type=int,
                        default=sorted({1, os.cpu_count() or 1}))
    parser.add_argument("--steps", type=int, default=10, help="profiled steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--frameworks", nargs="+", default=["mxnet", "torch"],
                        choices=["mxnet", "torch"])
    parser.add_argument("--variant", choices=sorted(tvp.VARIANTS),
                        help="profile fit with this train_vs_pytorch.py setting")
    parser.add_argument("--kernels-only", action="store_true",
                        help="skip the profiler runs (oneDNN's verbose log only)")
    parser.add_argument("--peak-n", type=int, default=2048,
                        help="matrix size of the header's sgemm peak (0: skip)")
    args = parser.parse_args(argv)
    if args.worker:
        mode, spec = args.worker
        return (kernel_worker if mode == "kernel" else operator_worker)(json.loads(spec))
    _host.print_header(max(args.threads), args.peak_n, torch="torch" in args.frameworks)
    for model in tvp._models(args.model):
        for threads in args.threads:
            profile(model, threads, args)


if __name__ == "__main__":
    main()
