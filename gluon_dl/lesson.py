"""What every lesson example in ``examples/`` shares: arguments, run modes, data, the learning check.

A lesson script stays teaching material: it builds its model, trains it and
reports the figure that shows learning; this module carries the rest::

    lesson = Lesson(__doc__)
    X, y = lesson.image_data(official="fashion-mnist", default="mnist-5k")
    n = lesson.pick(full=10, quick=3, smoke=1)           # epochs for this run mode
    ...
    lesson.check("test accuracy", acc, above=0.80)       # the run fails below 80%
    lesson.save_plot(fig, "curves.png")
    lesson.finish()                                      # prints, writes result.json, exits

Run modes: the default (full) run reproduces the lesson; ``--quick`` finishes
in under two minutes on two CPU cores and still has to show learning;
``--smoke`` takes a few steps only, for the test suite, and checks nothing
but that every figure is a finite number.

Defined for every lesson's example.
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from .errors import ArgumentError, GluonDLError

MODES = ("full", "quick", "smoke")
RESULT_FILE = "result.json"


class Lesson:
    """One run of a lesson's example.

    Parameters
    ----------
    doc : str
        The script's docstring: its first line is the ``--help`` description.
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).
    arguments : callable, optional
        ``arguments(parser)`` adds the script's own options.
    name : str, optional
        The lesson's name in ``result.json`` and the default ``--out``
        (default: the script's file name without ``.py``).
    """

    def __init__(self, doc, argv=None, arguments=None, name=None):
        self.name = name or Path(sys.argv[0]).stem or "lesson"
        lines = (doc or self.name).strip().splitlines()
        parser = argparse.ArgumentParser(
            prog=Path(sys.argv[0]).name or self.name, description=lines[0],
            epilog="\n".join(lines[1:]).strip() or None,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        modes = parser.add_mutually_exclusive_group()
        modes.add_argument("--quick", action="store_true",
                           help="a short run (under 2 minutes on 2 CPU cores) that still "
                                "has to show learning")
        modes.add_argument("--smoke", action="store_true",
                           help="a few steps only, to check that everything runs; "
                                "no learning check")
        parser.add_argument("--data-root", type=Path, default=None,
                            help="folder holding the official data set files "
                                 "(<root>/<data set>/...); without it the lesson uses "
                                 "data that works offline")
        parser.add_argument("--out", type=Path, default=Path("lesson_output") / self.name,
                            help="folder for plots and result.json (created; files "
                                 "of the same name are replaced, nothing else is touched)")
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        if arguments is not None:
            arguments(parser)
        self.args = parser.parse_args(argv)
        self.mode = "quick" if self.args.quick else "smoke" if self.args.smoke else "full"
        if not 0 <= self.args.seed < 2 ** 32:
            parser.error(f"--seed must be from 0 to {2 ** 32 - 1}, got {self.args.seed}")
        self.out = self.args.out
        self.figures, self.failures, self.notes = {}, [], {}
        self._start = time.perf_counter()
        self._prepare_out(parser)
        self._seed(self.args.seed)

    @property
    def quick(self):
        return self.mode == "quick"

    @property
    def smoke(self):
        return self.mode == "smoke"

    def pick(self, full, quick, smoke=None):
        """The value for this run mode (``smoke`` defaults to ``quick``'s)."""
        return {"full": full, "quick": quick,
                "smoke": quick if smoke is None else smoke}[self.mode]

    # -- data ---------------------------------------------------------------------------------
    def data(self, official, default, split="train"):
        """``load_dataset(official)`` from ``--data-root`` when given, else ``default``.

        ``default`` is a registered data set name that works offline, or a
        callable returning the data.  Prints which one the lesson uses.
        """
        from .data import load_dataset

        if self.args.data_root is not None:
            data = load_dataset(official, split=split, root=self.args.data_root)
            self.notes["data"] = f"{official} ({split}) from {self.args.data_root}"
        elif callable(default):
            data = default()
            self.notes["data"] = getattr(default, "__name__", "built-in data")
        else:
            data = load_dataset(default, split=split)
            self.notes["data"] = f"{default} ({split}), offline"
        print(f"data: {self.notes['data']}", flush=True)
        return data

    def image_data(self, official, default):
        """``(X_train, y_train, X_test, y_test)`` of an image set (see :meth:`data`)."""
        from .data import load_dataset

        X_tr, y_tr = self.data(official, default, "train")
        if self.args.data_root is not None:
            X_te, y_te = load_dataset(official, split="test", root=self.args.data_root)
        else:
            X_te, y_te = load_dataset(default, split="test")
        return X_tr, y_tr, X_te, y_te

    def lm_data(self, batch_size, num_steps, max_tokens, max_held_out,
                official="time-machine", default="python-docs"):
        """What a language-model lesson trains and tests on, as characters.

        Returns ``(train_iter, test_iter, vocab, baseline)``: random training
        windows of the train split (its first ``max_tokens`` characters, None
        for all), the test split read in order from its first character (the
        same held-out windows at every evaluation), the vocabulary, and the
        letter-frequency (unigram) perplexity a model that learned nothing
        about order reaches; the lesson notes it and a data/prefix to generate from.
        """
        from .data import load_data_lm, load_dataset, unigram_perplexity

        text = self.data(official, default)
        held_out = load_dataset(official if self.args.data_root else default, "test",
                                root=self.args.data_root)
        train_iter, vocab = load_data_lm(text, batch_size, num_steps, seed=self.args.seed,
                                         max_tokens=max_tokens)
        test_iter, _ = load_data_lm(held_out, batch_size, num_steps, vocab=vocab,
                                    random=False, offset=0, max_tokens=max_held_out)
        baseline = unigram_perplexity(train_iter.corpus, test_iter.corpus, len(vocab))
        self.note("letter-frequency (unigram) perplexity", f"{baseline:.2f}")
        return train_iter, test_iter, vocab, baseline

    @property
    def lm_prefix(self):
        """A start for generated text in the corpus the lesson reads."""
        return "the time traveller " if self.args.data_root else "the value of "

    # -- results ------------------------------------------------------------------------------
    def check(self, label, value, *, above=None, below=None):
        """Record a figure; outside ``--smoke`` the run fails unless it is above/below the bound."""
        value = float(value)
        self.figures[label] = value
        if not math.isfinite(value):
            self.failures.append(f"{label} is {value}")
        elif self.smoke:
            pass
        elif above is not None and not value > above:
            self.failures.append(f"{label} = {value:.4g}, expected above {above:g}")
        elif below is not None and not value < below:
            self.failures.append(f"{label} = {value:.4g}, expected below {below:g}")
        print(f"{label}: {value:.4g}", flush=True)
        return value

    def note(self, label, value):
        """Record something worth reporting that is not checked (a sample, a setting)."""
        self.notes[label] = value
        print(f"{label}: {value}", flush=True)

    def path(self, name):
        """A path inside ``--out``."""
        return self.out / name

    def save_plot(self, fig, name):
        """Write a matplotlib figure as ``--out/name`` (atomically) and close it."""
        import matplotlib.pyplot as plt

        from .utils.io import atomic_output_path

        target = self.path(name)
        with atomic_output_path(target) as tmp:
            fig.savefig(tmp, format=target.suffix.lstrip(".") or "png", dpi=100,
                        bbox_inches="tight")
        plt.close(fig)
        print(f"plot: {target}", flush=True)
        return target

    def finish(self):
        """Print the verdict, write ``result.json`` and exit: 0 when learning showed, 1 if not."""
        from .utils.io import atomic_write_text

        seconds = time.perf_counter() - self._start
        result = {"lesson": self.name, "mode": self.mode, "seconds": round(seconds, 1),
                  "figures": self.figures, "notes": {k: str(v) for k, v in self.notes.items()},
                  "passed": not self.failures, "failures": self.failures}
        atomic_write_text(self.path(RESULT_FILE), json.dumps(result, indent=2) + "\n")
        if self.failures:
            print(f"{self.name}: did not learn ({'; '.join(self.failures)}) "
                  f"[{self.mode} run, {seconds:.0f} s]", file=sys.stderr, flush=True)
            sys.exit(1)
        print(f"{self.name}: done in {seconds:.0f} s ({self.mode} run)", flush=True)
        sys.exit(0)

    # -- setup --------------------------------------------------------------------------------
    def _prepare_out(self, parser):
        if self.out.exists() and not self.out.is_dir():
            parser.error(f"--out {self.out} is a file; give a folder")
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            parser.error(f"--out {self.out} cannot be created: {exc.strerror}")
        if not os.access(self.out, os.W_OK):
            parser.error(f"--out {self.out} is not writable; give another folder")

    @staticmethod
    def _seed(seed):
        import random

        import mxnet as mx
        import numpy as np

        random.seed(seed)
        np.random.seed(seed)
        mx.random.seed(seed)


def run(main):
    """Call ``main()``; a :class:`~gluon_dl.errors.GluonDLError` becomes one line and exit 1."""
    try:
        main()
    except GluonDLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


__all__ = ["Lesson", "MODES", "RESULT_FILE", "run", "ArgumentError"]
