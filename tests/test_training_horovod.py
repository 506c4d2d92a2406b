"""fit(kvstore="horovod"): the wiring to horovod.mxnet, against a stand-in module.

The stand-in behaves like Horovod with N processes that all computed the same
gradients (allreduce sums them: N times each), so a correct trainer ends where
one process with the same batch ends.  A real multi-process run is in
``test_horovod_gloo_job_matches_one_process``, when Horovod is installed.
"""
import functools
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.data import ArrayLoader, to_model_input  # noqa: E402
from gluon_dl.errors import GluonDLError, MissingDependencyError  # noqa: E402
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.training import fit  # noqa: E402

STAND_IN = textwrap.dedent('''
    """A stand-in for horovod.mxnet: SIZE processes with identical gradients."""
    import mxnet as mx

    SIZE, RANK = 2, 0
    calls = {"init": 0, "broadcast": []}

    def init():
        calls["init"] += 1

    def size():
        return SIZE

    def rank():
        return RANK

    def local_rank():
        return RANK

    def broadcast_parameters(params, root_rank=0):
        calls["broadcast"].append(
            (root_rank, {k: p.data().asnumpy().copy() for k, p in params.items()}))

    class DistributedTrainer(mx.gluon.Trainer):
        def __init__(self, params, optimizer, optimizer_params=None):
            super().__init__(params, optimizer, optimizer_params, kvstore=None)
            self._scale /= size()  # as Horovod: average = sum / size

        def _allreduce_grads(self):
            for p in self._params:
                if p.grad_req != "null":
                    for g in p.list_grad():
                        g *= SIZE  # the sum over SIZE equal gradients
''')


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    pkg = tmp_path / "horovod"
    (pkg / "mxnet").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "mxnet" / "__init__.py").write_text(STAND_IN)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("horovod", "horovod.mxnet"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module("horovod.mxnet")


@pytest.fixture(scope="module")
def loader(mnist_split):
    X_tr, _, y_tr, _ = mnist_split
    tf = functools.partial(to_model_input, config=get_model("lenet5").config)
    return ArrayLoader(X_tr[:192], y_tr[:192], 32, shuffle=True, seed=3, transform=tf)


def _lenet():
    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    return net


def _params(net):
    return {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}


def test_horovod_averages_like_one_process(stand_in, loader):
    ref = _lenet()
    fit(ref, loader, 1, optimizer="sgd", lr=0.1, kvstore="device", progress=False)
    net = _lenet()
    hist = fit(net, loader, 1, optimizer="sgd", lr=0.1, kvstore="horovod", progress=False)
    got, want = _params(net), _params(ref)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert hist.history["loss"][0] > 0
    assert stand_in.calls["init"] == 1
    [(root, weights)] = stand_in.calls["broadcast"]
    assert root == 0 and len(weights) == len(list(net.collect_params().keys()))
    first = _lenet()  # the broadcast carries the initialized, untrained weights
    first(mx.nd.zeros((1, 1, 28, 28)))
    init = [p.data().asnumpy() for p in first.collect_params().values()]
    for value, expected in zip(weights.values(), init):  # same order, other name prefix
        np.testing.assert_array_equal(value, expected)


def test_horovod_takes_one_context_per_process(stand_in, loader):
    with pytest.raises(GluonDLError, match="one context per process.*horovodrun"):
        fit(_lenet(), loader, 1, kvstore="horovod", ctx=[mx.cpu(0), mx.cpu(1)],
            progress=False)


def test_horovod_needs_its_distributed_trainer(stand_in, loader):
    net = _lenet()
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with pytest.raises(GluonDLError, match="DistributedTrainer"):
        fit(net, loader, 1, kvstore="horovod", trainer=trainer, progress=False)


def test_horovod_missing_names_the_install(monkeypatch, loader):
    monkeypatch.setitem(sys.modules, "horovod", None)
    monkeypatch.setitem(sys.modules, "horovod.mxnet", None)
    with pytest.raises(MissingDependencyError) as err:
        fit(_lenet(), loader, 1, kvstore="horovod", progress=False)
    assert "horovod" in str(err.value) and "HOROVOD_WITH_MXNET=1" in str(err.value)


HOROVOD_SCRIPT = textwrap.dedent("""
    import functools, sys
    import numpy as np, mxnet as mx
    from gluon_dl.data import ArrayLoader, load_mnist, to_model_input, train_test_split
    from gluon_dl.models import get_model
    from gluon_dl.training import fit
    kvstore, out = sys.argv[1], sys.argv[2]
    X, y = load_mnist()
    X, _, y, _ = train_test_split(X, y, 1000)
    num_shards, shard = 1, 0
    if kvstore == "horovod":
        import horovod.mxnet as hvd
        hvd.init()
        num_shards, shard = hvd.size(), hvd.rank()
    mx.random.seed(100 + shard)  # different initial weights: rank 0's must win
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    tf = functools.partial(to_model_input, config=net.config)
    loader = ArrayLoader(X[:256], y[:256], 64, shuffle=True, seed=2, transform=tf,
                         num_shards=num_shards, shard=shard, last_batch="discard")
    fit(net, loader, 2, optimizer="sgd", lr=0.05, kvstore=kvstore, progress=False)
    if shard == 0:
        np.savez(out, **{k: p.data().asnumpy()
                         for k, p in net._collect_params_with_prefix().items()})
""")


@pytest.mark.skipif(importlib.util.find_spec("horovod") is None,
                    reason="Horovod is not installed (optional 'horovod' extra)")
def test_horovod_gloo_job_matches_one_process(tmp_path):
    """Two Horovod processes on loopback end where one process with the global batch ends."""
    script = tmp_path / "train.py"
    script.write_text(HOROVOD_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    one = subprocess.run([sys.executable, str(script), "device", str(tmp_path / "one.npz")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    horovodrun = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    job = subprocess.run([horovodrun, "--gloo", "-np", "2", "-H", "localhost:2",
                          sys.executable, str(script), "horovod", str(tmp_path / "hvd.npz")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert job.returncode == 0, job.stdout[-2000:] + job.stderr[-2000:]
    a, b = np.load(tmp_path / "one.npz"), np.load(tmp_path / "hvd.npz")
    for k in a.files:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-5, err_msg=k)
