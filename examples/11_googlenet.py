"""GoogLeNet concatenates parallel 1x1, 3x3, 5x5 convolutions and pooling in Inception blocks.

Lesson: 11. Networks with parallel concatenations (GoogLeNet)
The zoo's get_model("googlenet_d2l"): the course's GoogLeNet for gray
images (a stem, nine Inception blocks with the paper's channel splits,
global average pooling, one dense layer), registered for 96x96 inputs.  The
global pooling takes any size, so --quick builds it with an explicit config
for 32x32 and trains it on 1,500 digits.  Data: MNIST digits offline
(mnist-5k); Fashion-MNIST with --data-root.
Quick run: python examples/11_googlenet.py --quick --out /tmp/lesson11
"""
from gluon_dl import fit, get_config, get_model, plot_history
from gluon_dl.classify import image_loaders, predict_labels, show_misclassified, subset
from gluon_dl.data import dataset_info
from gluon_dl.lesson import Lesson, run


def main():
    lesson = Lesson(__doc__)
    official, default = "fashion-mnist", "mnist-5k"
    data = lesson.image_data(official, default)
    labels = dataset_info(official if lesson.args.data_root else default).classes
    data = subset(data, *lesson.pick(full=(None, None), quick=(1500, 500), smoke=(64, 64)))
    image_size = lesson.pick(full=96, quick=32)
    config = get_config("googlenet_d2l").replace(input_shape=(1, image_size, image_size),
                                                 test_input_shape=None)
    net = get_model("googlenet_d2l", config=config)
    lesson.note("model", "googlenet_d2l")
    lesson.note("image size", f"{image_size}x{image_size}")

    train_iter, test_iter = image_loaders(data, net.config, batch_size=32,
                                          seed=lesson.args.seed)
    history = fit(net, train_iter, lesson.pick(full=5, quick=2, smoke=1), optimizer="adam",
                  lr=2e-4, val_iter=test_iter, progress=False, seed=lesson.args.seed)
    lesson.save_plot(plot_history(history, title=f"GoogLeNet at {image_size}x{image_size}"),
                     "training_curves.png")
    lesson.check("test accuracy", history.history["val_acc"][-1], above=0.5)
    y_hat = predict_labels(net, data[2], net.config)
    lesson.save_plot(show_misclassified(data[2], data[3], y_hat, labels), "misclassified.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
