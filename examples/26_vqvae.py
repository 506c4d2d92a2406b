"""Discrete latent variables: a VQ-VAE describes each digit with 49 codebook entries.

get_model("vqvae") encodes a digit to a 7x7 grid of vectors and snaps each to the nearest
of 64 learned code vectors; the decoder sees the codes through a straight-through
gradient, and gluon_dl.losses.vqvae_loss adds the codebook and commitment terms to the
reconstruction.  The run reports the reconstruction error and how many codes are in use.
Data: the 5,000 embedded MNIST digits (mnist-5k); --data-root DIR reads the official MNIST.
Quick run: python examples/26_vqvae.py --quick --out /tmp/vqvae

Lesson: 26. Discrete latent variables: VQ-VAE
"""
import functools

import mxnet as mx
import numpy as np
from matplotlib.figure import Figure

from gluon_dl import fit, get_model, plot_history, show_images
from gluon_dl.data import ArrayLoader, to_model_input
from gluon_dl.lesson import Lesson, run
from gluon_dl.losses import vqvae_loss


def vq_objective(out, x):
    logits, z_e, z_q, _ = out
    return vqvae_loss(logits, x, z_e, z_q)


def reconstruct(net, x, batch_size=500):
    """Reconstructed pixels in [0, 1] and the chosen codes ``(N, 7, 7)`` of images ``x``."""
    images, codes = [], []
    for i in range(0, len(x), batch_size):
        logits, _, _, c = net(mx.nd.array(x[i:i + batch_size]))
        images.append(logits.sigmoid().asnumpy())
        codes.append(c.asnumpy().astype(int))
    return np.concatenate(images), np.concatenate(codes)


def code_usage_plot(counts):
    fig = Figure(figsize=(7, 2.5))
    ax = fig.subplots()
    ax.bar(np.arange(len(counts)), counts / counts.sum())
    ax.set_xlabel("code")
    ax.set_ylabel("share of latent positions")
    ax.set_title(f"codebook usage: {np.count_nonzero(counts)} of {len(counts)} codes")
    return fig


def main():
    lesson = Lesson(__doc__)
    net = get_model("vqvae")
    lesson.note("model", "vqvae")
    X_tr, _, X_te, _ = lesson.image_data(official="mnist", default="mnist-5k")
    prep = functools.partial(to_model_input, config=net.config)
    x_tr = prep(X_tr[:lesson.pick(full=len(X_tr), quick=4000, smoke=256)])
    x_te = prep(X_te[:lesson.pick(full=10000, quick=1000, smoke=128)])
    train = ArrayLoader(x_tr, x_tr, 64, shuffle=True, seed=lesson.args.seed)
    history = fit(net, train, lesson.pick(full=20, quick=4, smoke=1), loss=vq_objective,
                  lr=2e-3, val_iter=ArrayLoader(x_te, x_te, 500), progress=False)
    lesson.save_plot(plot_history(history, title="VQ-VAE objective per image"), "loss.png")

    recon, codes = reconstruct(net, x_te)
    mse = float(np.mean((recon - x_te) ** 2))
    baseline = float(np.mean((x_tr.mean(axis=0) - x_te) ** 2))  # always the average digit
    lesson.check("test reconstruction MSE", mse, below=0.4 * baseline)
    lesson.note("average-digit MSE", f"{baseline:.4f}")
    counts = np.bincount(codes.ravel(), minlength=net.quantizer.num_codes)
    share = counts[counts > 0] / counts.sum()
    lesson.note("codes in use", f"{len(share)} of {len(counts)}")
    lesson.note("code perplexity", f"{np.exp(-np.sum(share * np.log(share))):.1f}")
    lesson.save_plot(code_usage_plot(counts), "codebook_usage.png")
    picks = np.arange(0, len(x_te), len(x_te) // 8)[:8]  # spread over the test split
    lesson.save_plot(show_images(np.concatenate([x_te[picks], recon[picks]]), 2, 8,
                                 titles=["input"] * 8 + ["reconstruction"] * 8),
                     "reconstructions.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
