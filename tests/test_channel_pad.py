"""Channel padding of narrow convolution stages keeps every value and gradient."""
import json

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.training import _channel_pad  # noqa: E402
from gluon_dl.training._channel_pad import pad_channels  # noqa: E402
from gluon_dl.training.loop import _build_train_graph  # noqa: E402
import _graph_rewrite  # noqa: E402  (tests/_graph_rewrite.py)

SHAPE = (3, 2, 16, 16)


class _Branch(gluon.HybridBlock):
    """A padded stage read by a convolution and, unsliced, by a concatenation."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2D(6, 3, padding=1, activation="relu")
        self.pool = nn.MaxPool2D()
        self.next = nn.Conv2D(4, 3, padding=1)

    def hybrid_forward(self, F, x):
        h = self.pool(self.conv(x))
        return F.concat(self.next(h), h, dim=1)


def _seq(*layers):
    net = nn.HybridSequential()
    net.add(*layers)
    return net


# case -> (network, filter counts of its convolutions after padding, a slice expected)
PADDED = {
    "relu, max pooling, convolution": (lambda: _seq(
        nn.Conv2D(6, 5, padding=2, activation="relu"), nn.MaxPool2D(),
        nn.Conv2D(16, 5, activation="relu"), nn.MaxPool2D(), nn.Dense(10)), [8, 16], False),
    "sigmoid, average pooling (the course's LeNet)": (lambda: _seq(
        nn.Conv2D(6, 5, padding=2, activation="sigmoid"), nn.AvgPool2D(),
        nn.Conv2D(16, 5, activation="sigmoid"), nn.AvgPool2D(), nn.Dense(10)), [8, 16], False),
    "pooling, then dense": (lambda: _seq(
        nn.Conv2D(6, 3, activation="relu"), nn.MaxPool2D(), nn.Flatten(), nn.Dense(10)),
        [8], True),
    "no bias, leaky, padded into padded": (lambda: _seq(
        nn.Conv2D(5, 3, use_bias=False), nn.LeakyReLU(0.1), nn.MaxPool2D(),
        nn.Conv2D(3, 3), nn.GlobalAvgPool2D(), nn.Flatten()), [8, 8], True),
    "one stage read twice": (_Branch, [8, 4], True),
}

UNCHANGED = {
    "no pooling after it": lambda: _seq(nn.Conv2D(6, 3, activation="relu"), nn.Conv2D(8, 3)),
    "already a full block": lambda: _seq(nn.Conv2D(16, 3, activation="relu"), nn.MaxPool2D()),
    "grouped": lambda: _seq(nn.Conv2D(6, 3, groups=2, in_channels=2), nn.MaxPool2D()),
    "batch norm before pooling": lambda: _seq(nn.Conv2D(6, 3), nn.BatchNorm(), nn.MaxPool2D()),
}


def _build(make):
    return _graph_rewrite.build(make, SHAPE)


_run = _graph_rewrite.run


def _convolutions(sym):
    nodes = json.loads(sym.tojson())["nodes"]
    return ([int(n["attrs"]["num_filter"]) for n in nodes if n["op"] == "Convolution"],
            any(n["name"].endswith("_unpad") for n in nodes))


@pytest.mark.filterwarnings("ignore:Cannot decide type")  # SymbolBlock's input dtype
@pytest.mark.parametrize("case", PADDED)
def test_padded_graph_gives_the_same_outputs_and_gradients(case):
    make, filters, sliced = PADDED[case]
    net, x = _build(make)
    sym = net(mx.sym.var("data"))
    padded = pad_channels(sym, {"data": x.shape})
    assert _convolutions(padded) == (filters, sliced)
    _graph_rewrite.assert_same(sym, padded, net, x, rtol=1e-4, atol=1e-5,
                               out_tol=(1e-5, 1e-6))


@pytest.mark.parametrize("case", UNCHANGED)
def test_graph_without_a_narrow_stage_before_pooling_is_left_alone(case):
    net, x = _build(UNCHANGED[case])
    sym = net(mx.sym.var("data"))
    assert pad_channels(sym, {"data": x.shape}) is sym


def _lenet_graph(pad, initialized):
    mx.random.seed(0)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(np.random.RandomState(1).rand(4, 1, 28, 28))
    y = mx.nd.array([0, 1, 2, 3])
    if initialized:
        net(x)
    net.hybridize(static_alloc=True, static_shape=True)
    graph = _build_train_graph(net, gluon.loss.SoftmaxCrossEntropyLoss(), (x,), (y,))
    graph.pad_channels = pad
    with autograd.record():
        losses, metrics = graph(x, y)
    losses.backward()
    return graph, net, losses.asnumpy(), metrics.asnumpy()


@pytest.mark.parametrize("initialized", [True, False], ids=["initialized", "deferred"])
def test_fit_trains_lenet_through_the_padded_graph_on_cpu(initialized):
    """fit's CPU graph runs LeNet-5's 6-filter stage as a full block of the CPU (8, or 16
    with AVX-512); the parameters keep their shapes (also when they are only inferred
    from the first batch) and the step's losses and gradients are those of the unpadded
    graph."""
    graph, net, losses, metrics = _lenet_graph(True, initialized)
    assert _convolutions(graph._cached_graph[1])[0] == [_channel_pad.block(), 16]
    assert net.features[0].weight.shape == (6, 1, 5, 5)
    _, ref_net, ref_losses, ref_metrics = _lenet_graph(False, initialized)
    assert _convolutions(_lenet_graph(False, True)[0]._cached_graph[1])[0] == [6, 16]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(metrics, ref_metrics, rtol=1e-5)
    for p, ref in zip(net.collect_params().values(), ref_net.collect_params().values()):
        np.testing.assert_allclose(p.grad().asnumpy(), ref.grad().asnumpy(),
                                   rtol=1e-4, atol=1e-6, err_msg=p.name)


class _Cast(gluon.HybridBlock):
    """LeNet's first stages with the casts mixed precision puts around each layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2D(6, 5, padding=2, activation="relu")
        self.conv2 = nn.Conv2D(16, 5)

    def hybrid_forward(self, F, x):
        h = F.Pooling(self.conv1(F.amp_cast(x, dtype="float32")), kernel=(2, 2),
                      stride=(2, 2), pool_type="max")
        return self.conv2(F.amp_cast(h, dtype="float32"))


