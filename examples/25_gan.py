"""Generative adversarial networks: a DCGAN learns to draw digits from noise.

A generator (get_model("dcgan_generator")) turns z ~ N(0, I) into images while a
discriminator (get_model("dcgan_discriminator")) learns to tell them from real digits;
the lesson's own loop alternates their updates (gan_train_step).  The losses of a GAN
do not show progress, so a LeNet trained on the real digits scores the samples
(inception score: confident and diverse digits score high, at most 10).
Data: the 5,000 embedded MNIST digits (mnist-5k); --data-root DIR reads the official MNIST.
Quick run: python examples/25_gan.py --quick --out /tmp/gan

Lesson: 25. Generative adversarial networks
"""
import functools

import mxnet as mx
import numpy as np
from mxnet import gluon

from gluon_dl import fit, get_model, plot_history, show_images
from gluon_dl.data import ArrayLoader, to_model_input
from gluon_dl.lesson import Lesson, run
from gluon_dl.models.dcgan import LATENT_DIM, gan_train_step
from gluon_dl.sample_quality import inception_score


def train_judge(X, y, epochs, seed):
    """A LeNet-5 trained on real digits; returns ``images in [-1, 1] -> class probabilities``."""
    judge = get_model("lenet5")
    prep = functools.partial(to_model_input, config=judge.config)
    fit(judge, ArrayLoader(X, y, 64, shuffle=True, seed=seed, transform=prep), epochs,
        lr=2e-3, progress=False)

    def probabilities(images):
        pixels = (images.asnumpy()[:, 0] + 1) / 2  # (N, 28, 28) in [0, 1]
        return judge(mx.nd.array(prep(pixels))).softmax().asnumpy()
    return probabilities


def main():
    lesson = Lesson(__doc__)
    X_tr, y_tr, X_te, _ = lesson.image_data(official="mnist", default="mnist-5k")
    n = lesson.pick(full=len(X_tr), quick=4000, smoke=256)
    X_tr, y_tr = X_tr[:n], y_tr[:n]
    width = lesson.pick(full=64, quick=32, smoke=16)  # channels at the paper's 64 = 1.0
    G = get_model("dcgan_generator", width=width)
    D = get_model("dcgan_discriminator", width=width)
    lesson.note("model", "dcgan_generator + dcgan_discriminator")
    trainers = []
    for net in (G, D):  # the paper's initialization and Adam settings
        net.initialize(mx.init.Normal(0.02))
        net.hybridize(static_alloc=True, static_shape=True)
        trainers.append(gluon.Trainer(net.collect_params(), "adam",
                                      {"learning_rate": 2e-4, "beta1": 0.5}))
    judge = train_judge(X_tr, y_tr, lesson.pick(full=5, quick=2, smoke=1), lesson.args.seed)
    real = ArrayLoader(to_model_input(X_tr, D.config), y_tr, 64, shuffle=True,
                       seed=lesson.args.seed, last_batch="discard")  # pixels in [-1, 1]
    z_fixed = mx.nd.random.normal(shape=(256, LATENT_DIM))
    logs = {"loss_D": [], "loss_G": [], "inception_score": []}
    first_score = inception_score(judge(G(z_fixed)))
    for _ in range(lesson.pick(full=25, quick=6, smoke=1)):
        steps = [gan_train_step(G, D, x, mx.nd.random.normal(shape=(x.shape[0], LATENT_DIM)),
                                *trainers) for x, _ in real]
        logs["loss_D"].append(float(np.mean([d for d, _ in steps])))
        logs["loss_G"].append(float(np.mean([g for _, g in steps])))
        logs["inception_score"].append(inception_score(judge(G(z_fixed))))
        print({k: round(v[-1], 3) for k, v in logs.items()}, flush=True)
    lesson.save_plot(plot_history(logs, title="DCGAN on digits"), "training.png")
    lesson.check("inception score of samples", logs["inception_score"][-1], above=3.0)
    lesson.note("inception score before training", f"{first_score:.2f}")
    real_te = mx.nd.array(to_model_input(X_te[:1000], D.config))
    lesson.note("inception score of real test digits", f"{inception_score(judge(real_te)):.2f}")
    lesson.save_plot(show_images((G(z_fixed[:32]) + 1) / 2, 4, 8), "samples.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
