"""Post-training int8 quantization of Gluon models with MXNet (oneDNN).

The result is an MXNet ``SymbolBlock`` whose convolutions and dense layers run
int8 kernels on CPU; export it with :func:`deploy.export.mxnet.export`.
TFLite int8 is produced by the TFLite exporter instead (its own calibration).

What runs: MXNet's oneDNN pass fuses every convolution with the BatchNorm, the
activation (ReLU, or the ``clip`` of ReLU6) and the residual addition that
follow it, and each fused convolution runs oneDNN's VNNI int8 kernel on
channels-last int8/uint8 tensors, requantizing its output to the calibrated
range inside the kernel. Such a convolution folds the BatchNorm at load time
and quantizes its weights per output channel then, so the exported file keeps
convolution weights in float32; dense layers store int8 weights.
"""
import logging
import warnings

import numpy as np

from gluon_dl.errors import (ArgumentError, ConversionError, InputShapeError, NonFiniteError,
                             mxnet_reason)

CALIB_MODES = ("naive", "entropy", "none")
QUANTIZED_DTYPES = ("auto", "int8", "uint8")
# our spelling (as in deploy.export.tflite) -> MXNet's quantize_granularity
_GRANULARITY = {"per-tensor": "tensor-wise", "per-channel": "channel-wise"}
QUANT_TYPES = tuple(_GRANULARITY)


