"""Temporal convolutional networks: dilated causal convolutions solve the adding problem.

get_model("tcn") stacks residual blocks of causal convolutions dilated by 1, 2, 4, 8, 16,
so its last output sees 125 steps without any recurrence.  The adding problem
(gluon_dl.data.adding_problem) hides two marked numbers in a sequence of 64; the target
is their sum.  Always answering 1 scores an MSE of 1/6 (0.167): beating it needs both
marked values, wherever they are.  Synthetic data, offline.
Quick run: python examples/29_tcn.py --quick --out /tmp/tcn

Lesson: 29. Temporal convolutional networks
"""
import numpy as np

from gluon_dl import fit, get_model, plot_history
from gluon_dl.data import ArrayLoader, adding_problem
from gluon_dl.lesson import Lesson, run
from gluon_dl.models import list_models

T = 64


def last_step_squared_error(out, y):
    """The prediction is the output at the last step, which has seen the whole sequence."""
    return (out.slice_axis(axis=2, begin=T - 1, end=T).reshape((-1,)) - y).square()


def main():
    lesson = Lesson(__doc__, arguments=lambda p: p.add_argument(
        "--model", default="tcn", choices=list_models("*tcn")))
    net = get_model(lesson.args.model)
    lesson.note("model", lesson.args.model)
    lesson.note("receptive field (steps)", net.receptive_field)
    seed = lesson.args.seed
    X, y = adding_problem(lesson.pick(full=50000, quick=6000, smoke=256), T=T, seed=seed)
    lesson.note("data", f"adding problem, {len(X)} sequences of {T} steps (synthetic)")
    X_te, y_te = adding_problem(lesson.pick(full=5000, quick=1000, smoke=128), T=T,
                                seed=seed + 1)
    history = fit(net, ArrayLoader(X, y, 64, shuffle=True, seed=seed),
                  lesson.pick(full=30, quick=6, smoke=1), loss=last_step_squared_error,
                  lr=2e-3, val_iter=ArrayLoader(X_te, y_te, 500), progress=False)
    lesson.save_plot(plot_history(history, title="squared error of the sum"), "mse.png")
    baseline = float(np.mean((1.0 - y_te) ** 2))
    lesson.note("MSE of always answering 1", f"{baseline:.3f}")
    lesson.check("test MSE", history.history["val_loss"][-1], below=0.2 * baseline)
    lesson.finish()


if __name__ == "__main__":
    run(main)
