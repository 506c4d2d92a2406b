"""Losses for generative models: VAE ELBO, VQ-VAE, GANs.

Every function works on NDArrays and on Symbols alike, and returns one
value per sample (shape ``(batch,)``): average it, or let ``backward()``
sum it.  Images are compared with a Bernoulli likelihood on logits, the
choice of Kingma & Welling for binarized MNIST.
"""

__all__ = ["bernoulli_nll", "gan_discriminator_loss", "gan_generator_loss", "gaussian_kl",
           "vae_elbo_loss", "vq_codebook_loss", "vq_commitment_loss", "vqvae_loss"]


def _F(x):
    import mxnet as mx
    return mx.sym if isinstance(x, mx.sym.Symbol) else mx.nd


def _per_sample_sum(x):
    return x.reshape((0, -1)).sum(axis=1)


def _softplus(x):
    return _F(x).Activation(x, act_type="softrelu")


def bernoulli_nll(logits, x):
    """``-log p(x | logits)`` of independent Bernoulli pixels, summed per sample.

    Binary cross-entropy on logits, ``softplus(l) - x * l``, which stays
    finite for large ``|l|``.  ``x`` lies in [0, 1] (grey levels allowed).
    """
    return _per_sample_sum(_softplus(logits) - x * logits)


def gaussian_kl(mu, logvar):
    """``KL(N(mu, exp(logvar)) || N(0, I))`` in closed form, summed per sample.

    ``-1/2 * sum(1 + logvar - mu^2 - exp(logvar))`` (Kingma & Welling 2014,
    appendix B).
    """
    return -0.5 * _per_sample_sum(1.0 + logvar - mu.square() - logvar.exp())


def vae_elbo_loss(logits, x, mu, logvar, beta=1.0):
    """Negative ELBO: reconstruction NLL plus ``beta`` times the KL term.

    ``beta = 1`` is the VAE of Kingma & Welling 2014; other values give the
    beta-VAE trade-off.
    """
    return bernoulli_nll(logits, x) + beta * gaussian_kl(mu, logvar)


def vq_codebook_loss(z_e, z_q):
    """``||sg[z_e] - z_q||^2`` per sample: moves the chosen codes to the encoder outputs.

    Gradient reaches only the codebook (van den Oord et al. 2017, eq. 3).
    """
    F = _F(z_e)
    return _per_sample_sum((F.stop_gradient(z_e) - z_q).square())


def vq_commitment_loss(z_e, z_q):
    """``||z_e - sg[z_q]||^2`` per sample: keeps the encoder close to its codes.

    Gradient reaches only the encoder.
    """
    F = _F(z_e)
    return _per_sample_sum((z_e - F.stop_gradient(z_q)).square())


def vqvae_loss(logits, x, z_e, z_q, beta=0.25):
    """VQ-VAE objective: reconstruction + codebook + ``beta`` * commitment.

    ``beta = 0.25`` is the paper's value.
    """
    return (bernoulli_nll(logits, x) + vq_codebook_loss(z_e, z_q)
            + beta * vq_commitment_loss(z_e, z_q))


def gan_discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy of the discriminator: real labelled 1, fake 0.

    ``softplus(-D(x)) + softplus(D(G(z)))`` per sample; ``2 log 2`` when the
    discriminator cannot tell them apart (logits 0).
    """
    return _softplus(-real_logits) + _softplus(fake_logits)


def gan_generator_loss(fake_logits):
    """Non-saturating generator loss ``-log sigmoid(D(G(z)))`` per sample.

    Goodfellow et al. 2014 (section 3): maximizing ``log D(G(z))`` gives
    strong gradients early, when ``D`` rejects the fakes easily.
    """
    return _softplus(-fake_logits)
