"""Variational autoencoders: a latent space of digits learned by maximizing the ELBO.

The encoder of get_model("vae_mlp") (or --model vae_conv) outputs a Gaussian posterior;
the reparameterization z = mu + exp(logvar / 2) * eps makes the noise eps an input of
the network, so fit trains it on the negative ELBO (gluon_dl.losses.vae_elbo_loss).
Data: the 5,000 embedded MNIST digits (mnist-5k); --data-root DIR reads the official MNIST.
Quick run: python examples/24_vae.py --quick --out /tmp/vae

Lesson: 24. Variational autoencoders
"""
import functools

import mxnet as mx
import numpy as np

from gluon_dl import fit, get_model, plot_history, show_images
from gluon_dl.data import ArrayLoader, to_model_input
from gluon_dl.lesson import Lesson, run
from gluon_dl.losses import bernoulli_nll, vae_elbo_loss
from gluon_dl.models import list_models


class NoisyBatches:
    """Batches ``((x, eps), x)``: fresh noise eps ~ N(0, I) for every batch, x as target."""

    def __init__(self, loader, latent_dim):
        self.loader, self.latent_dim = loader, latent_dim

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for x, _ in self.loader:
            yield (x, mx.nd.random.normal(shape=(x.shape[0], self.latent_dim))), x


def neg_elbo(out, x):
    logits, mu, logvar = out
    return vae_elbo_loss(logits, x, mu, logvar)


def main():
    lesson = Lesson(__doc__, arguments=lambda p: p.add_argument(
        "--model", default="vae_mlp", choices=list_models("vae_*")))
    net = get_model(lesson.args.model)
    lesson.note("model", lesson.args.model)
    X_tr, _, X_te, _ = lesson.image_data(official="mnist", default="mnist-5k")
    n_train = lesson.pick(full=len(X_tr), quick=4000, smoke=256)
    epochs = lesson.pick(full=30, quick=15, smoke=1)
    prep = functools.partial(to_model_input, config=net.config)
    x_tr, x_te = prep(X_tr[:n_train]), prep(X_te[:lesson.pick(full=10000, quick=1000, smoke=128)])
    train = NoisyBatches(ArrayLoader(x_tr, x_tr, 100, shuffle=True, seed=lesson.args.seed),
                         net.latent_dim)
    test = NoisyBatches(ArrayLoader(x_te, x_te, 500), net.latent_dim)
    history = fit(net, train, epochs, loss=neg_elbo, lr=1e-3, val_iter=test, progress=False)
    lesson.save_plot(plot_history(history, title="negative ELBO (nats per image)"),
                     "elbo.png")

    # A model that learned only the average digit: one Bernoulli probability per pixel.
    p = np.clip(x_tr.mean(axis=0, keepdims=True), 1e-3, 1 - 1e-3)
    mean_logits = mx.nd.array(np.broadcast_to(np.log(p / (1 - p)), x_te.shape))
    baseline = bernoulli_nll(mean_logits, mx.nd.array(x_te)).mean().asscalar()
    lesson.note("average-digit model, nats per image", f"{baseline:.1f}")
    lesson.check("test negative ELBO", history.history["val_loss"][-1], below=0.75 * baseline)
    lesson.note("first epoch's training negative ELBO", f"{history.history['loss'][0]:.1f}")

    x = mx.nd.array(x_te[::len(x_te) // 8][:8])  # spread over the test split
    recon = net(x, net.noise(x, sample=False))[0].sigmoid()  # decode the posterior mean
    lesson.save_plot(show_images(mx.nd.concat(x, recon, dim=0), 2, 8,
                                 titles=["input"] * 8 + ["reconstruction"] * 8),
                     "reconstructions.png")
    z = mx.nd.random.normal(shape=(32, net.latent_dim))  # the prior
    lesson.save_plot(show_images(net.decoder(z).sigmoid(), 4, 8), "samples.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
