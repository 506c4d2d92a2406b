"""Hyperparameter search: choose the learning rate and width on validation data.

gluon_dl.grid_search trains an MLP (get_model("mlp", hidden_units=...)) once per
combination of a grid; gluon_dl.random_search draws as many trials from ranges (the
learning rate on a log scale), which tries a new value of every parameter each time.
Both rank the trials by validation accuracy (format_table prints them); the winner is
retrained on training + validation data and scored once on the test split.
Data: mnist-5k; --data-root DIR reads the official MNIST.
Quick run: python examples/31_hyperparameter_search.py --quick --out /tmp/search

Lesson: 31. Hyperparameter search
"""
import functools

import numpy as np
from matplotlib.figure import Figure

from gluon_dl import fit, format_table, get_model, grid_search, random_search
from gluon_dl.data import ArrayLoader, to_model_input, train_test_split
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import evaluate_accuracy
from gluon_dl.utils.io import atomic_write_text


def trials_plot(searches):
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for (name, results), marker in zip(searches.items(), "os"):
        lrs = [r["params"]["lr"] for r in results]
        ax.scatter(lrs, [r["score"] for r in results], marker=marker, label=name,
                   c=[np.log2(r["params"]["hidden"]) for r in results], cmap="viridis")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (colour: log2 hidden width)")
    ax.set_ylabel("validation accuracy")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def main():
    lesson = Lesson(__doc__)
    lesson.note("model", "mlp")
    X, y, X_te, y_te = lesson.image_data(official="mnist", default="mnist-5k")
    n = lesson.pick(full=len(X), quick=2000, smoke=300)
    X, y = X[:n], y[:n]
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, 0.25, seed=lesson.args.seed)
    prep = functools.partial(to_model_input, config=get_model("mlp").config)
    epochs = lesson.pick(full=10, quick=3, smoke=1)

    def train(lr, hidden, X, y):
        net = get_model("mlp", hidden_units=(hidden, hidden))
        history = fit(net, ArrayLoader(X, y, 64, shuffle=True, seed=lesson.args.seed,
                                       transform=prep), epochs, lr=lr,
                      val_iter=ArrayLoader(X_val, y_val, 500, transform=prep), progress=False)
        return net, history

    def trial(**params):  # what the searches call: train on the training part only
        return train(**params, X=X_tr, y=y_tr)[1]

    grid = grid_search(trial, {"lr": [1e-4, 1e-3, 1e-2, 1e-1][:lesson.pick(4, 3, 2)],
                               "hidden": [32, 256]}, metric="val_acc")
    rand = random_search(trial, {"lr": (1e-4, 1e-1), "hidden": [32, 64, 128, 256]},
                         num_trials=lesson.pick(full=12, quick=6, smoke=2),
                         seed=lesson.args.seed, log=["lr"], metric="val_acc")
    text = f"grid search\n{format_table(grid)}\n\nrandom search\n{format_table(rand)}\n"
    print(text)
    atomic_write_text(lesson.path("search.txt"), text)
    lesson.save_plot(trials_plot({"grid": grid, "random": rand}), "trials.png")

    best = max(grid[0], rand[0], key=lambda r: r["score"])
    lesson.note("best setting", f"{best['params']} (validation accuracy {best['score']:.3f})")
    final, _ = train(**best["params"], X=X, y=y)  # training + validation data
    lesson.check("test accuracy of the chosen setting",
                 evaluate_accuracy(final, ArrayLoader(X_te, y_te, 500, transform=prep)),
                 above=0.85)
    spread = max(r["score"] for r in grid + rand) - min(r["score"] for r in grid + rand)
    lesson.check("validation accuracy, best trial minus worst", spread, above=0.1)
    lesson.finish()


if __name__ == "__main__":
    run(main)
