"""VAE, DCGAN and VQ-VAE: their losses against numpy, gradients, short training runs."""
import math

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402

from gluon_dl.losses import (  # noqa: E402
    bernoulli_nll, gan_discriminator_loss, gan_generator_loss, gaussian_kl, vae_elbo_loss,
    vq_codebook_loss, vq_commitment_loss, vqvae_loss)
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.models.dcgan import DCGANDiscriminator, DCGANGenerator, gan_train_step  # noqa: E402
from gluon_dl.models.vqvae import VectorQuantizer  # noqa: E402


@pytest.fixture(scope="module")
def digits(mnist_split):
    """256 real MNIST digits as float32 (N, 1, 28, 28) in [0, 1]."""
    X_tr = mnist_split[0]
    return mx.nd.array(X_tr[:256, None].astype(np.float32) / 255.0)


def _build(name):
    mx.random.seed(0)
    np.random.seed(0)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    return net


def _grad_norms(block):
    """Sum of |gradient| of each trainable parameter of ``block``, in order."""
    return [float(np.abs(p.grad().asnumpy()).sum())
            for p in block.collect_params().values() if p.grad_req != "null"]


# ---------------------------------------------------------------- losses


def test_gaussian_kl_matches_the_closed_form():
    rng = np.random.RandomState(0)
    mu, logvar = rng.randn(5, 7), rng.randn(5, 7)
    var = np.exp(logvar)
    # KL(N(mu, var) || N(0, 1)) = 1/2 (var + mu^2 - 1 - log var), per dimension
    want = 0.5 * (var + mu ** 2 - 1.0 - logvar).sum(axis=1)
    got = gaussian_kl(mx.nd.array(mu), mx.nd.array(logvar)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert gaussian_kl(mx.nd.zeros((2, 3)), mx.nd.zeros((2, 3))).asnumpy().tolist() == [0, 0]


def test_bernoulli_nll_is_binary_cross_entropy_and_stable():
    rng = np.random.RandomState(1)
    logits, x = rng.randn(3, 1, 4, 4) * 3, rng.rand(3, 1, 4, 4)
    p = 1.0 / (1.0 + np.exp(-logits))
    want = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(3, -1).sum(axis=1)
    got = bernoulli_nll(mx.nd.array(logits), mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-4)
    huge = bernoulli_nll(mx.nd.array([[80.0, -80.0]]), mx.nd.array([[0.0, 1.0]])).asnumpy()
    np.testing.assert_allclose(huge, [160.0], rtol=1e-5)


def test_losses_work_on_symbols_as_on_ndarrays():
    rng = np.random.RandomState(2)
    arrays = {"l": rng.randn(2, 1, 3, 3), "x": rng.rand(2, 1, 3, 3), "mu": rng.randn(2, 4),
              "lv": rng.randn(2, 4)}
    sym = vae_elbo_loss(*[mx.sym.var(k) for k in arrays])
    got = sym.eval(ctx=mx.cpu(), **{k: mx.nd.array(v) for k, v in arrays.items()})[0]
    want = vae_elbo_loss(*[mx.nd.array(v) for v in arrays.values()])
    np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5)


def test_gan_losses_match_binary_cross_entropy():
    real, fake = np.array([2.0, -1.0, 0.0]), np.array([-3.0, 0.5, 0.0])
    log_sig = lambda v: -np.log1p(np.exp(-v))  # noqa: E731
    want_d = -log_sig(real) - log_sig(-fake)
    got_d = gan_discriminator_loss(mx.nd.array(real), mx.nd.array(fake)).asnumpy()
    np.testing.assert_allclose(got_d, want_d, rtol=1e-5)
    np.testing.assert_allclose(got_d[2], 2 * math.log(2), rtol=1e-6)
    np.testing.assert_allclose(gan_generator_loss(mx.nd.array(fake)).asnumpy(), -log_sig(fake),
                               rtol=1e-5)


# ------------------------------------------------------------------- VAE


@pytest.mark.parametrize("name", ["vae_mlp", "vae_conv"])
def test_vae_reparameterization_gradient_reaches_the_encoder(name, digits):
    net = _build(name)
    x = digits[:8]
    with autograd.record():
        logits, mu, logvar = net(x, net.noise(x))
        loss = vae_elbo_loss(logits, x, mu, logvar)
    loss.backward()
    for block in (net.encoder, net.mu, net.logvar):
        grads = _grad_norms(block)
        assert grads and min(grads) > 0, f"every weight of {block.name} gets gradient"
    # the noise only enters through exp(logvar / 2) * eps: without noise the
    # reconstruction term leaves logvar alone and its gradient is the KL's alone
    with autograd.record():
        logits, mu, logvar = net(x, net.noise(x, sample=False))
        rec = bernoulli_nll(logits, x)
    rec.backward()
    assert max(_grad_norms(net.logvar)) == 0 and min(_grad_norms(net.mu)) > 0


