"""PruningCallback in fit: driven by the global step, a resumed run prunes as if never stopped."""
import functools

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from deploy.prune import MagnitudePruner, PolynomialDecay, PruningCallback  # noqa: E402
from gluon_dl.data import ArrayLoader, to_model_input  # noqa: E402
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.training import Callback, ModelCheckpoint, fit, latest_checkpoint  # noqa: E402

# 4 steps per epoch, 3 epochs: masks recomputed at steps 0, 2, 4, 6 and 8.
SCHEDULE = PolynomialDecay(0.5, 0.8, begin_step=0, end_step=8, power=3, frequency=2)


@pytest.fixture(scope="module")
def loader(mnist_split):
    X_tr, _, y_tr, _ = mnist_split
    tf = functools.partial(to_model_input, config=get_model("lenet5").config)
    return ArrayLoader(X_tr[:128], y_tr[:128], 32, shuffle=True, seed=2, transform=tf)


class _Record(Callback):
    """The pruner's target sparsity after every global step; stops after ``stop_at``."""

    def __init__(self, pruner, stop_at=None):
        self.pruner, self.stop_at, self.sparsity = pruner, stop_at, {}

    def on_batch_end(self, batch, logs=None):
        self.sparsity[self.state.global_step] = self.pruner.sparsity
        if self.state.global_step == self.stop_at:
            self.state.stop_training = True


def _run(loader, ckdir, stop_at=None):
    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    pruner = MagnitudePruner(net, SCHEDULE)
    record = _Record(pruner, stop_at)
    # The checkpoint first on purpose: it still saves after the pruner masked the step.
    fit(net, loader, 3, optimizer="adam", lr=1e-3, seed=0, progress=False,
        callbacks=[ModelCheckpoint(ckdir, every_n_steps=3), PruningCallback(pruner), record],
        resume_from=latest_checkpoint(ckdir))
    params = {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}
    return params, pruner, record.sparsity


@pytest.mark.parametrize("stop_at", [5, 6], ids=["between-pruning-steps", "at-a-pruning-step"])
def test_resumed_pruning_run_matches_an_uninterrupted_one(loader, tmp_path, stop_at):
    full_params, full, full_sparsity = _run(loader, tmp_path / "full")
    _run(loader, tmp_path / "cut", stop_at=stop_at)
    assert latest_checkpoint(tmp_path / "cut").name == f"ckpt-{stop_at:09d}.ckpt"
    params, resumed, sparsity = _run(loader, tmp_path / "cut")

    # The same schedule over the same global steps: 0.5 -> 0.8, not restarted from step 0.
    assert sparsity == {s: v for s, v in full_sparsity.items() if s > stop_at}
    assert full_sparsity[12] == pytest.approx(0.8) and resumed.step == full.step == 12
    assert resumed.sparsity == full.sparsity
    masks, full_masks = resumed.state_dict()["masks"], full.state_dict()["masks"]
    assert masks.keys() == full_masks.keys()
    for key in masks:
        np.testing.assert_array_equal(masks[key], full_masks[key], err_msg=key)
    assert resumed.overall_sparsity() == full.overall_sparsity()
    for key in params:
        np.testing.assert_array_equal(params[key], full_params[key], err_msg=key)


def test_resuming_between_pruning_steps_restores_the_last_masks(loader, tmp_path):
    """On train begin at step 5 the masks are those of step 4, not of a fresh schedule."""
    _run(loader, tmp_path, stop_at=5)
    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    pruner = MagnitudePruner(net, SCHEDULE)
    fit(net, loader, 3, progress=False, callbacks=[PruningCallback(pruner), _Stop()],
        resume_from=latest_checkpoint(tmp_path))
    assert pruner.step == 5 and pruner.sparsity == SCHEDULE.sparsity_at(4)
    for report in pruner.sparsity_report():
        assert report["zeros"] == int(np.floor(SCHEDULE.sparsity_at(4) * report["size"]))


class _Stop(Callback):
    def on_train_begin(self, logs=None):
        self.state.stop_training = True
