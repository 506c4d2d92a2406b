"""VGG builds a deep network from one repeated block: 3x3 convolutions, then a 2x2 max pool.

Lesson: 9. Networks using blocks (VGG)
The zoo's get_model("vgg11_d2l"): VGG-11 (eight 3x3 convolutions in five
blocks, then 4096-4096-10 dense layers with dropout) with the course's
quarter of the channels, 16-32-64-128-128, for gray images.  It takes 96x96
images by default; --quick trains it on 1,500 digits at 32x32, where the
five poolings leave 1x1 maps.  Data: MNIST digits offline (mnist-5k);
Fashion-MNIST with --data-root.
Quick run: python examples/09_vgg.py --quick --out /tmp/lesson09
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
    data = subset(data, *lesson.pick(full=(None, None), quick=(1500, 500), smoke=(64, 64)))
    image_size = lesson.pick(full=96, quick=32)
    net = get_model("vgg11_d2l", image_size=image_size)
    lesson.note("model", "vgg11_d2l")
    lesson.note("image size", f"{image_size}x{image_size}")

    train_iter, test_iter = image_loaders(data, net.config, batch_size=32,
                                          seed=lesson.args.seed)
    history = fit(net, train_iter, lesson.pick(full=5, quick=2, smoke=1), optimizer="adam",
                  lr=1e-4, val_iter=test_iter, progress=False, seed=lesson.args.seed)
    lesson.save_plot(plot_history(history, title=f"VGG-11/4 at {image_size}x{image_size}"),
                     "training_curves.png")
    lesson.check("test accuracy", history.history["val_acc"][-1], above=0.6)
    y_hat = predict_labels(net, data[2], net.config)
    lesson.save_plot(show_misclassified(data[2], data[3], y_hat, labels), "misclassified.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