def test_vae_is_deterministic_at_the_posterior_mean():
    net = _build("vae_mlp")
    x = mx.nd.random.uniform(shape=(4, 1, 28, 28))
    logits, mu, _ = net(x, net.noise(x, sample=False))
    np.testing.assert_allclose(logits.asnumpy(), net.decoder(mu).asnumpy(), rtol=1e-5, atol=1e-6)
    assert net.noise(x).shape == (4, 20)


@pytest.mark.parametrize("name,epochs", [("vae_mlp", 3), ("vae_conv", 2)])
def test_vae_elbo_decreases_on_mnist(name, epochs, digits):
    net = _build(name)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 2e-3})

    def mean_elbo():
        logits, mu, logvar = net(digits, net.noise(digits, sample=False))
        return float(vae_elbo_loss(logits, digits, mu, logvar).mean().asscalar())

    before = mean_elbo()
    for epoch in range(epochs):
        for i in range(0, 256, 32):
            x = digits[i:i + 32]
            with autograd.record():
                logits, mu, logvar = net(x, net.noise(x))
                loss = vae_elbo_loss(logits, x, mu, logvar)
            loss.backward()
            trainer.step(32)
    after = mean_elbo()
    assert before > 400 and after < 0.6 * before, (before, after)


# ----------------------------------------------------------------- DCGAN


def _gan(digits):
    G, D = _build("dcgan_generator"), _build("dcgan_discriminator")
    real = digits[:32] * 2 - 1  # [-1, 1], like the generator's tanh
    z = mx.nd.random.normal(shape=(32, 64))
    return G, D, real, z


def test_gan_train_step_updates_both_networks(digits):
    G, D, real, z = _gan(digits)
    trainers = [gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 2e-4, "beta1": 0.5})
                for net in (G, D)]
    G(z), D(real)
    before = {net: {k: p.data().asnumpy().copy() for k, p in net.collect_params().items()
                    if p.grad_req != "null"} for net in (G, D)}
    loss_D, loss_G = gan_train_step(G, D, real, z, *trainers)
    assert np.isfinite([loss_D, loss_G]).all() and loss_D > 0 and loss_G > 0
    for net in (G, D):
        changed = [not np.array_equal(p.data().asnumpy(), before[net][k])
                   for k, p in net.collect_params().items() if k in before[net]]
        assert all(changed), f"{net.name}: every trainable parameter moves"


def test_gan_train_step_accepts_a_gluon_loss(digits):
    G, D, real, z = _gan(digits)
    trainers = [gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.0})
                for net in (G, D)]
    bce = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    got = gan_train_step(G, D, real, z, *trainers, loss=bce)
    want = gan_train_step(G, D, real, z, *trainers)  # lr 0: same networks, same losses
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_discriminator_learns_to_separate_real_from_fake(digits):
    G, D, real, z = _gan(digits)
    fake = G(z)
    trainer = gluon.Trainer(D.collect_params(), "adam", {"learning_rate": 2e-4, "beta1": 0.5})

    def loss():
        with autograd.train_mode():
            return float(gan_discriminator_loss(D(real), D(fake)).mean().asscalar())

    start = loss()
    for _ in range(8):
        with autograd.record():
            l = gan_discriminator_loss(D(real), D(fake))
        l.backward()
        trainer.step(32)
    with autograd.train_mode():
        p_real = D(real).sigmoid().mean().asscalar()
        p_fake = D(fake).sigmoid().mean().asscalar()
    assert abs(start - 2 * math.log(2)) < 0.5, start
    assert loss() < 0.5 * start and p_real > 0.7 > 0.3 > p_fake, (start, loss(), p_real, p_fake)


def test_dcgan_32x32_color_variant_and_bad_size():
    G, D = DCGANGenerator(image_size=32, channels=3, width=16), DCGANDiscriminator(32, width=16)
    G.initialize()
    D.initialize()
    images = G(mx.nd.random.normal(shape=(2, 64)))
    assert images.shape == (2, 3, 32, 32) and np.abs(images.asnumpy()).max() <= 1
    assert D(images).shape == (2,)
    with pytest.raises(ValueError, match="image_size"):
        DCGANGenerator(image_size=64)


