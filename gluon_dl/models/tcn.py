"""Temporal convolutional networks: stacks of dilated causal convolutions.

Bai, Kolter and Koltun, "An Empirical Evaluation of Generic Convolutional and
Recurrent Networks for Sequence Modeling", arXiv 2018 (the TCN); van den
Oord et al., "WaveNet: A Generative Model for Raw Audio", arXiv 2016 (gated
residual blocks with skip connections).  Lesson: sequence models without
recurrence (temporal convolutions).

Input ``(N, C, T)`` floats (layout ``NCW``: channels first, like ``Conv1D``);
output ``(N, num_outputs, T)``, one prediction per time step, where the
output at step ``t`` depends only on the inputs at steps ``<= t``.  Level
``i`` dilates by ``2**i``; with two convolutions of kernel ``k`` per block
the receptive field is ``1 + 2 (k - 1) (2**L - 1)`` steps
(:func:`receptive_field`).  Weight normalization of the TCN paper is left
out (MXNet has no built-in one); without batch normalization, inference stays
deterministic and streaming-friendly.  Internally the sequence is an image of
height one, ``(N, C, 1, T)``, convolved by ``(1, k)`` kernels: MXNet's ONNX
exporter rejects ``Conv1D``.
"""
import functools

from mxnet.gluon import nn

from ._config import ModelConfig
from ._registry import register_model

# levels: channels per residual block (block i dilates by 2**i).
TCN_SPECS = {
    "tcn": dict(levels=(32,) * 5, kernel_size=3, gated=False, skip=False),
    "wavenet_tcn": dict(levels=(32,) * 5, kernel_size=2, gated=True, skip=True),
}

_PAPERS = {
    "tcn": "Bai, Kolter and Koltun 2018, An Empirical Evaluation of Generic Convolutional and "
           "Recurrent Networks for Sequence Modeling",
    "wavenet_tcn": "van den Oord et al. 2016, WaveNet: A Generative Model for Raw Audio",
}


def receptive_field(kernel_size, num_levels, convs_per_block=2):
    """Steps of input that one output sees: ``1 + c (k - 1) (2**L - 1)``."""
    return 1 + convs_per_block * (kernel_size - 1) * (2 ** num_levels - 1)


def _config(name, in_channels=2, **_):
    return ModelConfig(
        name=name,
        input_shape=(in_channels, 64),
        layout="NCW",
        input_range=(0.0, 1.0),
        test_input_shape=(in_channels, 32),
        task="sequence-regression",
        paper=_PAPERS[name],
        lesson="Sequence models: temporal convolutional networks (adding problem)",
    )


class CausalConv1D(nn.HybridBlock):
    """A dilated 1-D convolution whose output at ``t`` sees inputs ``<= t`` only.

    Works on ``(N, C, 1, T)``: a ``(1, k)`` ``Conv2D``, because MXNet's ONNX
    exporter converts only 2-D/3-D convolutions.  Pads ``(k - 1) * dilation``
    steps on both sides (all the convolution offers) and drops as many
    trailing outputs, which amounts to left padding.
    """

    def __init__(self, channels, kernel_size, dilation=1, **kwargs):
        super().__init__(**kwargs)
        self._pad = (kernel_size - 1) * dilation
        with self.name_scope():
            self.conv = nn.Conv2D(channels, (1, kernel_size), dilation=(1, dilation),
                                  padding=(0, self._pad))

    def hybrid_forward(self, F, x):
        y = self.conv(x)
        return F.slice_axis(y, axis=3, begin=0, end=-self._pad) if self._pad else y


