"""Linear regression recovers the weights and bias that generated its data.

Lesson: 1. Linear regression
First from scratch (parameters with attached gradients, a squared loss, a
minibatch SGD loop under autograd), then concisely with the zoo's
get_model("linreg") trained by gluon_dl.fit.  Data: synthetic
y = Xw + b + noise with w = (2, -3.4), b = 4.2 (no official set).
Quick run: python examples/01_linear_regression.py --quick --out /tmp/lesson01
"""
import matplotlib.pyplot as plt
import numpy as np
from mxnet import autograd, gluon, nd

from gluon_dl import Animator, fit, get_model, plot_history
from gluon_dl.data import ArrayLoader, synthetic_linear
from gluon_dl.lesson import Lesson, run

TRUE_W, TRUE_B = (2.0, -3.4), 4.2


def squared_loss(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, in place."""
    for param in params:
        param[:] = param - lr * param.grad / batch_size


def train_from_scratch(X, y, num_epochs, lr, batch_size, animator):
    w = nd.random.normal(scale=0.01, shape=(X.shape[1], 1))
    b = nd.zeros(1)
    for param in (w, b):
        param.attach_grad()
    for epoch in range(num_epochs):
        for X_batch, y_batch in ArrayLoader(X, y, batch_size, shuffle=True, seed=epoch):
            with autograd.record():
                loss = squared_loss(nd.dot(X_batch, w) + b, y_batch)
            loss.backward()
            sgd((w, b), lr, X_batch.shape[0])
        epoch_loss = squared_loss(nd.dot(nd.array(X), w) + b, nd.array(y)).mean().asscalar()
        animator.add(epoch + 1, epoch_loss)
    return w.asnumpy().ravel(), float(b.asscalar())


def report(lesson, how, w, b):
    lesson.note(f"{how}: w, b", f"({', '.join(f'{v:.4f}' for v in w)}), {b:.4f}")
    lesson.check(f"{how}: largest error in w", np.abs(w - TRUE_W).max(), below=0.05)
    lesson.check(f"{how}: error in b", abs(b - TRUE_B), below=0.05)


def main():
    lesson = Lesson(__doc__)
    lesson.note("model", "linreg")
    lesson.note("data", "synthetic y = Xw + b + noise, w = (2, -3.4), b = 4.2")
    X, y = synthetic_linear(TRUE_W, TRUE_B, n=lesson.pick(full=1000, quick=1000, smoke=100))
    num_epochs = lesson.pick(full=5, quick=3, smoke=1)
    lr = 0.03

    animator = Animator(xlabel="epoch", ylabel="training loss", yscale="log",
                        xlim=(1, max(num_epochs, 2)))
    w, b = train_from_scratch(X, y, num_epochs, lr, 10, animator)
    report(lesson, "from scratch", w, b)
    lesson.save_plot(animator.fig, "from_scratch_loss.png")

    net = get_model("linreg")
    history = fit(net, ArrayLoader(X, y, 10, shuffle=True, seed=lesson.args.seed), num_epochs,
                  loss=gluon.loss.L2Loss(), optimizer="sgd", lr=lr, progress=False)
    report(lesson, "gluon", net.output.weight.data().asnumpy().ravel(),
           float(net.output.bias.data().asscalar()))
    fig = plot_history(history, title="linreg trained by fit")
    lesson.save_plot(fig if fig is not None else plt.gcf(), "gluon_loss.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
