"""Channel pruning in rounds, with fine-tuning between them.

Removing half of a network's channels at once loses most of what it knew
(a ResNet-20 falls to chance); removing them in a few rounds, fine-tuning
after each, lets the remaining filters take over the work of the removed ones
before the next cut (iterative pruning and retraining, as in Li et al. 2017
and, for single weights, the gradual schedule of Zhu & Gupta 2017).
:func:`channel_sparsity_steps` is pure arithmetic;
:func:`prune_channels_gradually` runs the rounds with
:func:`deploy.prune.prune_channels` and a fine-tuning function of the caller.
"""
import numbers

from gluon_dl.errors import ArgumentError, ArgumentTypeError

from .structured import _check_sparsity

__all__ = ["channel_sparsity_steps", "prune_channels_gradually"]


def channel_sparsity_steps(sparsity, steps):
    """Per-round sparsities whose rounds remove ``sparsity`` of the channels in all.

    Round ``k`` (1-based) brings the removed fraction of the *original*
    channels to ``sparsity * k / steps``: equal cuts of the original width,
    so each round removes a larger fraction of what the previous one left.

    Parameters
    ----------
    sparsity : float
        Fraction of the original channels removed after the last round, in (0, 1).
    steps : int
        Number of rounds, >= 1.

    Returns
    -------
    list of float
        The ``sparsity`` argument of each round's ``prune_channels`` call
        (a fraction of the channels that the network has at that round).
        Their kept fractions multiply to ``1 - sparsity``.  ``prune_channels``
        removes ``floor(fraction * channels)`` per round, so a channel count
        that a round's target does not divide can keep a channel or two more
        than the one-shot cut (16 channels at 0.5 in 2 rounds: 16, 12, 8;
        in 3 rounds: 16, 14, 12, 9).

    Raises
    ------
    ArgumentError
        For a sparsity outside (0, 1) or fewer than one round.
    """
    sparsity = _check_sparsity(sparsity)
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise ArgumentTypeError(f"steps must be an int, got {type(steps).__name__} {steps!r}")
    if steps < 1:
        raise ArgumentError(f"steps is the number of pruning rounds and must be >= 1, got {steps}")
    kept = [1.0 - sparsity * k / steps for k in range(steps + 1)]
    # Rounded so that 1 - 0.75/1.0 reads 0.25, not 0.25000000000000006 (a floor of
    # 0.25 * 16 must be 4, and prune_channels rounds to 6 decimals too).
    return [round(1.0 - after / before, 12) for before, after in zip(kept, kept[1:])]


def prune_channels_gradually(net, sparsity, *, config, steps, fine_tune, exclude=()):
    """Remove ``sparsity`` of the channels in ``steps`` rounds, fine-tuning after each.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
        Initialized network; it is not modified.
    sparsity : float
        Fraction of every prunable channel group removed in all, in (0, 1).
    config : gluon_dl.models.ModelConfig
        The network's config (see :func:`deploy.prune.prune_channels`).
    steps : int
        Pruning rounds (1: one-shot pruning, then one fine-tuning).
    fine_tune : callable
        ``fine_tune(pruned_net, step)``, called after round ``step``
        (0-based) with the network that round produced; it trains that
        network in place (for example with :func:`gluon_dl.training.fit`).
    exclude : str or sequence of str
        Layers whose output channels are kept, as in ``prune_channels``.

    Returns
    -------
    pruned_net : ChannelPrunedNet
        The network after the last round and its fine-tuning.
    reports : list of ChannelPruningReport
        One per round, each relative to the network that round started from:
        ``reports[0].params[0]`` and ``reports[-1].params[1]`` are the
        parameters before and after all rounds (likewise ``flops``).

    Raises
    ------
    ArgumentError
        As ``prune_channels`` and :func:`channel_sparsity_steps`, or if
        ``fine_tune`` is not callable.
    """
    from .structured import prune_channels

    if not callable(fine_tune):
        raise ArgumentTypeError(f"fine_tune must be callable as fine_tune(pruned_net, step), got "
                                f"{type(fine_tune).__name__}")
    reports = []
    for step, fraction in enumerate(channel_sparsity_steps(sparsity, steps)):
        net, report = prune_channels(net, fraction, config=config, exclude=exclude)
        reports.append(report)
        fine_tune(net, step)
    return net, reports