# ---------------------------------------------------------------- VQ-VAE


def test_quantizer_returns_the_nearest_codebook_rows():
    mx.random.seed(0)
    vq = VectorQuantizer(num_codes=8, code_dim=3)
    vq.initialize()
    z_e = mx.nd.random.normal(scale=0.2, shape=(2, 3, 4, 4))
    z_st, z_q, codes = vq(z_e)
    book = vq.codebook.data().asnumpy()
    flat = z_e.asnumpy().transpose(0, 2, 3, 1).reshape(-1, 3)
    nearest = ((flat[:, None, :] - book[None]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(codes.asnumpy().reshape(-1).astype(int), nearest)
    np.testing.assert_array_equal(z_q.asnumpy().transpose(0, 2, 3, 1).reshape(-1, 3),
                                  book[nearest])
    np.testing.assert_allclose(z_st.asnumpy(), z_q.asnumpy(), atol=1e-6)


def test_straight_through_copies_the_decoder_gradient_to_the_encoder():
    vq = VectorQuantizer(num_codes=8, code_dim=3)
    vq.initialize()
    z_e = mx.nd.random.normal(shape=(2, 3, 4, 4))
    w = mx.nd.random.normal(shape=z_e.shape)
    z_e.attach_grad()
    with autograd.record():
        z_st, _, _ = vq(z_e)
        loss = (z_st * w).sum()
    loss.backward()
    np.testing.assert_allclose(z_e.grad.asnumpy(), w.asnumpy(), rtol=1e-6)
    assert np.abs(vq.codebook.grad().asnumpy()).sum() == 0


@pytest.mark.parametrize("term,codebook_moves,encoder_moves", [
    ("reconstruction", False, True), ("codebook", True, False), ("commitment", False, True)])
def test_codebook_learns_only_from_the_codebook_loss(term, codebook_moves, encoder_moves, digits):
    net = _build("vqvae")
    x = digits[:8]
    with autograd.record():
        logits, z_e, z_q, _ = net(x)
        loss = {"reconstruction": lambda: bernoulli_nll(logits, x),
                "codebook": lambda: vq_codebook_loss(z_e, z_q),
                "commitment": lambda: vq_commitment_loss(z_e, z_q)}[term]()
    loss.backward()
    codebook, encoder = _grad_norms(net.quantizer), _grad_norms(net.encoder)
    assert len(codebook) == 1 and len(encoder) == 6
    assert (codebook[0] > 0) == codebook_moves
    assert (min(encoder) > 0) == encoder_moves and (max(encoder) > 0) == encoder_moves


def test_vqvae_training_lowers_the_reconstruction_loss(digits):
    net = _build("vqvae")
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 2e-3})

    def reconstruction():
        return float(bernoulli_nll(net(digits)[0], digits).mean().asscalar())

    before = reconstruction()
    for epoch in range(2):
        for i in range(0, 256, 32):
            x = digits[i:i + 32]
            with autograd.record():
                logits, z_e, z_q, _ = net(x)
                loss = vqvae_loss(logits, x, z_e, z_q)
            loss.backward()
            trainer.step(32)
    after = reconstruction()
    codes = net(digits)[3].asnumpy()
    assert before > 500 and after < 0.8 * before, (before, after)  # 784 ln 2 = 543 at start
    assert len(np.unique(codes)) > 1, "more than one code in use"


def test_generator_projection_equals_the_transposed_convolution():
    """DCGAN's first layer is a matrix product; it computes the transposed convolution."""
    from mxnet.gluon import nn

    from gluon_dl.models.dcgan import _Projection
    mx.random.seed(0)
    proj = _Projection(16, 7, use_bias=True, in_channels=8)
    deconv = nn.Conv2DTranspose(16, 7, use_bias=True, in_channels=8)
    proj.initialize(mx.init.Normal(0.1))
    deconv.initialize()
    deconv.weight.set_data(proj.weight.data())
    deconv.bias.set_data(mx.nd.random.normal(shape=(16,)))
    proj.bias.set_data(deconv.bias.data())
    z = mx.nd.random.normal(shape=(3, 8, 1, 1))
    np.testing.assert_allclose(proj(z).asnumpy(), deconv(z).asnumpy(), rtol=1e-5, atol=1e-6)
