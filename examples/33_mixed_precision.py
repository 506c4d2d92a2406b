"""Mixed precision: train in bfloat16 on the CPU and match float32's accuracy.

fit(..., amp="bfloat16") runs convolutions and dense layers in bfloat16 (float32's
exponent range with 8 bits of mantissa), keeps softmax, norms and the loss in float32
and updates float32 master weights (gluon_dl.training.amp); on GPUs the same argument is
amp="float16".  oneDNN has bfloat16 kernels only on CPUs with AVX-512: elsewhere the
lesson says so and trains float32 alone.  get_model("lenet5") on mnist-5k;
--data-root DIR reads the official MNIST.
Quick run: python examples/33_mixed_precision.py --quick --out /tmp/amp

Lesson: 33. Mixed precision training
"""
import functools
import time

from matplotlib.figure import Figure

from gluon_dl import fit, get_model
from gluon_dl.data import ArrayLoader, to_model_input
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import evaluate_accuracy
from gluon_dl.training.amp import bf16_supported, cpu_flags


def train(lesson, data, amp):
    """LeNet-5 trained with ``amp`` (None: float32); returns history, test accuracy, seconds."""
    X_tr, y_tr, X_te, y_te = data
    net = get_model("lenet5")
    prep = functools.partial(to_model_input, config=net.config)
    start = time.perf_counter()
    history = fit(net, ArrayLoader(X_tr, y_tr, 64, shuffle=True, seed=lesson.args.seed,
                                   transform=prep),
                  lesson.pick(full=10, quick=3, smoke=1), lr=2e-3, amp=amp, progress=False)
    seconds = time.perf_counter() - start
    return history, evaluate_accuracy(net, ArrayLoader(X_te, y_te, 250, transform=prep)), seconds


def loss_plot(runs):
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    for name, (history, acc, _) in runs.items():
        losses = history.history["loss"]
        ax.plot(range(1, len(losses) + 1), losses, "o-", label=f"{name} (test acc {acc:.3f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def main():
    lesson = Lesson(__doc__)
    lesson.note("model", "lenet5")
    X_tr, y_tr, X_te, y_te = lesson.image_data(official="mnist", default="mnist-5k")
    n = lesson.pick(full=len(X_tr), quick=len(X_tr), smoke=512)
    data = (X_tr[:n], y_tr[:n], X_te, y_te)
    # float32 first: MXNet's AMP patches its operators for the rest of the process
    runs = {"float32": train(lesson, data, None)}
    if bf16_supported():
        runs["bfloat16"] = train(lesson, data, "bfloat16")
    else:
        avx = ", ".join(sorted(f for f in cpu_flags() if f.startswith("avx"))) or "no AVX"
        lesson.note("bfloat16", f"skipped: this CPU reports {avx}, without the AVX-512 that "
                                f"oneDNN's bfloat16 kernels need; float32 only")
    precision = "bfloat16" if "bfloat16" in runs else "float32"
    lesson.check("test accuracy", runs[precision][1], above=0.9)
    lesson.note("precision checked", precision)
    if "bfloat16" in runs:
        lesson.check("accuracy gap, float32 minus bfloat16",
                     runs["float32"][1] - runs["bfloat16"][1], below=0.03)
    for name, (_, acc, seconds) in runs.items():
        lesson.note(f"{name} run", f"accuracy {acc:.4f}, {seconds:.1f} s training")
    lesson.save_plot(loss_plot(runs), "precision.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
