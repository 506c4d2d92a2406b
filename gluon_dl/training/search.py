"""Hyperparameter search: every combination of a grid, or random draws from ranges.

Both call ``train_fn(**params)`` once per trial, read a score from what it
returns (a number, or the history of :func:`~gluon_dl.training.fit`) and
return the trials best first.  Pure Python: ``train_fn`` does the training.
"""
import itertools
import math
import numbers
import random
from collections.abc import Mapping

from ..errors import ArgumentError

__all__ = ["format_table", "grid_search", "random_search"]


def grid_search(train_fn, grid, *, metric=None, mode="auto"):
    """Train once per combination of the candidate values and rank the runs.

    Defined for the lesson on model selection (choosing hyperparameters on
    validation data, never on the test set).

    Parameters
    ----------
    train_fn : callable
        ``train_fn(**params)`` trains with one combination and returns a
        score, or a :class:`~gluon_dl.training.History` (or its ``.history``
        dict) whose last ``metric`` value is the score.
    grid : dict
        Keyword name -> list (or tuple, range, array) of candidate values; a
        single value that is not a sequence is passed to every trial as is.
        Combinations follow the dict's order, the last name varying fastest.
    metric : str, optional
        Logged name to score a history by; default ``"val_loss"``.
    mode : {"auto", "min", "max"}
        Which way is better; ``"auto"`` maximizes names containing "acc" and
        minimizes the rest (plain numbers: lower is better).

    Returns
    -------
    list of dict
        One per trial, best first (NaN scores last): ``trial`` (its index in
        the order tried), ``params``, ``score``, ``metric`` (the name scored,
        ``"score"`` for plain numbers) and ``result`` (what ``train_fn``
        returned).  :func:`format_table` prints it.
    """
    _check_space("grid_search", "grid", grid)
    names = list(grid)
    candidates = [_candidates(name, grid[name]) for name in names]
    trials = [dict(zip(names, combo)) for combo in itertools.product(*candidates)]
    return _run(train_fn, trials, metric, mode)


def random_search(train_fn, space, num_trials, seed=0, *, log=False, metric=None, mode="auto"):
    """Train on ``num_trials`` random draws from the search space and rank the runs.

    Defined for the lesson on model selection; with few trials it often
    beats a grid, because every trial tries a new value of every parameter.

    Parameters
    ----------
    train_fn : callable
        As in :func:`grid_search`.
    space : dict
        Keyword name -> what to draw from: a list is a choice among its
        values; a ``(low, high)`` tuple is a uniform range (integers when
        both ends are ints, ``high`` included); anything else is passed as is.
    num_trials : int
        Trials to run, >= 1.
    seed : int
        Seed of the draws: the same seed draws the same trials.
    log : bool or iterable of str
        Draw ranges uniformly on a log scale (learning rates, weight decay):
        all of them (``True``) or the named ones; their ends must be > 0.
    metric, mode
        As in :func:`grid_search`.

    Returns
    -------
    list of dict
        As :func:`grid_search`.
    """
    _check_space("random_search", "space", space)
    if isinstance(num_trials, bool) or not isinstance(num_trials, numbers.Integral) \
            or num_trials < 1:
        raise ArgumentError(f"random_search: num_trials must be an integer >= 1, "
                            f"got {num_trials!r}")
    log_names = _log_names(space, log)
    samplers = {name: _sampler(name, spec, name in log_names) for name, spec in space.items()}
    rng = random.Random(seed)
    trials = [{name: draw(rng) for name, draw in samplers.items()} for _ in range(num_trials)]
    return _run(train_fn, trials, metric, mode)


