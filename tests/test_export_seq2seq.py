"""Encoder-decoder models to ONNX and TFLite: every input keeps its own shape, same numbers.

Fast tests export short models (3 decoder steps, same blocks) to ONNX and run
the graph that onnx2tf receives in onnxruntime; the conversions through
onnx2tf at the config's length are ``slow``.
"""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxsim")

from onnx import TensorProto, helper  # noqa: E402

from deploy.export import onnx as onnx_export  # noqa: E402
from deploy.export._common import sample_inputs  # noqa: E402
from deploy.export._graphfix import prepare  # noqa: E402
from gluon_dl.config import ModelConfig  # noqa: E402
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.models.seq2seq import seq2seq_spec  # noqa: E402

SEQ2SEQ = sorted(seq2seq_spec)  # the GRU encoder-decoders (the Transformer has its own tests)
SHORT_STEPS = 3


def _model(name, **kwargs):
    """He-initialized from a fixed seed, as the export matrix builds it."""
    mx.random.seed(0)
    net = get_model(name, **kwargs)
    net.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    net.hybridize()
    return net


def _mxnet(net, inputs):
    return net(*[mx.nd.array(a, dtype=a.dtype) for a in inputs]).asnumpy()


def _run(path, inputs):
    session = ort.InferenceSession(str(path))
    return session.run(None, {i.name: a for i, a in zip(session.get_inputs(), inputs)})


def _relative_error(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


def _input_shapes(path):
    return {value.name: [d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim]
            for value in onnx.load(str(path)).graph.input}


@pytest.fixture(scope="module", params=SEQ2SEQ)
def exported(request, tmp_path_factory):
    net = _model(request.param, num_steps=SHORT_STEPS)
    path = onnx_export.export(net, tmp_path_factory.mktemp(request.param) / "model.onnx",
                              verify=False)
    return net, path


def test_onnx_matches_mxnet_with_each_input_in_its_own_shape(exported):
    """The attention decoder's graph lists the source lengths before the decoder tokens;
    shapes handed to mx2onnx in call order give the lengths the tokens' shape (batch_dot fails)."""
    net, path = exported
    shapes = _input_shapes(path)
    assert list(shapes) == net.config.input_names
    assert shapes["data2"] == ["N"]  # source valid lengths: one per example
    assert [len(shapes[n]) for n in ("data0", "data1")] == [2, 2]
    x = sample_inputs(net.config, n=3, seed=1)
    assert _relative_error(_run(path, x)[0], _mxnet(net, x)) <= 1e-4


def test_graph_for_onnx2tf_computes_the_same_without_splitting_a_concat(exported, tmp_path):
    """Smoke form of the TFLite conversion: the rewritten graph onnx2tf receives."""
    net, path = exported
    fixed = prepare(path, tmp_path / "fixed.onnx", batch_size=1, config=net.config)
    x = sample_inputs(net.config, n=1, seed=2)
    assert _relative_error(_run(fixed, x)[0], _mxnet(net, x)) <= 1e-4
    graph = onnx.load(str(fixed)).graph
    concats = {o for node in graph.node if node.op_type == "Concat" for o in node.output}
    # the encoder's stacked states are no longer split or sliced apart again
    assert not [node.name for node in graph.node
                if node.op_type in ("Split", "Slice") and node.input[0] in concats]


def _concat_then_split_and_slices():
    """``Concat`` of three ``(1, 1, 4)`` pieces on axis 0, taken apart three ways."""
    piece = [1, 1, 4]
    ints = lambda name, v: helper.make_tensor(name, TensorProto.INT64, [len(v)], v)  # noqa: E731
    nodes = [
        helper.make_node("Concat", ["a", "b", "c"], ["stack"], axis=0),
        helper.make_node("Split", ["stack"], ["sa", "sb", "sc"], axis=0),
        helper.make_node("Slice", ["stack", "last", "end", "axis0"], ["last_c"]),
        helper.make_node("Slice", ["stack", "zero", "two", "axis0"], ["sab"]),  # a and b
    ]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [size, 1, 4])
               for n, size in (("sa", 1), ("sb", 1), ("sc", 1), ("last_c", 1), ("sab", 2))]
    graph = helper.make_graph(
        nodes, "stack", [helper.make_tensor_value_info(n, TensorProto.FLOAT, piece)
                         for n in "abc"], outputs,
        initializer=[ints("last", [-1]), ints("end", [3]),
                     ints("axis0", [0]), ints("zero", [0]), ints("two", [2])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_pieces_of_a_concat_are_read_from_its_inputs(tmp_path):
    path = tmp_path / "stack.onnx"
    onnx.save(_concat_then_split_and_slices(), str(path))
    fixed = prepare(path, tmp_path / "fixed.onnx", batch_size=1)
    rng = np.random.RandomState(0)
    x = [rng.randn(1, 1, 4).astype(np.float32) for _ in range(3)]
    for got, want in zip(_run(fixed, x), _run(path, x)):
        np.testing.assert_array_equal(got, want)
    ops = [node.op_type for node in onnx.load(str(fixed)).graph.node]
    # only the Slice over a and b, which spans two inputs, is left
    assert ops.count("Split") == 0 and ops.count("Slice") == 1


class _SecondInputFirst(mx.gluon.HybridBlock):
    """Reads its second input first, so the graph lists ``data1`` before ``data0``."""

    def hybrid_forward(self, F, x, y):
        return F.broadcast_add(F.sum(y, axis=1, keepdims=True), x)


def test_inputs_keep_their_shapes_whatever_order_the_graph_lists_them(tmp_path):
    config = ModelConfig(name="late", input_shape=(3,), layout="NC", input_name="data0",
                         extra_inputs=[("data1", (5,))], task="regression")
    net = _SecondInputFirst()
    net.initialize()
    net.hybridize()
    path = onnx_export.export(net, tmp_path / "late.onnx", config=config)  # verifies
    assert _input_shapes(path) == {"data0": ["N", 3], "data1": ["N", 5]}


@pytest.mark.slow
@pytest.mark.parametrize("name", SEQ2SEQ)
def test_tflite_float_parity_and_dynamic_range_int8(name, tmp_path):
    """Before the rewrite onnx2tf failed on the decoder's Split of the encoder states."""
    pytest.importorskip("onnx2tf")
    from deploy.export import tflite
    from deploy.runtime import load
    net = _model(name)
    paths = tflite.export_many(net, tmp_path / "tfl", verify=False,
                               precisions=["float32", "float16", "dynamic_range"])
    x = sample_inputs(net.config, n=4, seed=1)
    want = _mxnet(net, x)
    got = {p: load(path).predict(*x, normalize=False) for p, path in paths.items()}
    assert _relative_error(got["float32"], want) <= 1e-4
    assert _relative_error(got["float16"], want) <= 1e-2
    # int8 weights: reported by the export matrix, not judged; it must run and stay finite
    assert got["dynamic_range"].shape == want.shape
    assert np.isfinite(got["dynamic_range"]).all()
