import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from deploy.quantize import quantize_mxnet  # noqa: E402
from gluon_dl.errors import (ArgumentError, GluonDLError, InputShapeError,  # noqa: E402
                             NonFiniteError)


@pytest.fixture(scope="module")
def quantized(trained_lenet):
    net, X_te, y_te, calib = trained_lenet
    return quantize_mxnet(net, calib, num_calib_examples=200)


def test_int8_model_holds_int8_weights_and_runs_int8_ops(quantized):
    params = quantized.collect_params()
    int8 = [n for n, p in params.items() if p.data().dtype == np.int8]
    assert int8, "no int8 weights in the quantized model"
    ops = {node["op"] for node in __import__("json").loads(quantized._cached_graph[1].tojson())["nodes"]
           } if getattr(quantized, "_cached_graph", None) else set()
    sym_json = quantized(mx.sym.var("data")).tojson()
    assert "quantize" in sym_json and ("_sg_mkldnn_conv" in sym_json or "quantized" in sym_json), ops


def test_int8_accuracy_within_a_point_of_fp32(trained_lenet, quantized):
    net, X_te, y_te, _ = trained_lenet
    x = mx.nd.array(X_te)
    ref = net(x).asnumpy().argmax(1)
    got = quantized(x).asnumpy().argmax(1)
    assert (got == ref).mean() >= 0.98
    assert (got == y_te).mean() >= (ref == y_te).mean() - 0.01


def test_bad_calibration_data_is_named(trained_lenet):
    net = trained_lenet[0]
    with pytest.raises(GluonDLError, match=r"calibration inputs shaped \(N, ...\); got an array of shape \(0,\)"):
        quantize_mxnet(net, np.zeros((0,), np.float32))
    with pytest.raises(ArgumentError, match="calib_mode"):
        quantize_mxnet(net, np.zeros((4, 1, 28, 28), np.float32), calib_mode="magic")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(quantized_dtype="int4"), ArgumentError, "quantized_dtype must be one of"),
    (dict(quant_type="per-layer"), ArgumentError, "quant_type must be one of"),
    (dict(batch_size=0), ArgumentError, "batch_size must be a positive integer"),
    (dict(num_calib_examples=-1), ArgumentError, "num_calib_examples must be a positive"),
])
def test_bad_arguments_are_refused_before_any_work(kwargs, error, match):
    with pytest.raises(error, match=match):
        quantize_mxnet(None, np.zeros((4, 1, 28, 28), np.float32), **kwargs)


def test_non_finite_or_non_numeric_calibration_data_is_refused():
    calib = np.zeros((4, 1, 28, 28), np.float32)
    calib[3, 0, 0, 0] = np.inf
    with pytest.raises(NonFiniteError, match=r"calibration samples \[3\] hold NaN or Inf"):
        quantize_mxnet(None, calib)
    with pytest.raises(InputShapeError, match="dtype <U1"):
        quantize_mxnet(None, np.array([["a"]]))
