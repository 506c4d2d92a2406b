"""Early stopping: stop when validation loss stops improving, and keep the best weights.

An MLP (get_model("mlp")) trained on only 300 digits overfits: its training loss keeps
falling while the loss on held-out validation digits turns back up.  EarlyStopping
watches val_loss, stops after `patience` epochs without improvement and restores the
best epoch's weights; ModelCheckpoint writes that epoch to best.ckpt, which a fresh
network loads.  Data: mnist-5k (train split cut into train and validation, the test split
reported); --data-root DIR reads the official MNIST.
Quick run: python examples/30_early_stopping.py --quick --out /tmp/early

Lesson: 30. Early stopping and checkpoints
"""
import functools
import tempfile
from pathlib import Path

import numpy as np

from gluon_dl import fit, get_model, plot_history
from gluon_dl.data import ArrayLoader, to_model_input, train_test_split
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import (EarlyStopping, ModelCheckpoint, evaluate_accuracy,
                               load_checkpoint, validate)


def main():
    lesson = Lesson(__doc__)
    net = get_model("mlp")
    lesson.note("model", "mlp")
    X, y, X_te, y_te = lesson.image_data(official="mnist", default="mnist-5k")
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, 1000, seed=lesson.args.seed)
    n = lesson.pick(full=600, quick=300, smoke=100)  # few samples: the MLP overfits them
    prep = functools.partial(to_model_input, config=net.config)
    train = ArrayLoader(X_tr[:n], y_tr[:n], 32, shuffle=True, seed=lesson.args.seed,
                        transform=prep)
    val, test = (ArrayLoader(a, b, 500, transform=prep) for a, b in ((X_val, y_val),
                                                                     (X_te, y_te)))
    max_epochs = lesson.pick(full=200, quick=80, smoke=2)
    stopper = EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    with tempfile.TemporaryDirectory() as tmp:
        saver = ModelCheckpoint(Path(tmp), monitor="val_loss", keep_last=1)
        history = fit(net, train, max_epochs, val_iter=val, callbacks=[stopper, saver],
                      lr=1e-3, progress=False)
        fresh = get_model("mlp")  # a new network, weights from the best epoch's checkpoint
        best_epoch = load_checkpoint(Path(tmp) / "best.ckpt", fresh)["epoch"]
    losses = history.history["val_loss"]
    ran = len(losses)
    lesson.check("epochs trained (of the cap)", ran, below=max_epochs)
    lesson.note("best epoch", f"{best_epoch + 1} (val_loss {min(losses):.4f}, "
                              f"last epoch {losses[-1]:.4f})")
    restored = validate(net, val)["val_loss"]
    lesson.check("val_loss after restoring, minus the best", abs(restored - min(losses)),
                 below=1e-4)
    acc, acc_ckpt = evaluate_accuracy(net, test), evaluate_accuracy(fresh, test)
    lesson.check("test accuracy (best weights)", acc, above=0.6)
    lesson.check("test accuracy, checkpoint minus restored", abs(acc_ckpt - acc), below=1e-9)
    fig = plot_history(history, title=f"early stopping: stopped after {ran} of {max_epochs} "
                                      f"epochs")
    for ax in fig.axes[:2]:
        ax.axvline(int(np.argmin(losses)) + 1, color="gray", ls=":", label="best epoch")
    lesson.save_plot(fig, "early_stopping.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
