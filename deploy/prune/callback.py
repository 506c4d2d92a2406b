"""Runs a pruner inside :func:`gluon_dl.training.fit`."""
from gluon_dl.training.callbacks import Callback


class PruningCallback(Callback):
    """Updates masks on the pruner's schedule and re-applies them after every step.

    The optimizer moves pruned weights away from zero on every update (momentum,
    Adam's moments); applying the masks after ``trainer.step`` keeps them at
    zero so fine-tuning recovers accuracy with the sparse structure fixed.

    The schedule is driven by ``fit``'s global step, so a run resumed from a
    checkpoint prunes at the same steps, to the same sparsities, as an
    uninterrupted one.  On resuming, the masks are recomputed from the
    checkpoint's weights at the sparsity of the schedule's last pruning step:
    ``ModelCheckpoint`` saves after this callback has masked the step, so the
    pruned weights are exactly the checkpoint's zeros and magnitude pruning
    picks them again (ties go to the lower index).

    Parameters
    ----------
    pruner : deploy.prune.MagnitudePruner
    """

    def __init__(self, pruner):
        self.pruner = pruner

    @property
    def step(self):
        """The global step the masks are up to date with."""
        return self.pruner.step

    def on_train_begin(self, logs=None):
        self.pruner.resume(self._global_step())

    def on_batch_end(self, batch, logs=None):
        if not self.pruner.update(self._global_step()):
            self.pruner.apply_masks()
        if logs is not None:
            logs["sparsity"] = self.pruner.overall_sparsity()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["sparsity"] = self.pruner.overall_sparsity()

    def _global_step(self):
        # fit sets the state before on_train_begin; outside fit, count from 0.
        return self.state.global_step if self.state is not None else 0
