"""Image augmentation trains on randomly altered copies of the images, so a model sees more variety.

Lesson: 14. Image augmentation
Random crops after padding (shifts), left-right flips and colour jitter
from gluon_dl.data.transforms, applied per batch through ArrayLoader's
augment (seeded by epoch and batch, so reruns repeat).  The same network
trains twice on a small training set, with and without augmentation, and
both test accuracies are reported as measured.  Offline: the zoo's
get_model("lenet5") on 1,000 MNIST digits (mnist-5k), shifted up to 3
pixels with brightness and contrast jitter (no flips: a mirrored digit is
another symbol).  With --data-root: get_model("cifar_resnet20_v1") on
CIFAR-10 with 4-pixel-padded 32x32 crops, flips and colour jitter.
Quick run: python examples/14_data_augmentation.py --quick --out /tmp/lesson14
"""
import numpy as np

from gluon_dl import fit, get_model, plot_history, show_images
from gluon_dl.classify import image_loaders, subset
from gluon_dl.data import color_jitter, random_crop, random_flip, random_shift
from gluon_dl.lesson import Lesson, run


def augment_digits(X, rng):
    return color_jitter(random_shift(X, 3, rng), brightness=0.4, contrast=0.4, saturation=0,
                        rng=rng)


def augment_cifar(X, rng):
    X = random_flip(random_crop(X, 32, padding=4, rng=rng), rng)
    return color_jitter(X, brightness=0.3, contrast=0.3, saturation=0.3, rng=rng)


def main():
    lesson = Lesson(__doc__)
    cifar = lesson.args.data_root is not None
    data = lesson.image_data(official="cifar10", default="mnist-5k")
    data = subset(data, *lesson.pick(full=(None if cifar else 2000, None), quick=(1000, 500),
                                     smoke=(128, 128)))
    model, augment = ("cifar_resnet20_v1", augment_cifar) if cifar else ("lenet5", augment_digits)
    lesson.note("model", model)
    num_epochs = lesson.pick(full=30, quick=10, smoke=1)
    originals = data[0][:8]
    augmented = augment(np.repeat(originals[:2], 4, axis=0), np.random.RandomState(0))
    lesson.save_plot(show_images(np.concatenate([originals, augmented]), 2, 8,
                                 titles=["original"] * 8 + ["augmented"] * 8),
                     "augmented_samples.png")

    histories = {}
    for name, aug in (("augmented", augment), ("plain", None)):
        net = get_model(model, num_classes=10)
        train_iter, test_iter = image_loaders(data, net.config, batch_size=64, augment=aug,
                                              seed=lesson.args.seed)
        histories[name] = fit(net, train_iter, num_epochs, optimizer="adam", lr=2e-3,
                              val_iter=test_iter, progress=False, seed=lesson.args.seed)
    lesson.save_plot(plot_history(histories, title="with augmentation, then without"),
                     "augmented_vs_plain.png")
    with_aug, without = (h.history["val_acc"][-1] for h in histories.values())
    lesson.check("test accuracy with augmentation", with_aug, above=0.8)
    lesson.note("test accuracy without augmentation", f"{without:.4f}")
    lesson.note("train - test accuracy, augmented / plain", " / ".join(
        f"{h.history['acc'][-1] - h.history['val_acc'][-1]:.4f}" for h in histories.values()))
    lesson.finish()


if __name__ == "__main__":
    run(main)
