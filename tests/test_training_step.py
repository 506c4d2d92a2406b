"""fit's training step: the fused network + loss + metrics graph equals separate calls."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import gluon  # noqa: E402

from gluon_dl.models import get_config, get_model, list_models  # noqa: E402
from gluon_dl.training.callbacks import CallbackList  # noqa: E402
from gluon_dl.training.loop import FitState, _build_train_graph, _make_step  # noqa: E402


def _single_input_models():
    """Registered models with one input that train at their full input shape in a test.

    The ImageNet-size networks (those with a smaller ``test_input_shape``) are
    covered by the same code path through the CIFAR ResNets.
    """
    return [name for name in list_models()
            if not get_config(name).extra_inputs and get_config(name).test_input_shape is None]


def _batch(name, n=8):
    """A batch of inputs for ``name`` at its test shape."""
    from gluon_dl.models import example_inputs

    return example_inputs(get_config(name), batch=n, small=True)[0]


def _labels(out, rng):
    """Labels shaped for softmax cross-entropy over the output's last axis."""
    if out.ndim == 1:
        return mx.nd.array(rng.rand(*out.shape))
    return mx.nd.array(rng.randint(0, out.shape[-1], out.shape[:-1]))


def _run(name, fuse, steps=3):
    mx.random.seed(0)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    X = _batch(name)
    out = net(X)
    if isinstance(out, (tuple, list)):
        pytest.skip(f"{name} returns several outputs; fit needs a loss made for it")
    y = _labels(out, np.random.RandomState(1))
    net.hybridize(static_alloc=True, static_shape=True)
    loss = gluon.loss.L2Loss() if out.ndim == 1 else gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
    state = FitState(num_epochs=1)
    step = _make_step(net, loss, trainer, [mx.cpu()], state, CallbackList([]), fuse=fuse)
    for i in range(steps):
        step(i, X, y)
    params = {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}
    return params, state


@pytest.mark.parametrize("name", _single_input_models())
def test_fused_step_equals_separate_calls(name):
    """Same weights, loss sum and hit count after a few SGD steps, fused or not."""
    fused, s_fused = _run(name, fuse=True)
    plain, s_plain = _run(name, fuse=False)
    for k in plain:
        np.testing.assert_allclose(fused[k], plain[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(s_fused.loss_sum, s_plain.loss_sum, rtol=1e-5)
    assert s_fused.correct == s_plain.correct
    assert s_fused.seen == s_plain.seen == 24


def _lenet():
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    return net


def test_train_graph_is_built_for_a_hybridized_classifier():
    net = _lenet()
    net.hybridize()
    x, y = mx.nd.zeros((4, 1, 28, 28)), mx.nd.zeros((4,))
    graph = _build_train_graph(net, gluon.loss.SoftmaxCrossEntropyLoss(), x, y)
    assert graph is not None and graph.classify
    losses, metrics = graph(x, y)
    assert losses.shape == (4,) and metrics.shape == (2,)
    assert not graph.collect_params().keys() - net.collect_params().keys()  # owns nothing


def test_train_graph_counts_no_hits_for_regression():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(1))
    net.initialize()
    net.hybridize()
    x, y = mx.nd.ones((4, 3)), mx.nd.ones((4, 1))
    graph = _build_train_graph(net, gluon.loss.L2Loss(), x, y)
    assert graph is not None and not graph.classify
    _, metrics = graph(x, y)
    assert metrics.shape == (1,)


@pytest.mark.parametrize("case", ["not hybridized", "python loss", "imperative block",
                                  "tuple output"])
def test_train_graph_falls_back_to_separate_calls(case):
    x, y = mx.nd.zeros((2, 1, 28, 28)), mx.nd.zeros((2,))
    net, loss = _lenet(), gluon.loss.SoftmaxCrossEntropyLoss()
    if case == "python loss":
        net.hybridize()
        loss = lambda out, label: mx.nd.softmax_cross_entropy(out, label)  # noqa: E731
    elif case == "imperative block":
        net = gluon.nn.Sequential()
        net.add(gluon.nn.Dense(10))
        net.initialize()
    elif case == "tuple output":
        net = get_model("vae_mlp")
        net.initialize()
        net.hybridize()
    assert _build_train_graph(net, loss, x, y) is None
