"""Variational autoencoders for 28x28 digits (MLP and convolutional).

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.  Lesson:
variational autoencoders.

The reparameterization trick makes the noise an *input* of the graph:
``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` drawn outside, so
gradients flow to ``mu`` and ``logvar`` and the network itself stays
deterministic and exportable.  Train with ``net(x, net.noise(x))``;
reconstruct at the posterior mean with ``net(x, net.noise(x, sample=False))``
(``eps = 0``); generate with ``net.decoder(z)`` for ``z ~ N(0, I)``.
The loss is :func:`gluon_dl.losses.vae_elbo_loss`.
"""
from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import InputSpec, ModelConfig
from ._parts import part_config, register_part
from ._registry import register_model

# name: (encoder, decoder, latent_dim); "mlp" layers are hidden widths,
# "conv" layers are channels of stride-2 convolutions (28 -> 14 -> 7).
VAE_SPECS = {
    "vae_mlp": ("mlp", (400,), 20),  # the MNIST setting of the paper's experiments
    "vae_conv": ("conv", (32, 64), 16),
}


def _config(name):
    kind, _, latent = VAE_SPECS[name]
    return ModelConfig(
        name=name,
        input_shape=(1, 28, 28),
        layout="NCHW",
        input_range=(0.0, 1.0),
        # Gluon's export() names a multi-input block's inputs data0, data1:
        # data0 = images, data1 = the reparameterization noise eps.
        input_name="data0",
        extra_inputs=(InputSpec("data1", (latent,), "float32", (-3.0, 3.0)),),
        task="generation",
        paper="Kingma & Welling 2014, Auto-Encoding Variational Bayes",
        lesson=f"Variational autoencoders ({'MLP' if kind == 'mlp' else 'convolutional'})",
    )


def _encoder(kind, layers):
    body = nn.HybridSequential(prefix="")
    if kind == "mlp":
        body.add(nn.Flatten())
        for width in layers:
            body.add(nn.Dense(width, activation="relu"))
    else:
        for channels in layers:
            body.add(nn.Conv2D(channels, 4, strides=2, padding=1, activation="relu"))
        body.add(nn.Flatten())
    return body


class VAEDecoder(nn.HybridBlock):
    """Latent ``(batch, latent_dim)`` to pixel logits ``(batch, 1, 28, 28)``."""

    def __init__(self, kind, layers, **kwargs):
        super().__init__(**kwargs)
        self._kind, self._channels = kind, layers[-1]
        with self.name_scope():
            self.body = nn.HybridSequential(prefix="")
            if kind == "mlp":
                for width in reversed(layers):
                    self.body.add(nn.Dense(width, activation="relu"))
                self.body.add(nn.Dense(28 * 28))
            else:
                self.body.add(nn.Dense(layers[-1] * 7 * 7, activation="relu"))
                self.up = nn.HybridSequential(prefix="")
                self.up.add(  # 7 -> 14 -> 28
                    nn.Conv2DTranspose(layers[0], 4, strides=2, padding=1, activation="relu"),
                    nn.Conv2DTranspose(layers[0], 4, strides=2, padding=1, activation="relu"))
                # a 3x3 convolution makes the pixels: MXNet 1.9.1's MKL-DNN cannot
                # differentiate a transposed convolution with one output channel
                self.up.add(nn.Conv2D(1, 3, padding=1))

    def hybrid_forward(self, F, z):
        h = self.body(z)
        if self._kind == "mlp":
            return F.reshape(h, shape=(-1, 1, 28, 28))
        return self.up(F.reshape(h, shape=(-1, self._channels, 7, 7)))


class VAE(nn.HybridBlock):
    """Gaussian encoder, reparameterized sample, Bernoulli decoder.

    ``net(x, eps) -> (logits, mu, logvar)`` with ``logits`` of shape
    ``(batch, 1, 28, 28)`` and ``mu``, ``logvar`` of ``(batch, latent_dim)``.

    Parameters
    ----------
    kind : str
        ``"mlp"`` or ``"conv"``.
    layers : tuple of int
        Hidden widths (mlp) or channels of the stride-2 convolutions (conv,
        two for 28x28 inputs).
    latent_dim : int
    """

    def __init__(self, kind="mlp", layers=(400,), latent_dim=20, **kwargs):
        super().__init__(**kwargs)
        if kind == "conv" and len(layers) != 2:
            raise ArgumentError(f"the convolutional VAE downsamples 28 -> 14 -> 7 with two "
                             f"convolutions; got {len(layers)} channel counts {layers}")
        self.latent_dim = latent_dim
        with self.name_scope():
            self.encoder = _encoder(kind, layers)
            self.mu = nn.Dense(latent_dim)
            self.logvar = nn.Dense(latent_dim)
            self.decoder = VAEDecoder(kind, layers)

    def hybrid_forward(self, F, x, eps):
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + F.exp(0.5 * logvar) * eps
        return self.decoder(z), mu, logvar

    def noise(self, x, sample=True):
        """``eps`` for a batch like ``x``: standard normal, or zeros for the posterior mean."""
        import mxnet as mx

        shape = (x.shape[0], self.latent_dim)
        if sample:
            return mx.nd.random.normal(shape=shape, ctx=x.context)
        return mx.nd.zeros(shape, ctx=x.context)


def _build(name, **kwargs):
    kind, layers, latent = VAE_SPECS[name]
    return VAE(kind=kind, layers=layers, latent_dim=latent, **kwargs)


@register_model(config=_config("vae_mlp"))
def vae_mlp(config=None, **kwargs):
    """VAE with one 400-unit hidden layer and a 20-d latent (Kingma & Welling 2014)."""
    return _build("vae_mlp", **kwargs)


@register_model(config=_config("vae_conv"))
def vae_conv(config=None, **kwargs):
    """Convolutional VAE: two stride-2 convolutions, 16-d latent, transposed-conv decoder."""
    return _build("vae_conv", **kwargs)


def _decoder_config(net):
    """The decoder's config: a latent ``z`` of the network's size, drawn from N(0, I)."""
    return part_config(net.config, "decoder", (net.latent_dim,), layout="NC",
                       input_range=(-3.0, 3.0))


def _decoder(net):
    """``net.decoder``: latent ``z (batch, latent_dim)`` to pixel logits ``(batch, 1, 28, 28)``.

    What a device runs to generate digits: it draws ``z ~ N(0, I)`` and
    takes ``sigmoid(logits)`` as pixel intensities.
    """
    return net.decoder


for _name in VAE_SPECS:
    register_part(_name, "decoder", config=_decoder_config)(_decoder)

