"""fit's overlap of batches: the next batch's forward and backward are queued before the
previous batch is finished. Same training, callbacks in the same order seeing the same
weights and gradients, errors raised after the batch before has ended."""
import os

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import gluon  # noqa: E402

from gluon_dl.data import ArrayLoader  # noqa: E402
from gluon_dl.errors import ArgumentError, NonFiniteError  # noqa: E402
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.training import Callback, fit  # noqa: E402
from gluon_dl.training import loop  # noqa: E402
from gluon_dl.training.callbacks import (CallbackList, GradientClipping,  # noqa: E402
                                         ModelCheckpoint, ProgressBar, overlap_safe)

BATCH, BATCHES = 8, 5


def _data(nan_batch=None):
    rng = np.random.RandomState(0)
    X = rng.rand(BATCH * BATCHES, 1, 28, 28).astype(np.float32)
    y = rng.randint(0, 10, BATCH * BATCHES)
    if nan_batch is not None:
        X[nan_batch * BATCH + 3, 0, 5, 5] = np.nan
    return ArrayLoader(X, y, BATCH)


def _lenet():
    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    return net


def _plain_mlp():
    """A Block that is not hybridizable: fit calls network and loss separately."""
    class MLP(gluon.Block):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = gluon.nn.Dense(32, activation="relu"), gluon.nn.Dense(10)

        def forward(self, x):
            return self.out(self.hidden(x.reshape((x.shape[0], -1))))

    mx.random.seed(0)
    net = MLP()
    net.initialize(mx.init.Xavier())
    return net


NETS = {"fused graph (lenet5)": _lenet, "separate calls (plain Block)": _plain_mlp}


def _weights(net):
    return {k: p.data().asnumpy().copy() for k, p in net._collect_params_with_prefix().items()}


class Watcher(Callback):
    """Records every batch hook, the weights at each batch's end and the gradients
    before each update."""

    overlap_safe = True

    def __init__(self, stop_after=None):
        self.events, self.weights, self.grads, self.stop_after = [], [], [], stop_after

    def on_batch_begin(self, batch, logs=None):
        self.events.append(("begin", batch, self.state.global_step))

    def on_backward_end(self, batch):
        self.events.append(("backward", batch, self.state.global_step))
        self.grads.append({k: p.grad().asnumpy().copy()
                           for k, p in self.net._collect_params_with_prefix().items()
                           if p.grad_req != "null"})

    def on_batch_end(self, batch, logs=None):
        self.events.append(("end", batch, self.state.global_step, round(logs["loss"], 6)))
        self.weights.append(_weights(self.net))
        if self.stop_after is not None and self.state.global_step == self.stop_after:
            self.state.stop_training = True


def _train(make, overlap, callbacks=(), epochs=2, data=None):
    net = make()
    history = fit(net, data or _data(), epochs, optimizer="sgd",
                  optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
                  callbacks=list(callbacks), progress=False, seed=3, overlap=overlap)
    return net, history


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("kind", NETS)
def test_overlap_trains_exactly_as_without(kind):
    """Weights, losses and every callback's view of the run are those of the plain loop."""
    runs = {}
    for overlap in (False, True):
        watcher = Watcher()
        net, history = _train(NETS[kind], overlap, [watcher])
        runs[overlap] = net, history, watcher
    (net0, h0, w0), (net1, h1, w1) = runs[False], runs[True]
    _assert_same_weights(_weights(net0), _weights(net1))
    assert h0.history == h1.history
    assert w0.events == w1.events and len(w1.events) == 3 * 2 * BATCHES
    for a, b in zip(w0.weights + w0.grads, w1.weights + w1.grads):
        _assert_same_weights(a, b)


@pytest.mark.parametrize("kind", NETS)
def test_stop_at_a_batch_end_leaves_the_next_batch_unapplied(kind):
    runs = {}
    for overlap in (False, True):
        watcher = Watcher(stop_after=3)
        net, history = _train(NETS[kind], overlap, [watcher])
        runs[overlap] = _weights(net), watcher.events
    _assert_same_weights(runs[False][0], runs[True][0])
    assert runs[False][1] == runs[True][1]
    assert runs[True][1][-1][:3] == ("end", 2, 3)


class Masker(Callback):
    """Zeroes one weight after every batch, as a pruner applies its masks (not marked safe)."""

    def on_batch_end(self, batch, logs=None):
        w = self.net.output.weight.data()
        w[0] = 0


def test_a_callback_that_writes_weights_turns_the_automatic_overlap_off():
    assert not overlap_safe(CallbackList([Masker()]))
    auto, _ = _train(_lenet, None, [Masker()])
    plain, _ = _train(_lenet, False, [Masker()])
    forced, _ = _train(_lenet, True, [Masker()])
    _assert_same_weights(_weights(auto), _weights(plain))
    # forced on, the next batch's forward ran before the mask was written: another run
    differ = [k for k in _weights(plain)
              if not np.array_equal(_weights(plain)[k], _weights(forced)[k])]
    assert differ


def test_which_callbacks_allow_the_automatic_overlap(tmp_path):
    class EpochOnly(Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    safe = [ProgressBar(disable=True), ModelCheckpoint(tmp_path), GradientClipping(1.0),
            EpochOnly(), Watcher()]
    assert overlap_safe(CallbackList(safe))
    assert not overlap_safe(CallbackList(safe + [Masker()]))


def test_automatic_overlap_is_on_unless_a_callback_forbids_it(monkeypatch):
    monkeypatch.setattr(loop, "_core_to_spare", lambda ctxs: True)
    chosen = []
    make_step = loop._make_step

    def spy(*args, **kwargs):
        chosen.append(kwargs["overlap"])
        return make_step(*args, **kwargs)

    monkeypatch.setattr(loop, "_make_step", spy)
    _train(_lenet, None, epochs=1)
    _train(_lenet, None, [Masker()], epochs=1)
    assert chosen == [True, False]


@pytest.mark.parametrize("threads, cpus, spare", [("1", 2, True), ("2", 2, False), ("", 4, False),
                                                  ("3,1", 4, True), ("0", 2, False)])
def test_overlap_needs_a_core_that_the_computation_leaves_free(monkeypatch, threads, cpus, spare):
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert loop._core_to_spare([mx.cpu()]) is spare
    assert loop._core_to_spare([mx.gpu(0)]) is True  # the host is free while a GPU computes


def test_a_bad_batch_is_reported_after_the_batch_before_has_ended():
    watcher = Watcher()
    with pytest.raises(NonFiniteError, match=r"input 0 \('data'\) of epoch 1, batch 3 "
                                             r"\(global step 4\)"):
        _train(_lenet, True, [watcher], data=_data(nan_batch=3))
    ends = [e[1] for e in watcher.events if e[0] == "end"]
    assert ends == [0, 1, 2]


@pytest.mark.parametrize("value", ["yes", 1, 0.5])
def test_overlap_must_be_none_true_or_false(value):
    with pytest.raises(ArgumentError, match="overlap must be None"):
        fit(_lenet(), _data(), 1, overlap=value, progress=False)
