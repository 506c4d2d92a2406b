"""ONNX rewrites before onnx2tf: same numbers in onnxruntime, and the converted TFLite models agree.

The rewritten graphs are compared with the exported ones in onnxruntime
(cheap); the full conversions through onnx2tf are ``slow``.
"""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxsim")

from deploy.export import onnx as onnx_export  # noqa: E402
from deploy.export._common import sample_inputs  # noqa: E402
from deploy.export._graphfix import prepare  # noqa: E402
from gluon_dl.models import get_config, get_model, list_models  # noqa: E402

RECURRENT = [n for n in list_models() if get_config(n).task == "language-model"
             and not n.endswith("scratch_lm")]
TEMPORAL_CONV = list_models("*tcn")


def _exported(name, tmp_path):
    mx.random.seed(0)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    path = onnx_export.export(net, tmp_path / f"{name}.onnx", verify=False)
    return net, path


def _short(config):
    """Token models at their test length (fewer steps to unroll, same rewrites).

    Their ONNX graphs leave the sequence axis free; other graphs have fixed shapes.
    """
    if "T" not in config.layout or config.test_input_shape is None:
        return config
    return config.replace(input_shape=config.test_input_shape)


def _run(path, inputs):
    session = ort.InferenceSession(str(path))
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def _ops(path):
    return {node.op_type for node in onnx.load(str(path)).graph.node}


@pytest.mark.parametrize("name", RECURRENT + TEMPORAL_CONV)
def test_rewritten_graph_computes_the_same(name, tmp_path):
    net, path = _exported(name, tmp_path)
    config = _short(net.config)
    fixed = prepare(path, tmp_path / "fixed.onnx", batch_size=1, config=config)
    x = [a[:1] for a in sample_inputs(config, n=1)]
    for got, want in zip(_run(fixed, x), _run(path, x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    ops = _ops(fixed)
    # what onnx2tf misconverts is gone
    assert not ops & {"RNN", "GRU", "LSTM", "OneHot", "Unsqueeze", "Shape"}
    shape = [d.dim_value for d in onnx.load(str(fixed)).graph.input[0].type.tensor_type.shape.dim]
    assert shape == [1] + list(config.input_shape)


def test_unrolled_lstm_matches_mxnet_step_by_step(tmp_path):
    """The unrolled graph against MXNet itself, on a batch of two sequences."""
    net, path = _exported("lstm_lm_bidirectional", tmp_path)
    config = _short(net.config)
    fixed = prepare(path, tmp_path / "fixed.onnx", batch_size=2, config=config)
    x = sample_inputs(config, n=2, seed=3)[0]
    want = net(mx.nd.array(x, dtype=x.dtype)).asnumpy()
    np.testing.assert_allclose(_run(fixed, [x])[0], want, rtol=1e-4, atol=1e-5)


def test_a_graph_without_fixed_shapes_keeps_its_recurrent_nodes(tmp_path):
    """With a free batch the steps cannot be unrolled; the graph stays valid."""
    net, path = _exported("gru_lm", tmp_path)
    fixed = prepare(path, tmp_path / "fixed.onnx", batch_size=None, config=None)
    assert "GRU" in _ops(fixed)
    x = sample_inputs(net.config, n=3)
    np.testing.assert_allclose(_run(fixed, x)[0], _run(path, x)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tcn", "lstm_lm"])
def test_tflite_float32_parity_after_rewrites(name, tmp_path):
    """tcn converted with the convolution on the wrong axis (max-abs diff 1.6) and the
    LSTM failed to convert before the rewrites."""
    pytest.importorskip("onnx2tf")
    from deploy.export import tflite
    from deploy.runtime import load
    net, _ = _exported(name, tmp_path)
    paths = tflite.export_many(net, tmp_path / "tfl", precisions=["float32"], verify=False)
    x = sample_inputs(net.config, n=4, seed=1)
    got = load(paths["float32"]).predict(*x, normalize=False)
    want = net(*[mx.nd.array(a, dtype=a.dtype) for a in x]).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _pooled(activation):
    """A stem ``conv -> [activation] -> MaxPool(3, 2, pad 1)`` as an exported ONNX model."""
    from mxnet.gluon import nn
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1))
    if activation:
        net.add(nn.Activation(activation))
    net.add(nn.MaxPool2D(3, 2, 1))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    return net


@pytest.mark.parametrize("activation,mode", [("relu", "constant"), (None, "edge")])
def test_padded_max_pool_is_padded_with_finite_values(activation, mode, tmp_path):
    """onnx2tf pads a MaxPool with -3.4e38, which int8 calibration takes for the tensor's
    range; the explicit Pad (zeros after a ReLU, the edge otherwise) gives the same maxima."""
    from gluon_dl.models import ModelConfig
    mx.random.seed(1)
    net = _pooled(activation)
    config = ModelConfig(name="stem", input_shape=(3, 9, 9), num_classes=None, task="features")
    path = onnx_export.export(net, tmp_path / "stem.onnx", config=config, verify=False)
    fixed = prepare(path, tmp_path / "fixed.onnx", batch_size=2, config=config)
    nodes = onnx.load(str(fixed)).graph.node
    pools = [n for n in nodes if n.op_type == "MaxPool"]
    pads = [n for n in nodes if n.op_type == "Pad"]
    assert len(pools) == 1 and not any(a.name == "pads" and any(a.ints)
                                       for a in pools[0].attribute)
    assert [onnx.helper.get_attribute_value(a).decode() for a in pads[0].attribute
            if a.name == "mode"] == [mode]
    x = np.random.RandomState(0).standard_normal((2, 3, 9, 9)).astype(np.float32)
    want = net(mx.nd.array(x)).asnumpy()
    if activation is None:
        assert (want < 0).any()  # negative maxima: zeros would have changed them
    np.testing.assert_allclose(_run(fixed, [x])[0], want, rtol=1e-5, atol=1e-6)
