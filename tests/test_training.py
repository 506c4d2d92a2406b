import functools

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.data import ArrayLoader, to_model_input  # noqa: E402
from gluon_dl.errors import GluonDLError  # noqa: E402
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.training import Callback, evaluate_accuracy, fit, predict  # noqa: E402


def test_trained_lenet_beats_chance_by_far(trained_lenet):
    net, X_te, y_te, _ = trained_lenet
    acc = evaluate_accuracy(net, ArrayLoader(X_te, y_te, 250))
    assert acc > 0.93
    out = predict(net, ArrayLoader(X_te[:10], y_te[:10], 4))
    assert out.shape == (10, 10)


def test_fit_lowers_the_loss_and_records_history(mnist_split):
    mx.random.seed(1)
    X_tr, X_te, y_tr, y_te = mnist_split
    net = get_model("lenet5")
    tf = functools.partial(to_model_input, config=net.config)
    history = fit(net, ArrayLoader(X_tr[:1024], y_tr[:1024], 64, shuffle=True, transform=tf), 3,
                  lr=2e-3, val_iter=ArrayLoader(X_te[:200], y_te[:200], 100, transform=tf),
                  progress=False)
    h = history.history
    assert len(h["loss"]) == 3 and h["loss"][-1] < 0.5 * h["loss"][0]
    assert 0.0 <= h["val_acc"][-1] <= 1.0 and h["acc"][-1] > h["acc"][0]


class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.events, self.stop_at = [], stop_at

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")
        assert self.net is not None and self.trainer is not None

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin{epoch}")

    def on_batch_end(self, batch, logs=None):
        self.events.append(f"batch{batch}")
        assert np.isfinite(logs["loss"])
        if self.stop_at is not None and self.state.global_step == self.stop_at:
            self.state.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end{epoch}")

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def _tiny_loader(n=12, batch=4):
    rng = np.random.RandomState(0)
    return ArrayLoader(rng.randn(n, 1, 28, 28).astype(np.float32), rng.randint(0, 10, n), batch)


def test_callback_hooks_run_in_order():
    rec = Recorder()
    fit(get_model("lenet5"), _tiny_loader(), 2, callbacks=[rec], progress=False)
    assert rec.events == ["train_begin", "epoch_begin0", "batch0", "batch1", "batch2",
                          "epoch_end0", "epoch_begin1", "batch0", "batch1", "batch2",
                          "epoch_end1", "train_end"]


def test_callback_can_stop_training():
    rec = Recorder(stop_at=2)
    fit(get_model("lenet5"), _tiny_loader(), 5, callbacks=[rec], progress=False)
    assert rec.events[-3:] == ["batch1", "epoch_end0", "train_end"]


def test_nan_loss_stops_with_the_step_named():
    def exploding_loss(out, y):
        return (out * float("inf")).mean(axis=1) - (out * float("inf")).mean(axis=1)

    with pytest.raises(GluonDLError, match=r"loss became nan at epoch 1, batch 0 \(global step 1\)"):
        fit(get_model("lenet5"), _tiny_loader(), 1, loss=exploding_loss, progress=False)
