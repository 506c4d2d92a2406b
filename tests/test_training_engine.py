"""Multi-device training, callbacks and exact resume of gluon_dl.training.fit."""
import csv
import functools
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.data import ArrayLoader, to_model_input  # noqa: E402
from gluon_dl.errors import GluonDLError, ModelFileError  # noqa: E402
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.training import (Callback, CSVLogger, EarlyStopping, GradientClipping,  # noqa: E402
                               LearningRateScheduler, ModelCheckpoint, fit, latest_checkpoint,
                               list_checkpoints, load_checkpoint)


def _params(net):
    return {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}


def _lenet(seed=0):
    mx.random.seed(seed)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    return net


@pytest.fixture(scope="module")
def loader(mnist_split):
    X_tr, _, y_tr, _ = mnist_split
    tf = functools.partial(to_model_input, config=get_model("lenet5").config)
    return ArrayLoader(X_tr[:256], y_tr[:256], 32, shuffle=True, seed=1, transform=tf)


@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "fused-graph"])
def test_two_cpu_contexts_match_one(loader, hybridize):
    """Data-parallel SGD over two contexts equals one context with the same global batch."""
    results = []
    for ctx in ([mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]):
        net = _lenet()
        fit(net, loader, 1, optimizer="sgd", lr=0.05, ctx=ctx, kvstore="device",
            progress=False, hybridize=hybridize)
        results.append(_params(net))
    for k in results[0]:
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=1e-4, atol=1e-5)
    assert any(np.abs(results[0][k] - _params(_lenet())[k]).max() > 1e-3 for k in results[0])


@pytest.mark.parametrize("kvstore", ["local", "device"])
def test_kvstore_types_train(loader, kvstore):
    net = _lenet()
    hist = fit(net, loader, 2, optimizer="adam", lr=2e-3, ctx=[mx.cpu(0), mx.cpu(1)],
               kvstore=kvstore, progress=False)
    assert hist.history["loss"][1] < hist.history["loss"][0]


def test_resume_in_process_is_exact(loader, tmp_path):
    def run(ckdir, stop_at=None, resume=None):
        net = _lenet()

        class Stop(Callback):
            def on_batch_end(self, batch, logs=None):
                if stop_at and self.state.global_step == stop_at:
                    self.state.stop_training = True

        fit(net, loader, 3, optimizer="adam", lr=1e-3, seed=7, progress=False,
            callbacks=[ModelCheckpoint(ckdir, every_n_steps=4, monitor="loss"), Stop()],
            resume_from=resume)
        return _params(net)

    full = run(tmp_path / "a")
    run(tmp_path / "b", stop_at=11)
    resumed = run(tmp_path / "b", resume=latest_checkpoint(tmp_path / "b"))
    for k in full:
        np.testing.assert_array_equal(resumed[k], full[k])


