"""Batch normalization lets a sigmoid LeNet learn in steps where the plain one has not yet started.

Lesson: 6. Batch normalization
d2l's LeNet with BatchNorm after every convolution and hidden dense layer
(before the sigmoid), written out here layer by layer, against the zoo's
get_model("lenet5", activation="sigmoid"): the same layers without
BatchNorm.  Both train through gluon_dl.fit with the same SGD steps and
learning rate; the test accuracy after every epoch is drawn with Animator.
Data: MNIST digits offline (mnist-5k); Fashion-MNIST with --data-root.
Quick run: python examples/06_batch_norm.py --quick --out /tmp/lesson06
"""
from mxnet.gluon import nn

from gluon_dl import Animator, fit, get_model
from gluon_dl.classify import image_loaders, subset
from gluon_dl.lesson import Lesson, run


def lenet_batch_norm():
    """LeNet-5 with BatchNorm between each convolution or dense layer and its sigmoid."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(6, kernel_size=5, padding=2), nn.BatchNorm(), nn.Activation("sigmoid"),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(16, kernel_size=5), nn.BatchNorm(), nn.Activation("sigmoid"),
            nn.MaxPool2D(pool_size=2, strides=2), nn.Flatten(),
            nn.Dense(120), nn.BatchNorm(), nn.Activation("sigmoid"),
            nn.Dense(84), nn.BatchNorm(), nn.Activation("sigmoid"),
            nn.Dense(10))
    return net


def main():
    lesson = Lesson(__doc__)
    data = lesson.image_data(official="fashion-mnist", default="mnist-5k")
    data = subset(data, *lesson.pick(full=(None, None), quick=(None, None), smoke=(256, 256)))
    num_epochs = lesson.pick(full=10, quick=5, smoke=1)
    plain = get_model("lenet5", activation="sigmoid")
    lesson.note("model", "lenet5 (sigmoid) with and without BatchNorm")

    accuracy = {}
    for name, net in (("LeNet", plain), ("LeNet + BatchNorm", lenet_batch_norm())):
        train_iter, test_iter = image_loaders(data, plain.config, batch_size=128,
                                              seed=lesson.args.seed)
        history = fit(net, train_iter, num_epochs, optimizer="sgd", lr=0.5, val_iter=test_iter,
                      progress=False, seed=lesson.args.seed)
        accuracy[name] = history.history["val_acc"]
    animator = Animator(xlabel="epoch", ylabel="test accuracy", legend=list(accuracy),
                        ylim=(0, 1), xlim=(1, max(num_epochs, 2)))
    for epoch in range(num_epochs):
        animator.add(epoch + 1, [acc[epoch] for acc in accuracy.values()])
    lesson.save_plot(animator.fig, "test_accuracy.png")

    with_bn, without = accuracy["LeNet + BatchNorm"][-1], accuracy["LeNet"][-1]
    lesson.check("test accuracy with BatchNorm", with_bn, above=0.7)
    lesson.note("test accuracy without BatchNorm", f"{without:.4f}")
    lesson.check("accuracy gained by BatchNorm", with_bn - without, above=0.3)
    lesson.finish()


if __name__ == "__main__":
    run(main)
