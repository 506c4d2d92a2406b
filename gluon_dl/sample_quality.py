"""How good generated samples are, judged by a classifier trained on real data.

Defined for the lessons on generative models (GANs, VAEs): a generator's loss
says little about its samples (a GAN's losses do not fall as it improves), so
the course scores samples with a classifier of the real classes, as Salimans
et al. did ("Improved Techniques for Training GANs", NeurIPS 2016).  Plain
numpy: the classifier's softmax probabilities go in.
"""
import numpy as np

from .errors import ArgumentError

__all__ = ["inception_score"]


def inception_score(probs):
    """``exp(E_x KL(p(y|x) || p(y)))`` of class probabilities of generated samples.

    High when each sample looks like one class (confident ``p(y|x)``) and
    the samples cover the classes (a flat ``p(y)``): 1 for samples that all
    get the same distribution (one blob repeated, or uniform noise the
    classifier cannot place), the number of classes at best.  Salimans et
    al. 2016 score with an ImageNet Inception network; the course uses a
    classifier of its own data set (a LeNet on digits), so scores compare
    within a data set only.

    Parameters
    ----------
    probs : array of shape (N, classes)
        Softmax probabilities of ``N`` samples; rows sum to 1.

    Returns
    -------
    float
        In ``[1, classes]``.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ArgumentError(f"inception_score: expected probabilities of shape (N, classes) "
                            f"with N >= 1 and classes >= 2, got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or not np.allclose(p.sum(axis=1), 1, atol=1e-3):
        raise ArgumentError("inception_score: every row must be a probability distribution "
                            "(finite, >= 0, summing to 1); apply softmax to the logits first")
    marginal = p.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))
