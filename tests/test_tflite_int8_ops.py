"""What the full-integer TFLite exporter emits for MobileNet v2's building blocks.

The int8 file's speed rests on its operators: every convolution int8 with its
ReLU6 fused, per-channel weight scales, no Quantize/Dequantize pair and no
MINIMUM/MAXIMUM between layers, and one XNNPACK partition covering the graph
(an operator XNNPACK refuses runs in TFLite's slower builtin kernels).
"""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
pytest.importorskip("onnx2tf")
tf = pytest.importorskip("tensorflow")

from mxnet.gluon import nn  # noqa: E402

from deploy.export import tflite as tflite_export  # noqa: E402
from gluon_dl.models import ModelConfig  # noqa: E402
from gluon_dl.models.layers.conv import ReLU6, conv_bn_act  # noqa: E402
from gluon_dl.models.mobilenet import InvertedResidual  # noqa: E402

# operators an int8 MobileNet v2 needs; anything else is a conversion that left a layer
# in float, split an activation off its convolution or requantizes between layers
ALLOWED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "PAD", "MEAN", "RESHAPE"}
RELU6 = 3  # tflite ActivationFunctionType.RELU6


def _block():
    """Stem, an inverted residual with shortcut, a strided one, the 1x1 head and classifier."""
    net = nn.HybridSequential()
    net.add(conv_bn_act(8, 3, 2, 1, activation="relu6"),
            InvertedResidual(8, 8, 2, 1),
            InvertedResidual(8, 16, 2, 2),
            conv_bn_act(32, 1, activation="relu6"),
            nn.GlobalAvgPool2D(),
            nn.Conv2D(4, 1, use_bias=False),
            nn.Flatten())
    return net


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    mx.random.seed(3)
    net = _block()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    config = ModelConfig(name="mbv2_block", input_shape=(3, 16, 16), mean=(0.5, 0.5, 0.5),
                         std=(0.25, 0.25, 0.25), num_classes=4, labels=("a", "b", "c", "d"))
    calib = np.random.RandomState(0).standard_normal((16, 3, 16, 16)).astype(np.float32)
    out = tmp_path_factory.mktemp("int8_ops")
    path = tflite_export.export(net, out / "block_int8.tflite", precision="int8", config=config,
                                calib_data=calib, verify=False)
    return net, path


def _operators(path):
    from tensorflow.lite.tools import flatbuffer_utils
    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    return model, graph, [(flatbuffer_utils.opcode_to_name(model, op.opcodeIndex), op)
                          for op in graph.operators]


def test_int8_file_has_only_int8_operators(int8_model):
    from tensorflow.lite.python import schema_py_generated as schema
    _, path = int8_model
    _, graph, ops = _operators(path)
    names = {name for name, _ in ops}
    assert names <= ALLOWED_OPS, f"unexpected operators {sorted(names - ALLOWED_OPS)}"
    for name, op in ops:
        activations = [op.inputs[0]] + list(op.outputs)
        types = {graph.tensors[i].type for i in activations}
        assert types == {schema.TensorType.INT8}, (name, types)


def test_relu6_is_fused_into_its_convolution(int8_model):
    net, path = int8_model
    _, _, ops = _operators(path)
    convs = [op for name, op in ops if name in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    fused = [op for op in convs if op.builtinOptions.fusedActivationFunction == RELU6]
    relu6 = sum(isinstance(block, ReLU6) for block in _leaves(net))
    assert relu6 == 6  # stem, two expansions, two depthwise, the 1x1 head
    assert len(fused) == relu6
    # the same convolutions as the block (+ two projections and the classifier): no
    # activation was split off into a layer of its own
    assert len(convs) == sum(isinstance(block, nn.Conv2D) for block in _leaves(net)) == 9


def _leaves(block):
    children = list(block._children.values())
    if not children:
        return [block]
    return [leaf for child in children for leaf in _leaves(child)]


def test_weights_are_quantized_per_output_channel(int8_model):
    _, path = int8_model
    _, graph, ops = _operators(path)
    for name, op in ops:
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        weights = graph.tensors[op.inputs[1]]
        channels = weights.shape[3] if name == "DEPTHWISE_CONV_2D" else weights.shape[0]
        assert len(weights.quantization.scale) == channels, (name, list(weights.shape))


def test_litert_runs_the_whole_graph_in_xnnpack(int8_model):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    _, path = int8_model
    interpreter = litert.Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    details = interpreter._get_ops_details()
    delegated = [d for d in details if d["op_name"] == "DELEGATE"]
    assert len(delegated) == 1, "XNNPACK split the graph or refused operators"
    assert list(delegated[0]["outputs"]) == [interpreter.get_output_details()[0]["index"]]
    assert interpreter.get_input_details()[0]["index"] in delegated[0]["inputs"]


@pytest.mark.parametrize("activation", ["relu", None])
def test_padded_max_pool_keeps_int8_scales_finite(activation, tmp_path):
    """ResNet's stem ``conv -> ReLU -> MaxPool(3, 2, pad 1)``: onnx2tf padded the pool with
    -3.4e38, calibration took that for the range of the convolution's output (scale 1.3e36,
    every activation one code) and the file aborted the interpreter."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    mx.random.seed(5)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), nn.BatchNorm())
    if activation:
        net.add(nn.Activation(activation))
    net.add(nn.MaxPool2D(3, 2, 1), nn.Conv2D(8, 3, padding=1, activation="relu"),
            nn.GlobalAvgPool2D(), nn.Dense(4))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    config = ModelConfig(name="stem", input_shape=(3, 16, 16), mean=(0.5, 0.5, 0.5),
                         std=(0.25, 0.25, 0.25), num_classes=4)
    calib = np.random.RandomState(0).standard_normal((32, 3, 16, 16)).astype(np.float32)
    path = tflite_export.export(net, tmp_path / "stem_int8.tflite", precision="int8",
                                config=config, calib_data=calib, verify=False)
    _, graph, ops = _operators(path)
    scales = [s for t in graph.tensors if t.quantization is not None
              and t.quantization.scale is not None for s in t.quantization.scale]
    assert max(scales) < 1.0, max(scales)  # activations of order one, weights smaller
    assert "PADV2" not in {name for name, _ in ops}
    interpreter = litert.Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    want = net(mx.nd.array(calib[:8])).asnumpy()
    got = []
    for x in calib[:8]:
        scale, zero = inp["quantization"]
        q = np.clip(np.round(x.transpose(1, 2, 0)[None] / scale + zero), -128, 127)
        interpreter.set_tensor(inp["index"], q.astype(np.int8))
        interpreter.invoke()
        scale, zero = out["quantization"]
        got.append((interpreter.get_tensor(out["index"]).astype(np.float32) - zero) * scale)
    got = np.concatenate(got)
    rel = np.abs(got - want).max() / np.abs(want).max()
    assert rel < 0.1, rel