def test_mixed_precision_casts_survive_and_carry_the_padding():
    net, x = _build(_Cast)
    sym = net(mx.sym.var("data"))
    padded = pad_channels(sym, {"data": x.shape})
    ops = [n["op"] for n in json.loads(padded.tojson(remove_amp_cast=False))["nodes"]]
    assert ops.count("amp_cast") == 2 and "slice_axis" in ops
    assert _convolutions(padded) == ([8, 16], False)  # the cast passed the padding on
    np.testing.assert_allclose(_run(padded, net, x)[0], _run(sym, net, x)[0], rtol=1e-5,
                               atol=1e-6)


def test_padding_is_used_with_and_without_avx512(monkeypatch):
    assert _channel_pad.worthwhile({"sse4_2", "avx", "avx2", "fma"})
    assert _channel_pad.worthwhile({"avx2", "avx512f", "avx512bw", "avx512vl"})
    net = get_model("lenet5")
    net.initialize()
    net.hybridize()
    x, y = mx.nd.zeros((2, 1, 28, 28)), mx.nd.zeros((2,))
    for flag in (True, False):
        monkeypatch.setattr(_channel_pad, "worthwhile", lambda flag=flag: flag)
        graph = _build_train_graph(net, gluon.loss.SoftmaxCrossEntropyLoss(), (x,), (y,))
        assert graph.pad_channels is flag
