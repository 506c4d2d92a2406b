"""Multi-head attention through the ONNX rewrites and onnx2tf: the same numbers as MXNet.

The head split ``Reshape(Dense(X), (0, 0, heads, -1))`` follows the Reshape
that ``Dense(flatten=False)`` exports; onnxsim's Reshape fusion dropped that
one although the ``0`` codes copy its axes, and onnx2tf then failed on the
head split.  The cheap tests run the rewritten graphs in onnxruntime; the
conversions through onnx2tf of the registered attention models are ``slow``.
"""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxsim")

from mxnet.gluon import nn  # noqa: E402

from deploy.export import onnx as onnx_export  # noqa: E402
from deploy.export._common import sample_inputs  # noqa: E402
from deploy.export._graphfix import prepare  # noqa: E402
from gluon_dl.config import token_config, token_input, valid_length_input  # noqa: E402
from gluon_dl.models import get_model, list_models  # noqa: E402
from gluon_dl.models.layers.attention import MultiHeadAttention  # noqa: E402

# onnx2tf keeps 4-D tensors channels-last and tells whether one is transposed by its
# shape: scores (N, heads, Q, K) with heads == Q == K convert to other numbers, so
# every size differs here.
Q_STEPS, K_STEPS, VOCAB, WIDTH, HEADS = 5, 7, 20, 12, 3


def _contains(block, cls):
    return isinstance(block, cls) or any(_contains(c, cls) for c in block._children.values())


ATTENTION_MODELS = [n for n in list_models() if _contains(get_model(n), MultiHeadAttention)]


class _Attending(nn.HybridBlock):
    """Embedded queries attend to embedded keys (masked), then to themselves."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.embedding = nn.Embedding(VOCAB, WIDTH)
            self.cross = MultiHeadAttention(WIDTH, HEADS, use_bias=True)
            self.self_attention = MultiHeadAttention(WIDTH, HEADS)

    def hybrid_forward(self, F, queries, keys, valid_len):
        Q, K = self.embedding(queries), self.embedding(keys)
        Y = self.cross(Q, K, K, valid_len)
        return self.self_attention(Y, Y, Y)


def _he(net):
    mx.random.seed(0)
    net.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    net.hybridize()
    return net


def _attending():
    config = token_config("attending", Q_STEPS, VOCAB, input_name="data0", task="regression",
                          extra_inputs=(token_input("data1", K_STEPS, VOCAB),
                                        valid_length_input("data2", K_STEPS)))
    return _he(_Attending()), config


def _mxnet(net, inputs):
    out = net(*[mx.nd.array(x, dtype=x.dtype) for x in inputs])
    return [o.asnumpy() for o in (out if isinstance(out, (list, tuple)) else [out])]


def _run(path, inputs):
    session = ort.InferenceSession(str(path))
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def _assert_relative(got, want, tol):
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert np.abs(g - w).max() <= tol * np.abs(w).max(), np.abs(g - w).max()


def _copying_reshapes(path):
    """Reshape targets of ``path`` that still copy input axes (code 0)."""
    from onnx import numpy_helper
    model = onnx.load(str(path))
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [n.name for n in model.graph.node
            if n.op_type == "Reshape" and n.input[1] in consts and (consts[n.input[1]] == 0).any()]


def test_flatten_then_head_split_keeps_its_shape_through_simplification(tmp_path):
    """The pattern MXNet emits, alone: (1, 3, 8) -> (3, 8) @ W -> (1, 3, 8) -> (0, 0, 2, -1)."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(0)
    w = rng.randn(8, 8).astype(np.float32)
    consts = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
              (("flat", [-1, 8]), ("back", [1, 3, 8]), ("heads", [0, 0, 2, -1]))]
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "flat"], ["x2"]),
         helper.make_node("MatMul", ["x2", "w"], ["y2"]),
         helper.make_node("Reshape", ["y2", "back"], ["y"]),
         helper.make_node("Reshape", ["y", "heads"], ["z"])],
        "head_split", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 3, 2, 4])],
        [numpy_helper.from_array(w, "w")] + consts)
    source = tmp_path / "split.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(source))
    fixed = prepare(source, tmp_path / "fixed.onnx", batch_size=1)
    x = rng.randn(1, 3, 8).astype(np.float32)
    got = _run(fixed, [x])[0]
    np.testing.assert_allclose(got, (x @ w).reshape(1, 3, 2, 4), rtol=1e-6, atol=1e-6)
    assert not _copying_reshapes(fixed)


def test_rewritten_attention_graph_computes_what_mxnet_does(tmp_path):
    net, config = _attending()
    path = onnx_export.export(net, tmp_path / "attending.onnx", config=config, verify=False)
    fixed = prepare(path, tmp_path / "fixed.onnx", batch_size=1, config=config)
    inputs = [a[:1] for a in sample_inputs(config, n=1, seed=3)]
    _assert_relative(_run(fixed, inputs), _mxnet(net, inputs), 1e-5)
    assert not _copying_reshapes(fixed)


@pytest.mark.parametrize("name", ATTENTION_MODELS)
def test_registered_attention_models_rewrite_to_the_same_numbers(name, tmp_path):
    """Smoke form of the slow conversions below: the graph onnx2tf is given."""
    net = _he(get_model(name))
    path = onnx_export.export(net, tmp_path / f"{name}.onnx", verify=False)
    fixed = prepare(path, tmp_path / "fixed.onnx", batch_size=1, config=net.config)
    inputs = [a[:1] for a in sample_inputs(net.config, n=1, seed=2)]
    _assert_relative(_run(fixed, inputs), _mxnet(net, inputs), 1e-5)
    assert not _copying_reshapes(fixed)


def _tflite(net, config, out, precisions):
    pytest.importorskip("onnx2tf")
    from deploy.export import tflite
    from deploy.runtime import load
    paths = tflite.export_many(net, out, precisions=precisions, config=config, verify=False)
    return {p: load(path) for p, path in paths.items()}


def _predict(predictor, inputs):
    got = predictor.predict(*inputs, normalize=False)
    return [np.asarray(g) for g in (got if isinstance(got, (list, tuple)) else [got])]


def test_tflite_float32_attention_block_matches_mxnet(tmp_path):
    net, config = _attending()
    predictor = _tflite(net, config, tmp_path, ["float32"])["float32"]
    inputs = sample_inputs(config, n=4, seed=1)
    _assert_relative(_predict(predictor, inputs), _mxnet(net, inputs), 1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ATTENTION_MODELS)
def test_tflite_attention_models_match_mxnet(name, tmp_path):
    """float32 within 1e-4 and float16 within 1e-2 (relative); dynamic-range int8 runs."""
    net = _he(get_model(name))
    predictors = _tflite(net, net.config, tmp_path, ["float32", "float16", "dynamic_range"])
    inputs = sample_inputs(net.config, n=4, seed=1)
    want = _mxnet(net, inputs)
    _assert_relative(_predict(predictors["float32"], inputs), want, 1e-4)
    _assert_relative(_predict(predictors["float16"], inputs), want, 1e-2)
    quantized = _predict(predictors["dynamic_range"], inputs)
    assert [q.shape for q in quantized] == [w.shape for w in want]
    assert all(np.isfinite(q).all() for q in quantized)