def format_table(results, digits=4):
    """The results of a search as a plain-text table, best first.

    Defined for the lesson on model selection, with :func:`grid_search`.

    Parameters
    ----------
    results : list of dict
        What :func:`grid_search` or :func:`random_search` returned.
    digits : int
        Significant digits of floats.

    Returns
    -------
    str
    """
    names = []
    for r in results:
        names += [k for k in r["params"] if k not in names]
    metric = results[0]["metric"] if results else "score"
    header = ["rank", "trial"] + names + [metric]
    rows = [[str(rank), str(r["trial"])] + [_cell(r["params"].get(k, ""), digits) for k in names]
            + [_cell(r["score"], digits)] for rank, r in enumerate(results, 1)]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths]] + rows
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def _cell(value, digits):
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _check_space(owner, what, space):
    if not isinstance(space, Mapping) or not space:
        raise ArgumentError(f"{owner}: {what} must be a non-empty dict of keyword name -> "
                            f"values, got {space!r}")


def _candidates(name, values):
    if isinstance(values, (list, tuple, range)):
        values = list(values)
    elif getattr(values, "ndim", 0) >= 1 and hasattr(values, "tolist"):  # a numpy array
        values = values.tolist()
    else:
        return [values]
    if not values:
        raise ArgumentError(f"grid_search: grid['{name}'] has no candidate values; give at "
                            f"least one")
    return values


def _log_names(space, log):
    if isinstance(log, bool):
        return {n for n, spec in space.items() if isinstance(spec, tuple)} if log else set()
    names = {log} if isinstance(log, str) else set(log)
    for name in names:
        if not isinstance(space.get(name), tuple):
            raise ArgumentError(f"random_search: log names '{name}', which is not a (low, high) "
                                f"range of the space; name ranges only")
    return names


def _sampler(name, spec, log):
    """A function ``rng -> value`` drawing parameter ``name`` from ``spec``."""
    if isinstance(spec, (list, range)):
        choices = list(spec)
        if not choices:
            raise ArgumentError(f"random_search: space['{name}'] is an empty list; give at "
                                f"least one choice")
        return lambda rng: rng.choice(choices)
    if not isinstance(spec, tuple):
        return lambda rng: spec
    if len(spec) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                 for v in spec):
        raise ArgumentError(f"random_search: space['{name}'] = {spec!r}; a tuple is a (low, high) "
                            f"range of numbers, a list is a choice")
    low, high = spec
    if not low <= high or (log and low <= 0):
        raise ArgumentError(f"random_search: space['{name}'] = {spec!r} needs low <= high"
                            f"{' and low > 0 on a log scale' if log else ''}")
    integer = all(isinstance(v, numbers.Integral) for v in spec)
    if log:
        a, b = math.log(low), math.log(high)
        if integer:
            return lambda rng: min(max(round(math.exp(rng.uniform(a, b))), low), high)
        return lambda rng: math.exp(rng.uniform(a, b))
    if integer:
        return lambda rng: rng.randint(low, high)
    return lambda rng: rng.uniform(low, high)


def _run(train_fn, trials, metric, mode):
    if not callable(train_fn):
        raise ArgumentError(f"train_fn must be a function of the keyword arguments, got "
                            f"{type(train_fn).__name__}")
    if mode not in ("auto", "min", "max"):
        raise ArgumentError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    results = []
    for i, params in enumerate(trials):
        result = train_fn(**params)
        score, name = _score(result, metric, params)
        results.append(dict(trial=i, params=params, score=score, metric=name, result=result))
    name = results[0]["metric"]
    maximize = mode == "max" or (mode == "auto" and "acc" in name)
    return sorted(results, key=lambda r: (math.isnan(r["score"]),
                                          -r["score"] if maximize else r["score"]))


def _score(result, metric, params):
    """The score of one trial's result and the name it was read under."""
    if isinstance(result, numbers.Real) and not isinstance(result, bool):
        return float(result), metric or "score"
    logs = getattr(result, "history", result)
    if not isinstance(logs, Mapping):
        raise ArgumentError(f"train_fn({params}) returned {type(result).__name__}; return a "
                            f"number or the History of fit()")
    name = metric or "val_loss"
    if not logs.get(name):
        raise ArgumentError(f"train_fn({params}) returned a history without '{name}' (it has "
                            f"{sorted(logs)}); pass metric= one of them, or val_iter to fit()")
    return float(logs[name][-1]), name
