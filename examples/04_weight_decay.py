"""Weight decay keeps a model with more weights than samples from memorizing its training set.

Lesson: 4. Weight decay
d2l's high-dimensional linear regression: 200 features, 20 training samples,
y = 0.05 + sum(0.01 x_i) + noise.  The zoo's linreg block (MLP with no hidden
layer) trained by an SGD loop under autograd with the penalty written into
the loss (gluon_dl.models.basics.l2_penalty / l1_penalty), then concisely
with gluon_dl.fit and Trainer weight decay (wd), which is the same L2
penalty.  Data: synthetic (no official set).
Quick run: python examples/04_weight_decay.py --quick --out /tmp/lesson04
"""
import numpy as np
from mxnet import autograd, gluon, init, nd

from gluon_dl import Animator, fit
from gluon_dl.data import ArrayLoader, synthetic_linear
from gluon_dl.lesson import Lesson, run
from gluon_dl.models.basics import MLP, l1_penalty, l2_penalty
from gluon_dl.training import validate

NUM_INPUTS, N_TRAIN, N_TEST, LR, BATCH = 200, 20, 100, 0.003, 5
PENALTIES = {"no penalty": (None, 0.0), "L2, lambda=3": (l2_penalty, 3.0),
             "L1, lambda=1": (l1_penalty, 1.0)}


def linreg_block():
    net = MLP(num_outputs=1)
    net.initialize(init.Normal(1.0))
    return net


def mse(net, X, y):
    return float(gluon.loss.L2Loss()(net(nd.array(X)), nd.array(y)).mean().asscalar())


def train(data, penalty, lambd, num_epochs):
    """SGD with ``lambd * penalty(net)`` added to the loss; the losses after each epoch."""
    X, y, X_test, y_test = data
    net = linreg_block()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR})
    loss_fn, curves = gluon.loss.L2Loss(), {"train": [], "test": []}
    for epoch in range(num_epochs):
        for X_batch, y_batch in ArrayLoader(X, y, BATCH, shuffle=True, seed=epoch):
            with autograd.record():
                loss = loss_fn(net(X_batch), y_batch)
                if penalty is not None:
                    loss = loss + lambd * penalty(net)
            loss.backward()
            trainer.step(BATCH)
        curves["train"].append(mse(net, X, y))
        curves["test"].append(mse(net, X_test, y_test))
    return net, curves


def main():
    lesson = Lesson(__doc__)
    lesson.note("model", "linreg block on 200 features")
    lesson.note("data", "synthetic: 200 features, 20 training samples")
    X, y = synthetic_linear([0.01] * NUM_INPUTS, 0.05, N_TRAIN + N_TEST, seed=lesson.args.seed)
    data = (X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:])
    num_epochs = lesson.pick(full=100, quick=100, smoke=3)

    runs = {name: train(data, penalty, lambd, num_epochs)
            for name, (penalty, lambd) in PENALTIES.items()}
    animator = Animator(xlabel="epoch", ylabel="loss", yscale="log", figsize=(6, 4),
                        legend=[f"{part}, {name}" for name in runs for part in ("train", "test")],
                        fmts=("b-", "b--", "r-", "r--", "g-", "g--"))
    for epoch in range(num_epochs):
        animator.add(epoch + 1, [c[part][epoch] for _, c in runs.values()
                                 for part in ("train", "test")])
    lesson.save_plot(animator.fig, "train_test_loss.png")

    gap = {name: c["test"][-1] - c["train"][-1] for name, (_, c) in runs.items()}
    for name, (net, curves) in runs.items():
        lesson.note(f"{name}: train / test loss, |w|",
                    f"{curves['train'][-1]:.4g} / {curves['test'][-1]:.4g}, "
                    f"{float(l2_penalty(net).asscalar() * 2) ** 0.5:.3f}")
    lesson.check("test loss with L2 / without", runs["L2, lambda=3"][1]["test"][-1]
                 / runs["no penalty"][1]["test"][-1], below=0.2)
    lesson.check("train-test gap with L2 / without", gap["L2, lambda=3"] / gap["no penalty"],
                 below=0.2)
    lesson.check("test loss with L1 / without", runs["L1, lambda=1"][1]["test"][-1]
                 / runs["no penalty"][1]["test"][-1], below=0.5)

    # Concisely: Trainer weight decay on the weights (not the bias) is the L2 penalty.
    net = linreg_block()
    net.collect_params(".*bias").setattr("wd_mult", 0)
    fit(net, ArrayLoader(*data[:2], BATCH, shuffle=True, seed=lesson.args.seed), num_epochs,
        loss=gluon.loss.L2Loss(), optimizer="sgd", lr=LR, optimizer_params={"wd": 3.0},
        progress=False, hybridize=False)
    test_wd = validate(net, ArrayLoader(*data[2:], N_TEST), loss=gluon.loss.L2Loss())
    lesson.note("fit with wd=3: test loss", f"{test_wd['val_loss']:.4g}")
    lesson.check("test loss with wd / without", test_wd["val_loss"]
                 / runs["no penalty"][1]["test"][-1], below=0.2)
    lesson.note("|w| with wd=3", f"{np.linalg.norm(net.output.weight.data().asnumpy()):.3f}")
    lesson.finish()


if __name__ == "__main__":
    run(main)
