"""MXNet int8 refuses, in one clear message, the models oneDNN cannot quantize."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")

from deploy.export._common import sample_inputs  # noqa: E402
from deploy.quantize import quantize_mxnet  # noqa: E402
from gluon_dl.errors import ConversionError  # noqa: E402
from gluon_dl.models import get_config, get_model, list_models  # noqa: E402

UNCALIBRATABLE = [n for n in list_models()
                  if len(get_config(n).inputs) > 1 or not get_config(n).takes_floats]


@pytest.mark.parametrize("name", UNCALIBRATABLE)
def test_several_inputs_or_token_ids_are_refused(name):
    net = get_model(name)
    net.initialize()
    with pytest.raises(ConversionError, match="dynamic-range int8") as info:
        quantize_mxnet(net, np.zeros((2,) + tuple(net.config.input_shape), np.float32))
    assert name in str(info.value)


def test_recurrent_layer_is_refused_by_name():
    net = get_model("crnn")
    net.initialize()
    calib = sample_inputs(net.config.replace(input_shape=net.config.test_input_shape), n=2)[0]
    with pytest.raises(ConversionError, match=r"recurrent layer '\w+' \(operator RNN\)"):
        quantize_mxnet(net, calib)


def _graph_ops(net):
    import json
    sym = net(*[mx.sym.var(n) for n in net.config.input_names])
    sym = sym[0] if isinstance(sym, (list, tuple)) else sym
    return {node["op"] for node in json.loads(sym.tojson())["nodes"]}


def _transposed_convolution_models():
    from deploy.quantize import _UNQUANTIZABLE
    names = []
    for name in list_models():
        if name in UNCALIBRATABLE:
            continue
        ops = _graph_ops(get_model(name))
        if "Deconvolution" in ops and not ops & set(_UNQUANTIZABLE):
            names.append(name)
    return names


@pytest.mark.parametrize("name", _transposed_convolution_models())
def test_transposed_convolutions_quantize_after_a_call_at_another_batch_size(name):
    """The calibration runs batches of 8 after the probe's batch of one; DCGAN's
    transposed convolution refused the second batch size in oneDNN."""
    mx.random.seed(0)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    calib = sample_inputs(net.config, n=16, seed=1)[0]
    net(mx.nd.array(calib[:1]))
    qnet = quantize_mxnet(net, calib, batch_size=8, calib_mode="naive")
    want = net(mx.nd.array(calib)).asnumpy()
    got = qnet(mx.nd.array(calib)).asnumpy()
    assert np.abs(got - want).max() / np.abs(want).max() < 0.1


def test_mxnet_failures_are_reported_without_mxnet_traceback():
    from gluon_dl.errors import mxnet_reason
    exc = mx.base.MXNetError('Traceback (most recent call last):\n  File "../src/operator/'
                             'nn/mkldnn/mkldnn_deconvolution.cc", line 118\nMXNetError: Check '
                             'failed: weights.GetMKLDNNData()->get_desc() == x: ')
    assert mxnet_reason(exc) == "Check failed: weights.GetMKLDNNData()->get_desc() == x:"
    assert mxnet_reason(mx.base.MXNetError("")) == "MXNetError"