RESUME_SCRIPT = textwrap.dedent("""
    import functools, sys, time
    import numpy as np, mxnet as mx
    from gluon_dl.data import ArrayLoader, load_mnist, to_model_input, train_test_split
    from gluon_dl.models import get_model
    from gluon_dl.training import Callback, ModelCheckpoint, fit, latest_checkpoint
    ckdir, out, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])
    X, y = load_mnist()
    X, _, y, _ = train_test_split(X, y, 1000)
    mx.random.seed(0)
    net = get_model("mlp")
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1,) + net.config.input_shape))
    tf = functools.partial(to_model_input, config=net.config)
    loader = ArrayLoader(X[:384], y[:384], 32, shuffle=True, seed=5, transform=tf)
    class Slow(Callback):
        def on_batch_end(self, batch, logs=None):
            time.sleep(slow)
    fit(net, loader, 3, optimizer="adam", lr=1e-3, seed=11, progress=False,
        callbacks=[ModelCheckpoint(ckdir, every_n_steps=3, monitor="loss"), Slow()],
        resume_from=latest_checkpoint(ckdir))
    np.savez(out, **{k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()})
""")


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    """A run killed mid-epoch and resumed ends with the same parameters (dropout included)."""
    pytest.importorskip("gluon_dl.models.basics")
    script = tmp_path / "train.py"
    script.write_text(RESUME_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    run = functools.partial(subprocess.run, env=env, capture_output=True, text=True, timeout=300)
    ref = run([sys.executable, str(script), str(tmp_path / "ref"), str(tmp_path / "ref.npz"), "0"])
    assert ref.returncode == 0, ref.stderr[-2000:]

    ckdir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(ckdir), str(tmp_path / "x.npz"),
                             "0.05"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not any(
            int(p.name[5:14]) >= 15 for p in list_checkpoints(ckdir)):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = int(latest_checkpoint(ckdir).name[5:14])
    assert 15 <= step < 36, f"killed at step {step}, wanted mid-run (36 steps in all)"
    resumed = run([sys.executable, str(script), str(ckdir), str(tmp_path / "resumed.npz"), "0"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "resumed.npz")
    for k in a.files:
        np.testing.assert_array_equal(b[k], a[k])


def test_early_stopping_restores_best_weights(loader):
    net = _lenet()
    seen = []

    class FakeVal(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_acc"] = [0.5, 0.7, 0.6, 0.65, 0.6, 0.9][epoch]
            seen.append(_params(self.net))

    stop = EarlyStopping("val_acc", patience=2, restore_best_weights=True)
    hist = fit(net, loader, 6, lr=1e-3, callbacks=[FakeVal(), stop], progress=False)
    assert len(hist.history["loss"]) == 4 and stop.stopped_epoch == 3 and stop.best == 0.7
    for k, v in _params(net).items():
        np.testing.assert_array_equal(v, seen[1][k])


def test_monitor_names_missing_key(loader):
    with pytest.raises(GluonDLError, match="monitors 'val_acc'.*pass val_iter"):
        fit(_lenet(), loader, 1, callbacks=[EarlyStopping("val_acc")], progress=False)


def test_checkpoints_keep_last_and_best(loader, tmp_path):
    net = _lenet()
    fit(net, loader, 2, lr=1e-3, progress=False,
        callbacks=[ModelCheckpoint(tmp_path, every_n_steps=2, keep_last=2, monitor="loss")])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best.ckpt", "ckpt-000000014.ckpt", "ckpt-000000016.ckpt"]
    other = _lenet(seed=3)
    meta = load_checkpoint(tmp_path / "ckpt-000000016.ckpt", other)
    assert meta["global_step"] == 16 and meta["epoch"] == 1
    for k, v in _params(net).items():
        np.testing.assert_array_equal(_params(other)[k], v)


def test_corrupt_checkpoint_is_named(tmp_path):
    bad = tmp_path / "ckpt-000000001.ckpt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelFileError, match="ckpt-000000001.ckpt is not a readable"):
        load_checkpoint(bad, _lenet())


def test_csv_logger_writes_a_row_per_epoch(loader, tmp_path):
    path = tmp_path / "log.csv"
    fit(_lenet(), loader, 2, lr=1e-3, callbacks=[CSVLogger(path)], progress=False)
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1"] and rows[1]["global_step"] == "16"
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])


def test_lr_schedule_sets_rate_every_step(loader):
    rates = []

    class Spy(Callback):
        def on_batch_end(self, batch, logs=None):
            rates.append(self.trainer.learning_rate)

    sched = mx.lr_scheduler.CosineScheduler(max_update=16, base_lr=0.1, final_lr=0.0,
                                            warmup_steps=4, warmup_begin_lr=0.0)
    fit(_lenet(), loader, 2, optimizer="sgd", callbacks=[LearningRateScheduler(sched), Spy()],
        progress=False)
    assert rates[:4] == pytest.approx([0.0, 0.025, 0.05, 0.075])
    assert rates[4] == pytest.approx(0.1) and rates[-1] < 0.01


def test_gradient_clipping_bounds_the_global_norm(loader):
    norms = []

    class Norm(Callback):
        def on_backward_end(self, batch):
            grads = [p.grad() for p in self.net.collect_params().values()]
            norms.append(float(np.sqrt(sum((g.asnumpy() ** 2).sum() for g in grads))))

    clip = GradientClipping(0.01)
    fit(_lenet(), loader, 1, callbacks=[clip, Norm()], progress=False)
    assert clip.last_norm > 0.01 and max(norms) <= 0.01 * (1 + 1e-4)
