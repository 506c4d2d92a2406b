"""Runs a pruner inside :func:`gluon_dl.training.fit`."""
from gluon_dl.training.callbacks import Callback


class PruningCallback(Callback):
    """Updates masks on the pruner's schedule and re-applies them after every step.

    The optimizer moves pruned weights away from zero on every update (momentum,
    Adam's moments); applying the masks after ``trainer.step`` keeps them at
    zero so fine-tuning recovers accuracy with the sparse structure fixed.

    Parameters
    ----------
    pruner : deploy.prune.MagnitudePruner
    """

    def __init__(self, pruner):
        self.pruner = pruner
        self.step = 0

    def on_train_begin(self, logs=None):
        self.pruner.update(self.step)

    def on_batch_end(self, batch, logs=None):
        self.step += 1
        if not self.pruner.update(self.step):
            self.pruner.apply_masks()
        if logs is not None:
            logs["sparsity"] = self.pruner.overall_sparsity()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["sparsity"] = self.pruner.overall_sparsity()
