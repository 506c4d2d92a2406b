"""CRNN: a convolutional recurrent network for text-line recognition.

Shi, Bai and Yao, "An End-to-End Trainable Neural Network for Image-based
Sequence Recognition and Its Application to Scene Text Recognition", IEEE
TPAMI 2016 (arXiv 2015).  Lesson: text recognition with CTC.

A convolutional stack shrinks a grayscale text line of height 32 to height
one; each remaining column is one time step, read by a bidirectional LSTM
whose per-step class scores are trained with CTC
(:func:`gluon_dl.ctc.ctc_loss`) and decoded by :mod:`gluon_dl.ctc`.

Output convention: ``(N, T, num_classes + 1)`` unnormalized scores with
``T = W // 4`` and the **blank last** (index ``num_classes``), which is what
``gluon.loss.CTCLoss`` (``blank_label='last'``) expects.
"""
from mxnet.gluon import nn, rnn

from ..errors import ArgumentError
from ._config import ModelConfig
from ._registry import register_model

# convs: (channels, pool) per 3x3 conv + BN + ReLU; pool (kh, kw) or None.
# The pools halve the height four times (32 -> 2) and the width twice; a last
# (2, 1) convolution brings the height to one.
CRNN_SPECS = {
    "crnn": dict(convs=((32, (2, 2)), (64, (2, 2)), (96, None), (96, (2, 1)), (128, (2, 1))),
                 final_channels=128, hidden=64, num_layers=2),
    # The paper's network (its last conv is 2x2 valid; (2, 1) here keeps T = W // 4).
    "paper": dict(convs=((64, (2, 2)), (128, (2, 2)), (256, None), (256, (2, 1)),
                         (512, None), (512, (2, 1))),
                  final_channels=512, hidden=256, num_layers=2),
}

DIGITS = tuple(str(i) for i in range(10))

CRNN_CONFIG = ModelConfig(
    name="crnn",
    input_shape=(1, 32, 100),
    layout="NCHW",
    mean=(0.5,),
    std=(0.5,),
    num_classes=10,
    labels=DIGITS,
    test_input_shape=(1, 32, 64),
    task="sequence-recognition",
    paper="Shi, Bai and Yao 2016, An End-to-End Trainable Neural Network for Image-based "
          "Sequence Recognition (CRNN), IEEE TPAMI",
    lesson="Text recognition: CRNN trained with CTC",
)


class CRNN(nn.HybridBlock):
    """Convolutions, then a bidirectional LSTM over the columns, then per-step scores.

    Parameters
    ----------
    num_classes : int
        Real classes; the output has one more, the blank, last.
    convs : sequence of (int, tuple or None)
        Channels and max-pool size of each 3x3 convolution.
    final_channels : int
        Channels of the last (2, 1) convolution that reduces the height to 1.
    hidden : int
        LSTM units per direction.
    num_layers : int
        Stacked bidirectional LSTM layers.
    dropout : float
        Dropout between LSTM layers (training only).

    Inputs: ``(N, 1, 32, W)`` images. Output: ``(N, W // 4, num_classes + 1)``.
    """

    def __init__(self, num_classes=10, convs=CRNN_SPECS["crnn"]["convs"], final_channels=128,
                 hidden=64, num_layers=2, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            for channels, pool in convs:
                self.features.add(nn.Conv2D(channels, 3, padding=1, use_bias=False),
                                  nn.BatchNorm(), nn.Activation("relu"))
                if pool is not None:
                    self.features.add(nn.MaxPool2D(pool_size=pool, strides=pool))
            self.features.add(nn.Conv2D(final_channels, (2, 1), use_bias=False),
                              nn.BatchNorm(), nn.Activation("relu"))
            # One bidirectional LSTM per layer: MXNet's ONNX exporter converts
            # bidirectional LSTMs only with num_layers=1.
            self.rnn = nn.HybridSequential(prefix="")
            for i in range(num_layers):
                if i and dropout:
                    self.rnn.add(nn.Dropout(dropout))
                self.rnn.add(rnn.LSTM(hidden, layout="NTC", bidirectional=True))
            self.output = nn.Dense(num_classes + 1, flatten=False)

    def hybrid_forward(self, F, x):
        feats = self.features(x)                    # (N, C, 1, T)
        seq = F.transpose(F.reshape(feats, (0, 0, -1)), axes=(0, 2, 1))   # (N, T, C)
        return self.output(self.rnn(seq))


def get_crnn(spec="crnn", num_classes=10, **kwargs):
    """A CRNN from :data:`CRNN_SPECS`; ``kwargs`` override the spec's entries."""
    if spec not in CRNN_SPECS:
        raise ArgumentError(f"unknown CRNN spec '{spec}'; choose one of {sorted(CRNN_SPECS)}")
    options = {**CRNN_SPECS[spec], **kwargs}
    return CRNN(num_classes=num_classes, **options)


@register_model(config=CRNN_CONFIG)
def crnn(num_classes=10, config=None, **kwargs):
    """A small CRNN for 32-pixel-high digit strips (Shi et al. 2016)."""
    return get_crnn("crnn", num_classes=num_classes, **kwargs)
