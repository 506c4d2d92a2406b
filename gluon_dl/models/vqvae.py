"""VQ-VAE: an autoencoder whose latents are snapped to a learned codebook.

van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation
Learning", NeurIPS 2017.  Lesson: discrete latent variables (VQ-VAE).

The encoder maps a 28x28 digit to a 7x7 grid of ``D``-vectors ``z_e``; each
is replaced by its nearest codebook row ``e_k`` (``z_q``).  The arg-min has
no gradient, so the decoder reads ``z_e + stop_gradient(z_q - z_e)``: the
value of ``z_q`` with the gradient of ``z_e`` (straight-through estimator).
The codebook learns only from the codebook loss and the encoder is held to
its codes by the commitment loss (:func:`gluon_dl.losses.vqvae_loss`).

``net(x) -> (logits, z_e, z_q, codes)``: pixel logits ``(B, 1, 28, 28)``,
encoder outputs and their quantized values ``(B, D, 7, 7)``, and the chosen
code indices ``(B, 7, 7)`` (float, as MXNet's ``argmin`` returns them).
"""
from mxnet import init
from mxnet.gluon import nn

from ._config import ModelConfig
from ._parts import part_config, register_part
from ._registry import register_model

# name: (hidden channels of the two stride-2 convolutions, code dim D, codebook size K)
VQVAE_SPECS = {
    "vqvae": ((32, 64), 16, 64),
}

CONFIG = ModelConfig(
    name="vqvae",
    input_shape=(1, 28, 28),
    layout="NCHW",
    input_range=(0.0, 1.0),
    task="generation",
    paper="van den Oord et al. 2017, Neural Discrete Representation Learning",
    lesson="Discrete latent variables: VQ-VAE",
)