class TemporalBlock(nn.HybridBlock):
    """A residual block of two dilated causal convolutions.

    Parameters
    ----------
    in_channels : int
    channels : int
    kernel_size : int
    dilation : int
    dropout : float
    gated : bool
        WaveNet's gated unit ``tanh(W_f x) * sigmoid(W_g x)`` instead of ReLU.

    Returns ``(residual_output, block_output)``; the second is WaveNet's skip.
    """

    def __init__(self, in_channels, channels, kernel_size, dilation, dropout=0.0, gated=False,
                 **kwargs):
        super().__init__(**kwargs)
        self._gated = gated
        width = 2 * channels if gated else channels
        with self.name_scope():
            self.conv1 = CausalConv1D(width, kernel_size, dilation)
            self.conv2 = CausalConv1D(width, kernel_size, dilation)
            self.dropout = nn.Dropout(dropout)
            # A 1x1 convolution matches the residual's channels only where they differ.
            self.downsample = (nn.Conv2D(channels, 1, in_channels=in_channels)
                               if in_channels != channels else None)

    def _act(self, F, x):
        if not self._gated:
            return F.relu(x)
        filt, gate = F.split(x, num_outputs=2, axis=1)
        return F.tanh(filt) * F.sigmoid(gate)

    def hybrid_forward(self, F, x):
        out = self.dropout(self._act(F, self.conv1(x)))
        out = self.dropout(self._act(F, self.conv2(out)))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res), out


class TCN(nn.HybridBlock):
    """Residual blocks with dilations ``1, 2, 4, ...`` and a 1x1 output layer.

    Parameters
    ----------
    num_outputs : int
        Predictions per time step.
    in_channels : int
        Input features per time step.
    levels : sequence of int
        Channels of each block; block ``i`` dilates by ``2**i``.
    kernel_size : int
    dropout : float
    gated : bool
        WaveNet-style gated activations.
    skip : bool
        Sum every block's output (WaveNet skip connections) and feed
        ``relu -> 1x1 -> relu`` to the output layer, instead of the last
        block's output.
    """

    def __init__(self, num_outputs=1, in_channels=2, levels=(32,) * 5, kernel_size=3,
                 dropout=0.0, gated=False, skip=False, **kwargs):
        super().__init__(**kwargs)
        self._skip = skip
        self.receptive_field = receptive_field(kernel_size, len(levels))
        with self.name_scope():
            self.blocks = nn.HybridSequential(prefix="")
            for i, channels in enumerate(levels):
                self.blocks.add(TemporalBlock(in_channels, channels, kernel_size, 2 ** i,
                                              dropout, gated))
                in_channels = channels
            if skip:
                self.skip_proj = nn.HybridSequential(prefix="skip_")
                for _ in levels:
                    self.skip_proj.add(nn.Conv2D(levels[-1], 1))
                self.post = nn.Conv2D(levels[-1], 1, activation="relu")
            self.output = nn.Conv2D(num_outputs, 1)

    def hybrid_forward(self, F, x):
        x = F.expand_dims(x, axis=2)                # (N, C, 1, T): 2-D convolutions export
        skips = []
        for i, block in enumerate(self.blocks):
            x, out = block(x)
            if self._skip:
                skips.append(self.skip_proj[i](out))
        if self._skip:
            x = self.post(F.relu(F.add_n(*skips)))
        return F.reshape(self.output(x), (0, 0, -1))


def _build(name, num_outputs=1, config=None, **kwargs):
    in_channels = config.input_shape[0] if config is not None else 2
    options = {"in_channels": in_channels, **TCN_SPECS[name], **kwargs}
    return TCN(num_outputs=num_outputs, **options)


@register_model(config=functools.partial(_config, "tcn"))
def tcn(num_outputs=1, config=None, **kwargs):
    """TCN of Bai et al. 2018: ReLU residual blocks, kernel 3, receptive field 125."""
    return _build("tcn", num_outputs, config, **kwargs)


@register_model(config=functools.partial(_config, "wavenet_tcn"))
def wavenet_tcn(num_outputs=1, config=None, **kwargs):
    """WaveNet-style TCN: gated blocks, kernel 2, skip connections, receptive field 63."""
    return _build("wavenet_tcn", num_outputs, config, **kwargs)