class _CalibLoader:
    """Yields ``(data, label)`` batches, the pairs ``quantize_net`` expects.

    ``quantize_net`` fails with "Data must be list of NDArrays" on a loader
    that yields the data alone, so labels (zeros) are paired in here.
    """

    def __init__(self, X, batch_size):
        self.X, self.batch_size = X, batch_size

    def __len__(self):
        return -(-len(self.X) // self.batch_size)

    def __iter__(self):
        import mxnet as mx
        for i in range(0, len(self.X), self.batch_size):
            xb = self.X[i:i + self.batch_size]
            yield mx.nd.array(xb), mx.nd.zeros((len(xb),))


def quantize_mxnet(net, calib_data, *, batch_size=64, num_calib_examples=None,
                   calib_mode="naive", quantized_dtype="auto", exclude_layers=None,
                   exclude_operators=None, quant_type="per-tensor", ctx=None):
    """Quantize ``net`` to int8 with MXNet's post-training quantization.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
        A trained fp32 network; it is hybridized and run once here.
    calib_data : numpy.ndarray
        Normalized inputs in the model's layout (N, C, H, W), used to collect
        the activation ranges (``calib_mode="naive"`` takes min/max,
        ``"entropy"`` minimizes KL divergence).
    batch_size : int
    num_calib_examples : int, optional
        Cap on the calibration samples (default: all of ``calib_data``).
    calib_mode : {"naive", "entropy", "none"}
        ``"none"`` computes ranges at run time (slower inference).
    quantized_dtype : {"auto", "int8", "uint8"}
    exclude_layers, exclude_operators : list of str, optional
        Symbol names / operator names to keep in fp32. A global average
        pooling and residual additions of mixed sign are always kept in
        float32 (see Notes).
    quant_type : {"per-tensor", "per-channel"}
        Weight scales of the dense layers: one per layer, or one per output
        unit. Fused convolutions get per-channel weight scales from oneDNN
        either way (MXNet 1.9 applies this setting to dense layers only).
        Neither wins everywhere: per-channel lowers the logits' error, yet
        agreed with float32 on 1-2 points fewer DenseNet decisions and 1 point
        more LeNet-5 ones in the export matrix's setting.
    ctx : mxnet.Context, optional
        Only CPU has int8 kernels in the MXNet builds gluon-dl supports.

    Returns
    -------
    mxnet.gluon.SymbolBlock
        With ``calibration_error``: max |int8 - float32| / max |float32| of
        the first output on (up to 32 of) the calibration samples; above
        ``SUSPECT_ERROR`` a warning is logged.

    Raises
    ------
    ArgumentError
        For an unknown ``calib_mode``/``quantized_dtype``/``quant_type`` or a non-positive
        count.
    InputShapeError, NonFiniteError
        For calibration data that is not a numeric ``(N, ...)`` array, or holds NaN/Inf.
    ConversionError
        When MXNet's quantization pass fails; the message names the layer.

    Notes
    -----
    MXNet's int8 pooling passes its input's range on to its output. For a
    global average that range is far wider than the averages' (a mean of 64
    values spans a fraction of their extremes), so the classifier after it
    would read its input at a fraction of int8's resolution: on the export
    matrix's DenseNet this one layer cost 3 points of top-1 agreement with
    float32. Averaged in float32, the classifier's input is quantized again
    with its own calibrated range; the cost is one dequantization of the last
    feature map.

    Residual additions whose shortcut has another sign than the sum (after a
    ReLU or not) are also kept in float32: MXNet 1.9's int8 additions computed
    them wrong (see ``_mixed_sign_sums``).
    """
    _check_arguments(calib_mode, quantized_dtype, quant_type, batch_size, num_calib_examples)
    import mxnet as mx
    from mxnet.contrib import quantization

    ctx = ctx or mx.cpu()
    _check_inputs(net)
    net = _single_input(net)
    calib = _calibration_array(calib_data)
    exclude_layers, exclude_operators = _check_quantizable(net, calib[:1], exclude_layers,
                                                           exclude_operators)
    n = len(calib) if num_calib_examples is None else min(num_calib_examples, len(calib))
    loader = _CalibLoader(calib[:n], min(batch_size, n))
    logger = logging.getLogger("gluon_dl.quantize")
    try:
        with _quiet_mxnet():
            qnet = quantization.quantize_net_v2(
                net, quantized_dtype=quantized_dtype, quantize_mode="full",
                quantize_granularity=_GRANULARITY[quant_type],
                exclude_layers=exclude_layers, exclude_operators=exclude_operators,
                calib_data=loader, calib_mode=calib_mode, num_calib_examples=n, ctx=ctx,
                logger=logger)
    except mx.base.MXNetError as exc:
        raise ConversionError(f"MXNet int8 quantization failed: {mxnet_reason(exc)}; exclude "
                              f"the layer it names with exclude_layers=[...] or quantize on "
                              f"CPU") from exc
    qnet.hybridize(static_alloc=True, static_shape=True)
    qnet.calibration_error = _calibration_error(net, qnet, calib[:min(n, 32)])
    if qnet.calibration_error > SUSPECT_ERROR:
        name = getattr(getattr(net, "config", None), "name", type(net).__name__)
        logger.warning(
            "the int8 model of %s differs from float32 by %.0f%% of the largest output on "
            "its calibration samples (MXNet int8 usually stays within 5%%): check it before "
            "deploying. MXNet 1.9.1's oneDNN fusion computes some graphs wrong in float32 "
            "too (CIFAR ResNet v2: start the process with MXNET_DISABLE_MKLDNN_FUSE_CONV_BN=1)",
            name, 100 * qnet.calibration_error)
    return qnet


# Relative error on the calibration samples above which quantize_mxnet warns.
SUSPECT_ERROR = 0.2


def _calibration_error(net, qnet, X):
    """max |int8 - float32| / max |float32| of the first output on ``X``."""
    import mxnet as mx
    x = mx.nd.array(X)
    ref, got = net(x), qnet(x)
    ref = (ref[0] if isinstance(ref, (list, tuple)) else ref).asnumpy()
    got = (got[0] if isinstance(got, (list, tuple)) else got).asnumpy()
    scale = float(np.abs(ref).max())
    return float(np.abs(got - ref).max()) / scale if scale > 0 else 0.0


# Operators oneDNN's int8 pass cannot take: recurrent layers, lookups of integer
# ids and the batched products of attention stay float in MXNet 1.9, and the
# calibration of the rest of such a graph is unreliable.
_UNQUANTIZABLE = {"RNN": "recurrent layer", "Embedding": "embedding lookup",
                  "one_hot": "one-hot encoding of ids", "batch_dot": "attention product",
                  "_contrib_interleaved_matmul_selfatt_qk": "attention product"}
# MXNet's quantized elemwise_mul takes only int8 inputs and dies on the uint8
# output of a ReLU (MobileNetV3's squeeze-excitation gates); it stays float.
_ALWAYS_FLOAT = ("elemwise_mul",)


def _single_input(net):
    """``net``, a SymbolBlock behind a block that takes exactly one input.

    quantize_net calls the network with ``(data, label)`` and drops the label
    on the TypeError a one-input block raises; a SymbolBlock raises none, but
    caches that two-argument call, and every later call fails.
    """
    import mxnet as mx
    if not isinstance(net, mx.gluon.SymbolBlock):
        return net

    class SingleInput(mx.gluon.HybridBlock):
        def __init__(self, inner):
            super().__init__(prefix="")
            self.inner = inner

        def hybrid_forward(self, F, x):
            return self.inner(x)

    wrapped = SingleInput(net)
    wrapped.hybridize()
    return wrapped


def _check_inputs(net):
    """Refuse, from the block's config, what MXNet int8 cannot calibrate: several inputs, ids."""
    config = getattr(net, "config", None)
    if config is None:
        return
    if len(config.inputs) > 1:
        raise ConversionError(f"MXNet int8 quantization calibrates models with one input; "
                              f"'{config.name}' takes {config.input_names}: export TFLite "
                              f"dynamic-range int8 instead (precision='dynamic_range')")
    if not config.takes_floats:
        raise ConversionError(f"MXNet int8 (oneDNN) quantizes convolutional and dense networks "
                              f"on float inputs; '{config.name}' takes {config.input_dtype} "
                              f"token ids: export TFLite dynamic-range int8 instead "
                              f"(precision='dynamic_range')")


def _check_quantizable(net, sample, exclude_layers, exclude_operators):
    """Refuse graphs MXNet int8 cannot quantize; return the layers and operators kept in float32."""
    import json

    import mxnet as mx
    if not isinstance(net, mx.gluon.SymbolBlock) and not net._active:
        net.hybridize()
    try:
        net(mx.nd.array(sample))
    except mx.base.MXNetError as exc:
        raise ConversionError(f"MXNet int8 quantization runs {type(net).__name__} on one "
                              f"input; it failed on a batch of shape {sample.shape}: "
                              f"{mxnet_reason(exc)}; it takes one float "
                              f"input (models with several inputs cannot be calibrated)") from None
    inputs, sym = net._cached_graph
    nodes = json.loads(sym.tojson())["nodes"]
    for node in nodes:
        if node["op"] in _UNQUANTIZABLE:
            raise ConversionError(
                f"MXNet int8 (oneDNN) quantizes convolutional and dense networks; "
                f"{type(net).__name__} has the {_UNQUANTIZABLE[node['op']]} '{node['name']}' "
                f"(operator {node['op']}): export TFLite dynamic-range int8 instead "
                f"(deploy.export.tflite, precision='dynamic_range')")
    ops = {node["op"] for node in nodes}
    keep = list(exclude_operators or [])
    layers = list(exclude_layers or [])
    layers += [name for name in _global_average_pools(nodes) if name not in layers]
    layers += [name for name in _mixed_sign_sums(nodes) if name not in layers]
    return layers, keep + [op for op in _ALWAYS_FLOAT if op in ops and op not in keep]


def _global_average_pools(nodes):
    """Names of the graph's global average poolings (kept in float32: see quantize_mxnet)."""
    return [node["name"] for node in nodes if node["op"] == "Pooling"
            and node.get("attrs", {}).get("global_pool") == "True"
            and node["attrs"].get("pool_type", "max") == "avg"]


# Operators that pass their input's sign on (a pooling of a ReLU's output is >= 0).
_SIGN_PRESERVING = {"Pooling", "Flatten", "Reshape", "reshape", "transpose", "Dropout",
                    "_copy", "identity", "Concat", "concat"}
_ADDS = {"elemwise_add", "_Plus", "_plus", "broadcast_add"}


def _is_relu(node):
    return node["op"] == "relu" or (node["op"] == "Activation"
                                    and node.get("attrs", {}).get("act_type") == "relu")


def _non_negative(nodes, index):
    """Whether node ``index``'s output is never negative (ReLU, or a pooling of one...)."""
    node = nodes[index]
    if node["op"] == "clip":
        return float(node.get("attrs", {}).get("a_min", -1)) >= 0
    if node["op"] in _SIGN_PRESERVING and node["inputs"]:
        return all(_non_negative(nodes, i[0]) for i in node["inputs"]
                   if nodes[i[0]]["op"] != "null")
    return _is_relu(node)


def _mixed_sign_sums(nodes):
    """Residual additions whose shortcut's sign differs from the sum's: kept in float32.

    MXNet 1.9 fuses a residual addition into the int8 convolution of its
    branch, writing the sum in place over the shortcut in the output's type
    (u8 after a fused ReLU, s8 otherwise). Where the shortcut has the other
    sign (ResNet v1's downsampling blocks: a convolution + BatchNorm shortcut
    into a ReLU'd sum; ResNet v2's first block: the max pool's unsigned
    output into a plain sum) the int8 sums were wrong: ResNet-20 v1's logits
    were 23% of their range off, ResNet-18 v1's 21%, and as standalone
    quantized additions (fusion prevented) still 24%. Left in float32 with
    the convolution they fuse into: 1-2%, at the cost of ResNet-20's int8
    speed-up over float32 (3.4x -> 2.5x at batch 32, one thread).
    """
    consumers = {}
    for k, node in enumerate(nodes):
        for i in node["inputs"]:
            consumers.setdefault(i[0], []).append(k)
    found = []
    for k, node in enumerate(nodes):
        if node["op"] not in _ADDS or len(node["inputs"]) != 2:
            continue
        after = consumers.get(k, [])
        relu_after = len(after) == 1 and _is_relu(nodes[after[0]])
        branches = [i[0] for i in node["inputs"]]
        fused = [b for b in branches if _convolution_branch(nodes, b, consumers)]
        if not fused:
            continue  # no convolution to fuse the addition into
        operand = branches[1] if branches[0] == fused[0] else branches[0]
        if _non_negative(nodes, operand) != relu_after:
            found.append(node["name"])
    return found


def _convolution_branch(nodes, index, consumers):
    """Whether node ``index`` is a convolution (and BatchNorm) read only by the addition."""
    node = nodes[index]
    if len(consumers.get(index, [])) != 1:
        return False
    if node["op"] == "BatchNorm":
        node = nodes[node["inputs"][0][0]]
    return node["op"] == "Convolution"


def _check_arguments(calib_mode, quantized_dtype, quant_type, batch_size, num_calib_examples):
    if calib_mode not in CALIB_MODES:
        raise ArgumentError(f"calib_mode must be one of {CALIB_MODES}, got {calib_mode!r}")
    if quantized_dtype not in QUANTIZED_DTYPES:
        raise ArgumentError(f"quantized_dtype must be one of {QUANTIZED_DTYPES}, got "
                            f"{quantized_dtype!r}")
    if quant_type not in QUANT_TYPES:
        raise ArgumentError(f"quant_type must be one of {QUANT_TYPES}, got {quant_type!r}")
    for name, value in (("batch_size", batch_size), ("num_calib_examples", num_calib_examples)):
        if value is None and name == "num_calib_examples":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ArgumentError(f"{name} must be a positive integer, got {value!r}")


def _calibration_array(calib_data):
    """``calib_data`` as float32 ``(N, ...)``, refusing what would calibrate nonsense ranges."""
    calib = np.asarray(calib_data)
    if calib.dtype.kind not in "biuf":
        raise InputShapeError(f"int8 quantization needs numeric calibration inputs; calib_data "
                              f"has dtype {calib.dtype}")
    calib = calib.astype(np.float32, copy=False)
    if calib.ndim < 2 or len(calib) == 0:
        raise InputShapeError(f"int8 quantization needs calibration inputs shaped (N, ...); "
                              f"got an array of shape {calib.shape}")
    bad = np.flatnonzero(~np.isfinite(calib.reshape(len(calib), -1)).all(axis=1))
    if bad.size:
        raise NonFiniteError(f"calibration samples {bad[:8].tolist()} hold NaN or Inf; the "
                             f"int8 ranges would be meaningless: drop those samples")
    return calib


# MXNet's graph passes log every quantized node ("[12:00:00] ../src/operator/
# quantization/... is quantized."); a report of what was quantized goes to
# the "gluon_dl.quantize" logger instead.
_MXNET_PASS_LOG = r"^\[\d\d:\d\d:\d\d\] \.\./src/(operator/quantization|executor)/"


def _quiet_mxnet():
    import contextlib

    from deploy.runtime._stderr import native_info_filtered

    stack = contextlib.ExitStack()
    stack.enter_context(native_info_filtered(drop=_MXNET_PASS_LOG))
    stack.enter_context(warnings.catch_warnings())
    warnings.filterwarnings("ignore", message="Cannot decide type for the following arguments")
    return stack
