"""ResNet adds each block's input to its output, so extra layers can fall back on the identity.

Lesson: 12. Residual networks (ResNet)
The zoo's get_model("resnet18_d2l"): the course's ResNet-18 for gray images
(a 7x7 stem, four stages of two residual blocks with BatchNorm, 1x1
projections where the shape changes, global average pooling), 96x96 by
default; --quick trains it on 1,000 digits at 32x32.  Data: MNIST digits
offline (mnist-5k); Fashion-MNIST with --data-root.
Quick run: python examples/12_resnet.py --quick --out /tmp/lesson12
"""
from gluon_dl import fit, get_model, plot_history
from gluon_dl.classify import image_loaders, predict_labels, show_misclassified, subset
from gluon_dl.data import dataset_info
from gluon_dl.lesson import Lesson, run


def main():
    lesson = Lesson(__doc__)
    official, default = "fashion-mnist", "mnist-5k"
    data = lesson.image_data(official, default)
    labels = dataset_info(official if lesson.args.data_root else default).classes
    data = subset(data, *lesson.pick(full=(None, None), quick=(1000, 500), smoke=(64, 64)))
    image_size = lesson.pick(full=96, quick=32)
    net = get_model("resnet18_d2l", image_size=image_size)
    lesson.note("model", "resnet18_d2l")
    lesson.note("image size", f"{image_size}x{image_size}")

    train_iter, test_iter = image_loaders(data, net.config, batch_size=32,
                                          seed=lesson.args.seed)
    history = fit(net, train_iter, lesson.pick(full=5, quick=2, smoke=1), optimizer="adam",
                  lr=1e-3, val_iter=test_iter, progress=False, seed=lesson.args.seed)
    lesson.save_plot(plot_history(history, title=f"ResNet-18 at {image_size}x{image_size}"),
                     "training_curves.png")
    lesson.check("test accuracy", history.history["val_acc"][-1], above=0.7)
    y_hat = predict_labels(net, data[2], net.config)
    lesson.save_plot(show_misclassified(data[2], data[3], y_hat, labels), "misclassified.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
