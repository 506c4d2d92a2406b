"""fit's CPU training-graph levers: the switches decide, and the values never change.

``pool_as_mean`` computes global average pooling as a mean; ``channel_pad``
pads narrow convolution stages to the CPU's oneDNN block (16 with AVX-512,
8 without).  Both only rewrite fit's fused training graph on CPU contexts.
"""
import json

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from gluon_dl.errors import ArgumentError  # noqa: E402
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.training import _bn_relu, _channel_pad, _global_pool, fit, loop  # noqa: E402
from gluon_dl.training._channel_pad import pad_channels  # noqa: E402
import _graph_rewrite  # noqa: E402  (tests/_graph_rewrite.py)

AVX512 = {"avx2", "fma", "avx512f", "avx512bw", "avx512vl"}
AVX2 = {"sse4_2", "avx", "avx2", "fma"}


def _seq(*layers):
    net = nn.HybridSequential()
    net.add(*layers)
    return net


# case -> (network, input shape, global average poolings it has)
POOLS = {
    "2-D, after batch norm and relu (a CIFAR ResNet's head)": (lambda: _seq(
        nn.Conv2D(16, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"),
        nn.GlobalAvgPool2D(), nn.Dense(10)), (4, 3, 8, 8), 1),
    "1-D": (lambda: _seq(nn.Conv1D(8, 3), nn.GlobalAvgPool1D(), nn.Flatten()), (4, 3, 12), 1),
    "3-D": (lambda: _seq(nn.Conv3D(4, 3), nn.GlobalAvgPool3D(), nn.Flatten()),
            (2, 2, 5, 5, 5), 1),
    "two of them": (lambda: _seq(nn.Conv2D(8, 3), nn.GlobalAvgPool2D(), nn.Conv2D(4, 1),
                                 nn.GlobalAvgPool2D(), nn.Flatten()), (4, 3, 8, 8), 2),
}

KEPT = {
    "global max pooling": lambda: _seq(nn.Conv2D(8, 3), nn.GlobalMaxPool2D()),
    "channels-last global average pooling": lambda: _seq(nn.GlobalAvgPool2D(layout="NHWC")),
    "a windowed average pooling": lambda: _seq(nn.Conv2D(8, 3), nn.AvgPool2D()),
}


def _build(make, shape):
    return _graph_rewrite.build(make, shape)


_run = _graph_rewrite.run


def _ops(sym):
    return [n["op"] for n in json.loads(sym.tojson())["nodes"]]


@pytest.mark.filterwarnings("ignore:Cannot decide type")  # SymbolBlock's input dtype
@pytest.mark.parametrize("case", POOLS)
def test_global_pooling_as_mean_gives_the_same_outputs_and_gradients(case):
    make, shape, count = POOLS[case]
    net, x = _build(make, shape)
    sym = net(mx.sym.var("data"))
    rewritten = _global_pool.as_mean(sym)
    assert _ops(rewritten).count("mean") == count and "Pooling" not in _ops(rewritten)
    _graph_rewrite.assert_same(sym, rewritten, net, x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", KEPT)
def test_other_poolings_are_left_alone(case):
    net = KEPT[case]()
    sym = net(mx.sym.var("data"))
    assert _global_pool.as_mean(sym) is sym


def _fit_and_graph(net, data, epochs, **switches):
    """``fit`` with SGD (lr 0.1) on ``data``: the fused training graph it built, and the history."""
    built = []
    build = loop._build_train_graph

    def spy(*args, **kwargs):
        built.append(build(*args, **kwargs))
        return built[-1]
    loop._build_train_graph = spy
    try:
        history = fit(net, data, epochs, optimizer="sgd", lr=0.1, progress=False, **switches)
    finally:
        loop._build_train_graph = build
    return built[0], history


def _resnet_step(pool_as_mean, channel_pad=False):
    """One fit step of CIFAR ResNet-20 on a fixed batch: the loss and the updated weights."""
    mx.random.seed(0)
    net = get_model("cifar_resnet20_v1")
    rng = np.random.RandomState(0)
    X = mx.nd.array(rng.rand(4, 3, 32, 32).astype("float32"))
    y = mx.nd.array(rng.randint(0, 10, 4))
    graph, history = _fit_and_graph(net, [(X, y)], 1, pool_as_mean=pool_as_mean,
                                    channel_pad=channel_pad)
    weights = {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}
    return graph, history.history["loss"][0], weights


def test_resnet_gradients_with_pooling_as_mean_are_exact_in_float64():
    """Every gradient of ResNet-20 through the rewritten graph equals the original's
    to 1e-10 in float64 (in float32 both differ from float64 by ~3e-4 relative on this
    network and batch, the pooling's rounding as much as the mean's)."""
    mx.random.seed(0)
    net = get_model("cifar_resnet20_v1")
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(np.random.RandomState(0).rand(4, 3, 32, 32))
    net(x)
    sym = net(mx.sym.var("data"))
    blocks = [gluon.SymbolBlock(s, mx.sym.var("data"), params=net.collect_params())
              for s in (sym, _global_pool.as_mean(sym))]
    net.cast("float64")
    results = []
    for block in blocks:
        with autograd.record():
            out = block(x.astype("float64"))
            loss = (out * out).sum()
        loss.backward()
        results.append([out.asnumpy()] + [p.grad().asnumpy().copy()
                                           for p in net.collect_params().values()
                                           if p.grad_req != "null"])
    assert results[0][0].dtype == np.float64
    for ref, got in zip(*results):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_resnet_trains_through_the_rewritten_graph():
    """fit's ResNet-20 graph computes the pooling as a mean: same loss, and weights
    within float32's gradient rounding of the unrewritten graph's after one step."""
    graph, loss, weights = _resnet_step(True)
    assert graph.pool_as_mean is True
    ops = _ops(graph._cached_graph[1])
    assert "mean" in ops and "Pooling" not in ops
    ref_graph, ref_loss, ref_weights = _resnet_step(False)
    assert "Pooling" in _ops(ref_graph._cached_graph[1])
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    for name, value in weights.items():
        np.testing.assert_allclose(value, ref_weights[name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("setting", [True, False, None])
def test_pool_as_mean_switch_decides_the_training_graph(setting):
    graph, _, _ = _resnet_step(setting)
    expected = setting if setting is not None else _global_pool.worthwhile()
    assert graph.pool_as_mean is expected
    assert ("Pooling" not in _ops(graph._cached_graph[1])) is expected


def test_pool_as_mean_is_on_with_avx512_and_never_off_the_cpu():
    assert _global_pool.worthwhile(AVX512) and not _global_pool.worthwhile(AVX2)
    assert _global_pool.wanted(True, mx.cpu()) and not _global_pool.wanted(False, mx.cpu())
    assert not _global_pool.wanted(True, mx.gpu(0))
    assert _global_pool.wanted(None, mx.cpu()) is _global_pool.worthwhile()


@pytest.mark.parametrize("bad", ["auto", 1, 0.5])
def test_pool_as_mean_refuses_a_value_that_is_not_a_switch(bad):
    with pytest.raises(ArgumentError, match=r"pool_as_mean must be None \(automatic\), "
                                            r"True or False"):
        fit(_seq(nn.Dense(2)), [(mx.nd.zeros((2, 3)), mx.nd.zeros((2,)))], 1,
            progress=False, pool_as_mean=bad)


def test_channel_block_follows_the_cpu():
    assert _channel_pad.block(AVX512) == 16 and _channel_pad.block(AVX2) == 8
    assert _channel_pad.worthwhile(AVX512) and _channel_pad.worthwhile(AVX2)


@pytest.mark.filterwarnings("ignore:Cannot decide type")
@pytest.mark.parametrize("block", [8, 16])
def test_lenet_padded_to_either_block_keeps_values_and_gradients(block):
    """LeNet-5's 6-filter stage padded to 8 (AVX2) or 16 (AVX-512): same outputs and
    gradients; the second convolution takes the padded channels through zero weights."""
    net, x = _build(lambda: get_model("lenet5"), (3, 1, 28, 28))
    sym = net(mx.sym.var("data"))
    padded = pad_channels(sym, {"data": x.shape}, block)
    filters = [int(n["attrs"]["num_filter"]) for n in json.loads(padded.tojson())["nodes"]
               if n["op"] == "Convolution"]
    assert filters == [block, 16]
    out, grads = _run(sym, net, x)
    out_p, grads_p = _run(padded, net, x)
    np.testing.assert_allclose(out_p, out, rtol=1e-5, atol=1e-6)
    for name in grads:
        np.testing.assert_allclose(grads_p[name], grads[name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("flags, block", [(AVX512, 16), (AVX2, 8)])
def test_fit_pads_lenet_to_the_block_of_the_cpu(monkeypatch, flags, block):
    from gluon_dl.training import amp

    monkeypatch.setattr(amp, "cpu_flags", lambda: set(flags))  # what block() reads
    mx.random.seed(0)
    net = get_model("lenet5")
    built = []
    build = loop._build_train_graph
    monkeypatch.setattr(loop, "_build_train_graph",
                        lambda *a, **k: built.append(build(*a, **k)) or built[-1])
    X = mx.nd.array(np.random.RandomState(0).rand(4, 1, 28, 28))
    fit(net, [(X, mx.nd.array([0, 1, 2, 3]))], 1, progress=False)
    nodes = json.loads(built[0]._cached_graph[1].tojson())["nodes"]
    assert [int(n["attrs"]["num_filter"]) for n in nodes if n["op"] == "Convolution"] \
        == [block, 16]
    assert net.features[0].weight.shape == (6, 1, 5, 5)


# ------------------------------------------------------------------ BatchNorm + ReLU

# case -> (network, input shape, BatchNorm+ReLU pairs it has)
BN_RELU = {
    "conv, batch norm, relu (twice)": (lambda: _seq(
        nn.Conv2D(8, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"),
        nn.Conv2D(8, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"),
        nn.MaxPool2D(), nn.Dense(4)), (4, 3, 8, 8), 2),
    # oneDNN 2.4 has no fused backward for the gradient a global pooling hands back
    "the pair before a global pooling: left alone": (lambda: _seq(
        nn.Conv2D(8, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"),
        nn.Conv2D(8, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"),
        nn.GlobalAvgPool2D(), nn.Dense(4)), (4, 3, 8, 8), 1),
    "batch norm read by a relu and a dense layer: left alone": (lambda: _Branching(),
                                                               (4, 3, 8, 8), 0),
    "batch norm then sigmoid: left alone": (lambda: _seq(
        nn.Conv2D(8, 3), nn.BatchNorm(), nn.Activation("sigmoid"), nn.Dense(4)),
        (4, 3, 8, 8), 0),
}


class _Branching(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.dense = nn.Conv2D(8, 3), nn.BatchNorm(), nn.Dense(4)

    def hybrid_forward(self, F, x):
        y = self.bn(self.conv(x))
        return self.dense(F.relu(y)) + self.dense(y)


@pytest.mark.filterwarnings("ignore:Cannot decide type")  # SymbolBlock's input dtype
@pytest.mark.parametrize("case", BN_RELU)
def test_batchnorm_relu_fusion_gives_the_same_outputs_and_gradients(case):
    make, shape, count = BN_RELU[case]
    net, x = _build(make, shape)
    sym = net(mx.sym.var("data"))
    fused = _bn_relu.fuse(sym)
    assert _ops(fused).count(_bn_relu.FUSED_OP) == count
    if not count:
        assert fused is sym
        return
    assert _ops(fused).count("BatchNorm") == _ops(sym).count("BatchNorm") - count
    _graph_rewrite.assert_same(sym, fused, net, x, rtol=1e-5, atol=1e-6,
                               out_tol=(1e-6, 1e-7))


def _resnet_bn_relu(bn_relu):
    mx.random.seed(0)
    net = get_model("cifar_resnet20_v1")
    rng = np.random.RandomState(0)
    data = [(mx.nd.array(rng.rand(4, 3, 32, 32).astype("float32")),
             mx.nd.array(rng.randint(0, 10, 4))) for _ in range(2)]
    graph, history = _fit_and_graph(net, data, 2, bn_relu=bn_relu)
    weights = {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}
    return graph, history.history["loss"], weights


def test_resnet_trains_the_same_with_batchnorm_relu_fused():
    """Four steps of ResNet-20: the same losses and weights (running statistics too)."""
    graph, losses, weights = _resnet_bn_relu(True)
    assert graph.bn_relu is True
    ops = _ops(graph._cached_graph[1])
    # the stem's and each block's first: a block's second BatchNorm feeds the residual sum
    assert ops.count(_bn_relu.FUSED_OP) == 10
    ref_graph, ref_losses, ref_weights = _resnet_bn_relu(False)
    assert _bn_relu.FUSED_OP not in _ops(ref_graph._cached_graph[1])
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-6)
    for name, value in weights.items():
        np.testing.assert_allclose(value, ref_weights[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_bn_relu_is_opt_in_and_never_off_the_cpu():
    assert _bn_relu.wanted(True, mx.cpu()) and not _bn_relu.wanted(False, mx.cpu())
    assert not _bn_relu.wanted(True, mx.gpu(0))
    assert _bn_relu.available()  # the pinned MXNet build has oneDNN
    graph, _, _ = _resnet_bn_relu(False)
    assert graph.bn_relu is False


@pytest.mark.parametrize("bad", ["auto", 1, None])
def test_bn_relu_refuses_a_value_that_is_not_a_switch(bad):
    with pytest.raises(ArgumentError, match=r"bn_relu must be True or False"):
        fit(_seq(nn.Dense(2)), [(mx.nd.zeros((2, 3)), mx.nd.zeros((2,)))], 1,
            progress=False, bn_relu=bad)
