"""The course's plots: live training curves, histories, image grids, attention maps.

Each helper shows its figure in a notebook (through IPython's display, when
the code runs in a Jupyter kernel) and writes a PNG when given ``path``
(atomically: a reader never sees half a file), so the same code serves a
lesson's notebook and a script.  Figures are made with matplotlib's object
API, without pyplot: no global figure list to leak, no backend to switch.
matplotlib (the ``train`` extra) and IPython are imported on first use.
"""
import io
import math
import numbers
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import ArgumentError, InputShapeError
from .training.callbacks import Callback
from .utils.deps import require
from .utils.io import atomic_write_bytes

__all__ = ["Animator", "AnimatorCallback", "plot_history", "show_heatmaps", "show_images"]

DPI = 120
_PURPOSE = "Plotting"


def _figure(**kwargs):
    """A matplotlib Figure with an Agg canvas, outside pyplot's registry."""
    figure = require("matplotlib.figure", "train", _PURPOSE)
    agg = require("matplotlib.backends.backend_agg", "train", _PURPOSE)
    fig = figure.Figure(**kwargs)
    agg.FigureCanvasAgg(fig)
    return fig


def _png_bytes(fig):
    buf = io.BytesIO()
    # A tight box, as notebooks' inline figures have: labels are never cut off.
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def in_notebook():
    """Whether the code runs in a Jupyter kernel (IPython is not imported to find out)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    # Terminal IPython has no kernel and would print an Image object's repr.
    return shell is not None and getattr(shell, "kernel", None) is not None


def _display_png(png, handle=None):
    """Show PNG bytes in the notebook; update ``handle`` in place when given."""
    display = sys.modules.get("IPython.display") or require("IPython.display", "train", _PURPOSE)
    image = display.Image(data=png)
    if handle is not None:
        handle.update(image)
        return handle
    return display.display(image, display_id=True)


def _finish(fig, path):
    """Write ``fig`` to ``path`` and/or show it in a notebook; see the plots' Returns."""
    notebook = in_notebook()
    png = _png_bytes(fig) if path is not None or notebook else None
    if path is not None:
        atomic_write_bytes(path, png)
    if notebook:
        _display_png(png)
    if path is not None:
        return Path(path)
    return None if notebook else fig


def _to_numpy(x, what):
    if hasattr(x, "asnumpy"):
        x = x.asnumpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InputShapeError(f"{what} must be an array or NDArray, got "
                              f"{type(x).__name__}: {exc}") from exc


def _float(value):
    # An MXNet NDArray has no __float__; asscalar() reads a one-element array.
    return float(value.asscalar() if hasattr(value, "asscalar") else value)


