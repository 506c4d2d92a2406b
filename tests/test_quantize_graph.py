"""What MXNet int8 runs: fused int8 convolutions end to end, float32 only where it pays."""
import json
from collections import Counter

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")

import deploy.quantize as quantize  # noqa: E402
from deploy import matrix  # noqa: E402
from deploy.quantize import quantize_mxnet  # noqa: E402


def _nodes(block):
    return [n for n in json.loads(block(mx.sym.var("data")).tojson())["nodes"]
            if n["op"] != "null"]


@pytest.fixture(scope="module")
def resnet():
    """ResNet-20 as the export matrix prepares it, and its int8 model."""
    net, _, _, calib = matrix.prepare_row("cifar_resnet20_v1")
    return net, calib[0], quantize_mxnet(net, calib[0])


def test_every_convolution_is_fused_int8_with_no_float_between_layers(resnet):
    net, _, qnet = resnet
    float_ops = Counter(n["op"] for n in _nodes(net))
    ops = Counter(n["op"] for n in _nodes(qnet))
    convs = [n for n in _nodes(qnet) if n["op"] == "_sg_mkldnn_conv"]
    assert len(convs) == float_ops["Convolution"] == 21
    # the two downsampling blocks' additions (a signed shortcut into a ReLU'd sum) stay
    # float32 with the convolution they fuse into; every other convolution is int8
    mixed = quantize._mixed_sign_sums(json.loads(net(mx.sym.var("data")).tojson())["nodes"])
    assert len(mixed) == 2
    float_convs = [n["name"] for n in convs if n["attrs"].get("quantized") != "true"]
    assert len(float_convs) == 2 and all("_add_" in name for name in float_convs)
    # BatchNorm, ReLU and the residual additions live inside the fused convolutions
    assert not {"BatchNorm", "Activation", "elemwise_add", "Convolution"} & set(ops)
    # one quantization at the input, one after each float island and the float pooling;
    # the dense layer writes float32 itself
    assert ops["_contrib_quantize_v2"] == 2 + len(mixed)
    assert ops["_contrib_dequantize"] == 1 + 2 * len(mixed)


def test_residual_additions_of_mixed_sign_keep_the_logits(resnet):
    """Fused into the int8 convolution, a signed shortcut added to a ReLU'd (unsigned)
    sum put ResNet-20's logits 23% of their range off; left in float32, 1%."""
    net, _, qnet = resnet
    x = mx.nd.array(matrix.sample_inputs(net.config, 32, seed=2)[0])
    ref, got = net(x).asnumpy(), qnet(x).asnumpy()
    assert np.abs(got - ref).max() / np.abs(ref).max() < 0.03


@pytest.mark.parametrize("name, sums", [("resnet18_v1", ["stage2", "stage3", "stage4"]),
                                        ("resnet18_v2", ["stage1"]),
                                        ("cifar_resnet20_v2", [])])
def test_mixed_sign_sums_are_found_by_the_shortcut_and_the_activation_after(name, sums):
    """v1: the downsampling shortcut (convolution + BatchNorm, signed) into a sum with a
    ReLU after; v2: the max pool's unsigned output into a sum with no ReLU after."""
    from gluon_dl.models import get_model
    net = get_model(name)
    found = quantize._mixed_sign_sums(json.loads(net(mx.sym.var("data")).tojson())["nodes"])
    assert [name.split("_")[-3] for name in found] == sums


def test_global_average_pool_stays_float32(resnet):
    nodes = json.loads(resnet[2](mx.sym.var("data")).tojson())["nodes"]
    pools = [n for n in nodes if n["op"] in ("Pooling", "_contrib_quantized_pooling")]
    # the block's prefix counts the networks built before it in the process
    assert [(p["op"], p["name"]) for p in pools] == [("Pooling", f"{resnet[0].prefix}pool0_fwd")]
    feeding = nodes[pools[0]["inputs"][0][0]]
    assert feeding["op"] == "_contrib_dequantize"


def test_other_poolings_stay_int8():
    from deploy.export._common import sample_inputs
    from gluon_dl.models import get_model
    net = get_model("lenet5")
    net.initialize()
    qnet = quantize_mxnet(net, sample_inputs(net.config, n=8)[0])
    ops = Counter(n["op"] for n in _nodes(qnet))
    assert ops["_contrib_quantized_pooling"] == 2 and "Pooling" not in ops


@pytest.mark.parametrize("quant_type, channel_wise", [("per-tensor", None),
                                                      ("per-channel", "True")])
def test_quant_type_sets_the_dense_layers_weight_scales(resnet, quant_type, channel_wise):
    net, calib, _ = resnet
    qnet = quantize_mxnet(net, calib[:16], quant_type=quant_type)
    dense = [n for n in _nodes(qnet) if n["op"] == "_sg_mkldnn_fully_connected"]
    assert len(dense) == 1
    assert dense[0]["attrs"].get("channel_wise_quantize") == channel_wise


def test_int8_model_agrees_with_float32(resnet):
    net, calib, qnet = resnet
    x = mx.nd.array(matrix.sample_inputs(net.config, 32, seed=2)[0])
    ref, got = net(x).asnumpy(), qnet(x).asnumpy()
    assert (ref.argmax(1) == got.argmax(1)).mean() >= 0.9


def _logit_error(net, qnet, x):
    ref, got = net(x).asnumpy(), qnet(x).asnumpy()
    spread = ((ref - ref.mean(1, keepdims=True)) ** 2).mean()
    return float(np.sqrt(((got - ref) ** 2).mean() / spread)), (ref.argmax(1) == got.argmax(1))


@pytest.mark.slow
def test_float_global_pool_keeps_densenet_within_the_matrix_tolerance(monkeypatch):
    """DenseNet's classifier read its pooled input at half resolution; in float32 it does not."""
    net, config, _, calib = matrix.prepare_row("densenet_d2l")
    x = mx.nd.array(matrix.sample_inputs(config, 256, seed=7)[0])
    error, agree = _logit_error(net, quantize_mxnet(net, calib[0]), x)
    monkeypatch.setattr(quantize, "_global_average_pools", lambda nodes: [])
    error_int8_pool, _ = _logit_error(net, quantize_mxnet(net, calib[0]), x)
    assert agree.mean() >= 0.95
    assert error < 0.9 * error_int8_pool


def test_an_int8_model_far_from_float32_is_reported(caplog):
    """MXNet 1.9.1's oneDNN fusion computes CIFAR ResNet v2 wrong (half of the largest logit
    of the export matrix's cifar_resnet56_v2, float32 included); quantize_mxnet measures
    and says so."""
    net, _, _, calib = matrix.prepare_row("cifar_resnet56_v2")
    with caplog.at_level("WARNING", logger="gluon_dl.quantize"):
        qnet = quantize_mxnet(net, calib[0])
    assert qnet.calibration_error > quantize.SUSPECT_ERROR
    assert "MXNET_DISABLE_MKLDNN_FUSE_CONV_BN" in caplog.text and "cifar_resnet56_v2" in caplog.text


def test_an_int8_model_close_to_float32_is_not_reported(resnet):
    assert resnet[2].calibration_error < 0.05