class VectorQuantizer(nn.HybridBlock):
    """Nearest-codebook-row lookup with a straight-through gradient.

    ``quantizer(z_e) -> (z_st, z_q, codes)`` for ``z_e`` of shape
    ``(B, D, H, W)``: ``z_q`` holds codebook rows (gradient to the codebook
    only), ``z_st`` equals ``z_q`` in value and passes its gradient to
    ``z_e`` unchanged, ``codes`` are the row indices ``(B, H, W)``.

    Parameters
    ----------
    num_codes : int
        Codebook size ``K``.
    code_dim : int
        Code dimension ``D``.
    """

    def __init__(self, num_codes, code_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_codes, self.code_dim = num_codes, code_dim
        with self.name_scope():
            self.codebook = self.params.get("codebook", shape=(num_codes, code_dim),
                                            init=init.Uniform(1.0 / num_codes))

    def hybrid_forward(self, F, z_e, codebook):
        z = F.transpose(z_e, axes=(0, 2, 3, 1))  # (B, H, W, D)
        # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2, for every position and code
        dist = F.broadcast_add(
            F.broadcast_sub(F.sum(F.square(z), axis=3, keepdims=True),
                            2 * F.dot(z, codebook, transpose_b=True)),
            F.sum(F.square(codebook), axis=1))
        codes = F.argmin(dist, axis=3)
        q = F.Embedding(codes, codebook, input_dim=self.num_codes, output_dim=self.code_dim)
        # The straight-through sum is taken channels-last, where the lookup's rows
        # are, and transposed once: onnx2tf mixes up the layouts of a sum of the
        # transposed lookup and the NCHW z_e (TFLite pixels off by 30x).
        z_st = F.transpose(z + F.stop_gradient(q - z), axes=(0, 3, 1, 2))
        return z_st, F.transpose(q, axes=(0, 3, 1, 2)), codes


class CodeDecoder(nn.HybridBlock):
    """Code indices ``(B, H, W)`` to pixel logits ``(B, 1, 28, 28)``: lookup, then decoder.

    The VQ-VAE's generative half as a device runs it.  It takes the codes,
    not the quantized latents ``z_q``: a prior (PixelCNN, a transformer)
    samples codes, and a compressed image is its codes, 7 x 7 indices into a
    64-row codebook (49 one-byte values, against 3 KB of float ``z_q``); the
    codebook ships inside the model, so nothing but indices crosses to the
    device.  The codes are int32; the lookup gives the ``z_q`` whose value the
    full model decodes (its straight-through sum equals ``z_q`` up to rounding).

    Parameters
    ----------
    quantizer : VectorQuantizer
        Its codebook is shared, not copied.
    decoder : HybridBlock
        The model's decoder (shared).
    """

    def __init__(self, quantizer, decoder):
        # the quantizer's prefix and parameters: "codebook" is its codebook
        super().__init__(prefix=quantizer.prefix, params=quantizer.params)
        self.num_codes, self.code_dim = quantizer.num_codes, quantizer.code_dim
        with self.name_scope():
            self.codebook = self.params.get("codebook", shape=(self.num_codes, self.code_dim))
        self.decoder = decoder

    def hybrid_forward(self, F, codes, codebook):
        q = F.Embedding(codes, codebook, input_dim=self.num_codes, output_dim=self.code_dim)
        return self.decoder(F.transpose(q, axes=(0, 3, 1, 2)))


class VQVAE(nn.HybridBlock):
    """Convolutional VQ-VAE for 28x28 images (see the module docstring).

    Parameters
    ----------
    channels : tuple of int
        Channels of the two stride-2 encoder convolutions (mirrored by the
        decoder).
    code_dim : int
    num_codes : int
    """

    def __init__(self, channels=(32, 64), code_dim=16, num_codes=64, **kwargs):
        super().__init__(**kwargs)
        c1, c2 = channels
        with self.name_scope():
            self.encoder = nn.HybridSequential(prefix="encoder_")
            self.encoder.add(nn.Conv2D(c1, 4, strides=2, padding=1, activation="relu"),
                             nn.Conv2D(c2, 4, strides=2, padding=1, activation="relu"),
                             nn.Conv2D(code_dim, 1))
            self.quantizer = VectorQuantizer(num_codes, code_dim, prefix="quantizer_")
            self.decoder = nn.HybridSequential(prefix="decoder_")
            self.decoder.add(nn.Conv2DTranspose(c2, 4, strides=2, padding=1, activation="relu"),
                             nn.Conv2DTranspose(c1, 4, strides=2, padding=1, activation="relu"),
                             # MXNet 1.9.1's MKL-DNN cannot differentiate a transposed
                             # convolution with one output channel: a 3x3 conv makes pixels
                             nn.Conv2D(1, 3, padding=1))

    def hybrid_forward(self, F, x):
        z_e = self.encoder(x)
        z_st, z_q, codes = self.quantizer(z_e)
        return self.decoder(z_st), z_e, z_q, codes


@register_model(config=CONFIG)
def vqvae(config=None, **kwargs):
    """VQ-VAE with a 64 x 16 codebook over a 7x7 latent grid, for 28x28 digits."""
    channels, code_dim, num_codes = VQVAE_SPECS["vqvae"]
    return VQVAE(channels=channels, code_dim=code_dim, num_codes=num_codes, **kwargs)


def _decoder_config(net):
    """The code decoder's config: an int32 grid of code indices in ``[0, num_codes)``."""
    import mxnet as mx

    _, _, *grid = net.encoder(mx.sym.var("x")).infer_shape(
        x=net.config.batch_shape)[1][0]
    return part_config(net.config, "decoder", tuple(grid), layout="NHW", input_dtype="int32",
                       input_range=(0, net.quantizer.num_codes))


@register_part("vqvae", "decoder", config=_decoder_config)
def vqvae_decoder(net):
    """Codes ``(B, 7, 7)`` to pixel logits: :class:`CodeDecoder` over ``net``'s parameters."""
    return CodeDecoder(net.quantizer, net.decoder)