def _check_count(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ArgumentError(f"{owner}: {name} must be an integer >= 1, got {value!r}")
    return int(value)


class Animator:
    """Curves that grow point by point while a model trains.

    Defined for the lesson on softmax regression (training curves), and used
    by every training loop of the course after it.  Each :meth:`add` redraws
    the figure: in a notebook it replaces the figure shown under the cell;
    with ``path`` it rewrites a PNG atomically (a viewer that reloads it never
    reads half a file).  ``min_interval`` throttles the redraws for callers
    that add many points; :meth:`flush` draws what is pending.

    Parameters
    ----------
    xlabel, ylabel : str, optional
    legend : list of str, optional
        One label per curve.
    xlim, ylim : (float, float), optional
    xscale, yscale : str
        ``"linear"`` or ``"log"``.
    fmts : sequence of str
        matplotlib format strings of the curves, in order; curves beyond
        them are solid lines in matplotlib's next colours.
    nrows, ncols : int
        Subplots of the figure (the curves go to the first; the others are
        ``self.axes[1:]`` for the caller to draw on).
    figsize : (float, float)
        Inches.
    path : str or Path, optional
        PNG file rewritten on every redraw.
    display : bool, optional
        Show the figure in the notebook; default: when running in a Jupyter kernel.
    min_interval : float
        Seconds between two redraws; 0 redraws on every ``add``.

    Attributes
    ----------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
    X, Y : list of list of float
        The points of each curve.
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
                 nrows=1, ncols=1, figsize=(3.5, 2.5), *, path=None, display=None,
                 min_interval=0.0):
        nrows = _check_count("Animator", "nrows", nrows)
        ncols = _check_count("Animator", "ncols", ncols)
        if isinstance(min_interval, bool) or not isinstance(min_interval, numbers.Real) \
                or not min_interval >= 0:
            raise ArgumentError(f"Animator: min_interval must be a number of seconds >= 0, "
                                f"got {min_interval!r}")
        self.fig = _figure(figsize=figsize)
        self.axes = list(self.fig.subplots(nrows, ncols, squeeze=False).ravel())
        self._labels = dict(xlabel=xlabel, ylabel=ylabel, xlim=xlim, ylim=ylim,
                            xscale=xscale, yscale=yscale)
        self.legend, self.fmts = list(legend or []), tuple(fmts)
        self.path = Path(path) if path is not None else None
        self.display = in_notebook() if display is None else bool(display)
        self.min_interval = float(min_interval)
        self.X, self.Y = None, None
        self._handle, self._last_draw, self._pending = None, None, False

    def add(self, x, y):
        """Append one point to each curve and redraw.

        Parameters
        ----------
        x : float or sequence of float
            One x for every curve, or one per curve.
        y : float or sequence of float
            One value per curve; ``None`` skips that curve for this point.
        """
        ys = list(y) if hasattr(y, "__len__") else [y]
        xs = list(x) if hasattr(x, "__len__") else [x] * len(ys)
        if self.X is None:
            self.X, self.Y = [[] for _ in ys], [[] for _ in ys]
        if len(ys) != len(self.Y) or len(xs) != len(ys):
            raise ArgumentError(f"Animator.add: got {len(xs)} x and {len(ys)} y values for "
                                f"{len(self.Y)} curves; pass one y (and one x or a shared x) "
                                f"per curve, as in the first call")
        for i, (a, b) in enumerate(zip(xs, ys)):
            if a is not None and b is not None:
                self.X[i].append(_float(a))
                self.Y[i].append(_float(b))
        self._pending = True
        now = time.monotonic()
        if self._last_draw is None or now - self._last_draw >= self.min_interval:
            self.flush()

    def flush(self):
        """Redraw now if points were added since the last redraw (throttled ones)."""
        if not self._pending:
            return
        self._draw()
        self._pending, self._last_draw = False, time.monotonic()
        if self.path is None and not self.display:
            return
        png = _png_bytes(self.fig)
        if self.path is not None:
            atomic_write_bytes(self.path, png)
        if self.display:
            self._handle = _display_png(png, self._handle)

    def _draw(self):
        ax, lab = self.axes[0], self._labels
        ax.cla()
        for i, (xs, ys) in enumerate(zip(self.X, self.Y)):
            ax.plot(xs, ys, self.fmts[i] if i < len(self.fmts) else "-")
        ax.set_xlabel(lab["xlabel"])
        ax.set_ylabel(lab["ylabel"])
        ax.set_xscale(lab["xscale"])
        ax.set_yscale(lab["yscale"])
        if lab["xlim"] is not None:
            ax.set_xlim(lab["xlim"])
        if lab["ylim"] is not None:
            ax.set_ylim(lab["ylim"])
        if self.legend:
            ax.legend(self.legend)
        ax.grid(True)

    def __repr__(self):
        points = len(self.X[0]) if self.X else 0
        return f"Animator(curves={len(self.X or [])}, points={points}, path={self.path})"


class AnimatorCallback(Callback):
    """Feeds the epoch logs of :func:`gluon_dl.training.fit` to an :class:`Animator`.

    Defined for the lessons that watch a model train (softmax regression on)::

        fit(net, train_iter, 10, val_iter=test_iter,
            callbacks=[AnimatorCallback(path="curves.png")])

    draws the loss and accuracy curves the course draws, one point per epoch.

    Parameters
    ----------
    keys : list of str, optional
        Logged values to draw, e.g. ``["loss", "val_acc"]``; default every
        number in the first epoch's logs.
    animator : Animator, optional
        Draw into this one; default one made at the first epoch, with the
        keys as legend and the epochs on the x axis.
    path : str or Path, optional
        PNG file of the default animator.
    **animator_kwargs
        More arguments of the default animator (``ylim``, ``figsize``...).
    """

    def __init__(self, keys=None, animator=None, path=None, **animator_kwargs):
        if animator is not None and (path is not None or animator_kwargs):
            raise ArgumentError("AnimatorCallback: pass either an animator or the arguments "
                                "of a new one (path, ...), not both")
        self.keys = list(keys) if keys is not None else None
        self.animator, self.path, self._kwargs = animator, path, animator_kwargs

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = [k for k, v in logs.items()
                         if isinstance(v, numbers.Real) and not isinstance(v, bool)]
        if self.animator is None:
            self.animator = self._make_animator()
        self.animator.add(epoch + 1, [logs.get(k) for k in self.keys])

    def on_train_end(self, logs=None):
        if self.animator is not None:
            self.animator.flush()

    def _make_animator(self):
        num_epochs = getattr(self.state, "num_epochs", None)
        kwargs = dict(xlabel="epoch", legend=self.keys, path=self.path)
        if num_epochs and num_epochs > 1:
            kwargs["xlim"] = (1, num_epochs)
        kwargs.update(self._kwargs)
        return Animator(**kwargs)


def plot_history(history, path=None, title=None):
    """Every logged value of a training run per epoch, training and validation paired.

    Defined for the lessons that compare training and validation curves
    (underfitting and overfitting on).  One panel per logged name: ``loss``
    with ``val_loss``, ``acc`` with ``val_acc``, and any other key (``lr``,
    ``perplexity``...) on its own; a regression run without accuracy simply
    has fewer panels.

    Parameters
    ----------
    history : History or dict
        What :func:`~gluon_dl.training.fit` returns, its ``.history`` dict
        (name -> per-epoch values), or a dict of phase name -> either of
        those (training, then fine-tuning...), drawn one after the other.
    path : str or Path, optional
        PNG file to write.
    title : str, optional

    Returns
    -------
    Path, Figure or None
        ``path`` when given; else the figure, or ``None`` when it was shown
        in a notebook (so it does not show twice).
    """
    phases = _phases(history)
    names = list(dict.fromkeys(_base(k) for _, logs in phases for k in logs))
    if not names:
        raise ArgumentError("plot_history: the history holds no per-epoch numbers; pass what "
                            "fit() returned after at least one epoch")
    ncols = min(len(names), 3)
    nrows = math.ceil(len(names) / ncols)
    fig = _figure(figsize=(4.2 * ncols, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        _plot_metric(ax, name, phases)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, path)


def _base(key):
    return key[4:] if key.startswith("val_") else key


def _phases(history):
    """``[(phase name or None, {key: list of floats})]`` from any accepted history."""
    def logs_of(h):
        logs = getattr(h, "history", h)
        if not isinstance(logs, Mapping):
            raise ArgumentError(f"plot_history: expected a History or its .history dict, got "
                                f"{type(h).__name__}")
        numeric = {k: _numbers(v) for k, v in logs.items()}
        return {k: v for k, v in numeric.items() if v is not None}

    if isinstance(history, Mapping) and history and all(
            isinstance(getattr(v, "history", v), Mapping) for v in history.values()):
        return [(str(name), logs_of(h)) for name, h in history.items()]
    return [(None, logs_of(history))]


def _numbers(values):
    """``values`` as a list of floats (None -> NaN), or None if they are not numbers."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return None
    out = []
    for v in values:
        if v is None:
            out.append(float("nan"))
        elif isinstance(v, numbers.Real) and not isinstance(v, bool):
            out.append(float(v))
        else:
            return None
    return out or None


def _plot_metric(ax, name, phases):
    paired = any(f"val_{name}" in logs for _, logs in phases)
    offset = 0
    for i, (phase, logs) in enumerate(phases):
        prefix = f"{phase}: " if phase else ""
        series = ((name, "train" if paired else name, "-o"), (f"val_{name}", "validation", "--s"))
        for j, (key, label, style) in enumerate(series):
            if key in logs:
                epochs = range(offset + 1, offset + len(logs[key]) + 1)
                ax.plot(epochs, logs[key], style, color=f"C{(2 * i + j) % 10}", markersize=3,
                        label=prefix + label)
        offset += max((len(v) for v in logs.values()), default=0)
    ax.set_title(name)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(require("matplotlib.ticker", "train", _PURPOSE)
                               .MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def show_images(imgs, num_rows, num_cols, titles=None, scale=1.5, path=None):
    """A grid of images with optional titles.

    Defined for the lesson on the image classification data set
    (Fashion-MNIST), and used by the computer vision lessons after it.

    Parameters
    ----------
    imgs : array, NDArray or list of them
        A batch ``(N, H, W)`` (grayscale), ``(N, C, H, W)`` or ``(N, H, W, C)``
        with ``C`` 1 or 3, or a list of single images ``(H, W)``,
        ``(C, H, W)`` or ``(H, W, C)``.  The layout is read from the axis of
        size 1 or 3 (channels last when both ends qualify).  ``uint8`` and
        other integers are read on 0..255; floats on 0..1, and a float image
        outside 0..1 (normalized inputs) is rescaled to its own min..max.
    num_rows, num_cols : int
        The grid; extra images are left out, extra cells left blank.
    titles : list of str, optional
        Titles of the first images.
    scale : float
        Inches per cell.
    path : str or Path, optional
        PNG file to write.

    Returns
    -------
    Path, Figure or None
        As :func:`plot_history`.
    """
    num_rows = _check_count("show_images", "num_rows", num_rows)
    num_cols = _check_count("show_images", "num_cols", num_cols)
    batch = _to_numpy(imgs, "show_images: imgs") if not isinstance(imgs, (list, tuple)) else imgs
    if isinstance(batch, np.ndarray) and batch.ndim == 2:
        batch = batch[None]
    fig = _figure(figsize=(num_cols * scale, num_rows * scale))
    axes = fig.subplots(num_rows, num_cols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= len(batch):
            continue
        image, vmax = _as_image(batch[i], i)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=vmax)
        if titles is not None and i < len(titles):
            ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return _finish(fig, path)


def _as_image(img, index):
    """One image as ``(H, W)`` or ``(H, W, 3)`` for imshow, and its value range's top."""
    a = _to_numpy(img, f"show_images: image {index}")
    if a.ndim == 3:
        if a.shape[-1] in (1, 3):
            pass
        elif a.shape[0] in (1, 3):
            a = np.moveaxis(a, 0, -1)
        else:
            raise InputShapeError(f"show_images: image {index} has shape {a.shape}, with no "
                                  f"channel axis of size 1 or 3 first or last; pass (H, W), "
                                  f"(C, H, W) or (H, W, C) images")
        if a.shape[-1] == 1:
            a = a[..., 0]
    if a.ndim != 2 and a.ndim != 3:
        raise InputShapeError(f"show_images: image {index} has shape {a.shape}; pass a batch "
                              f"(N, H, W), (N, C, H, W) or (N, H, W, C), or a list of images")
    if a.dtype.kind in "biu":
        return np.clip(a, 0, 255).astype(np.uint8), 255
    a = a.astype(np.float32)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if lo < 0 or hi > 1:
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a, 1.0


def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=None, cmap="Reds", path=None):
    """A grid of heatmaps sharing one colour scale: attention weights.

    Defined for the lesson on attention cues (and used by Bahdanau attention,
    multi-head attention and the Transformer).

    Parameters
    ----------
    matrices : array or NDArray
        ``(rows, cols, queries, keys)``; a 2-D or 3-D array is one row.  The
        attention weights of :func:`gluon_dl.inference.predict_seq2seq` have
        this layout.
    xlabel, ylabel : str
        Labels of the bottom row's x axes and of the first column's y axes.
    titles : list of str, optional
        One per column.
    figsize : (float, float), optional
        Inches; default 2.5 per heatmap.
    cmap : str
    path : str or Path, optional
        PNG file to write.

    Returns
    -------
    Path, Figure or None
        As :func:`plot_history`.
    """
    m = _to_numpy(matrices, "show_heatmaps: matrices").astype(np.float32)
    if m.ndim in (2, 3):
        m = m.reshape((1,) * (4 - m.ndim) + m.shape)
    if m.ndim != 4 or 0 in m.shape:
        raise InputShapeError(f"show_heatmaps: matrices have shape {m.shape}; pass "
                              f"(rows, cols, queries, keys), e.g. attention weights")
    num_rows, num_cols = m.shape[:2]
    fig = _figure(figsize=figsize or (2.5 * num_cols, 2.5 * num_rows))
    axes = fig.subplots(num_rows, num_cols, sharex=True, sharey=True, squeeze=False)
    vmin, vmax = float(np.nanmin(m)), float(np.nanmax(m))
    for i in range(num_rows):
        for j in range(num_cols):
            ax = axes[i, j]
            image = ax.imshow(m[i, j], cmap=cmap, vmin=vmin, vmax=vmax)
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles is not None and j < len(titles):
                ax.set_title(str(titles[j]))
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6)
    return _finish(fig, path)
