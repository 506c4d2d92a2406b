"""The deployment report: one row per artifact and runtime.

Rows print as a table, and are written as JSON, Markdown and a PNG chart.
"""
import dataclasses
import gzip
import json
from pathlib import Path
from typing import Optional

import numpy as np

from gluon_dl.utils.io import atomic_output_path, atomic_write_text

COLUMNS = (
    ("artifact", "artifact", "{}"),
    ("runtime", "runtime", "{}"),
    ("size_bytes", "size (KiB)", "{:.1f}"),
    ("gzip_bytes", "gzip (KiB)", "{:.1f}"),
    ("accuracy", "accuracy", "{:.2%}"),
    ("agreement", "top-1 agreement", "{:.2%}"),
    ("latency_ms", "batch-1 ms (median)", "{:.3f}"),
    ("max_abs_error", "max abs error", "{:.3g}"),
)


@dataclasses.dataclass
class ArtifactResult:
    """Measurements of one artifact run in one runtime.

    ``agreement`` is the share of held-out samples on which the artifact's
    top-1 class equals the reference float32 MXNet model's; ``accuracy``
    needs true labels.  Both are None where they do not apply (no labels, a
    model that is no classifier); ``max_abs_error`` compares every output
    with the reference's.
    """

    artifact: str
    runtime: str
    path: str
    size_bytes: int
    gzip_bytes: int
    accuracy: Optional[float]
    agreement: Optional[float]
    latency_ms: float
    max_abs_error: Optional[float] = None

    def cell(self, key, fmt):
        value = getattr(self, key)
        if value is None:
            return "n/a"
        if key.endswith("_bytes"):
            value = value / 1024
        return fmt.format(value)


def file_sizes(paths):
    """Total raw and gzip-compressed (level 9) size of one artifact's files."""
    raw = packed = 0
    for p in paths:
        data = Path(p).read_bytes()
        raw += len(data)
        packed += len(gzip.compress(data, compresslevel=9, mtime=0))
    return raw, packed


def evaluate_artifacts(artifacts, inputs, reference, labels=None, latency_runs=100, log=print):
    """Run every artifact in every installed runtime that runs it; one row each.

    Parameters
    ----------
    artifacts : list of (str, list of Path)
        ``(label, files)``: the model file first, then the files it needs.
    inputs : list of numpy.ndarray
        Raw inputs (what :meth:`deploy.runtime.Predictor.predict` takes), one
        array per model input.
    reference : list of numpy.ndarray
        The reference model's outputs on ``inputs`` (its first output decides
        top-1 agreement when it holds one score per class).
    labels : numpy.ndarray, optional
        True classes, for the accuracy column.
    latency_runs : int
        Batch-1 calls timed per artifact and runtime (the median is reported).

    Returns
    -------
    list of ArtifactResult
    """
    from .runtime import available_backends, benchmark_latency, load

    results = []
    for label, files in artifacts:
        size, packed = file_sizes(files)
        for backend in available_backends(files[0]):
            predictor = load(files[0], backend=backend)
            outputs = predictor.predict(*inputs)
            outputs = outputs if isinstance(outputs, list) else [outputs]
            top1 = _top1(outputs[0])
            ref_top1 = _top1(reference[0])
            sample = inputs[0][0] if len(inputs) == 1 else [x[0] for x in inputs]
            latency = float(np.median(benchmark_latency(
                predictor, sample, runs=latency_runs,
                warmup=max(3, latency_runs // 10))))
            results.append(ArtifactResult(
                artifact=label, runtime=predictor.backend, path=str(Path(files[0]).name),
                size_bytes=size, gzip_bytes=packed,
                accuracy=None if labels is None or top1 is None else
                float(np.mean(top1 == labels)),
                agreement=None if top1 is None else float(np.mean(top1 == ref_top1)),
                latency_ms=latency * 1e3, max_abs_error=_max_error(outputs, reference)))
            done = results[-1]
            log(f"ran {label} in {predictor.backend}: " + (
                f"accuracy {done.accuracy:.2%}" if done.accuracy is not None else
                f"max abs error {done.max_abs_error:.3g} vs the MXNet model"))
    return results


def _top1(scores):
    scores = np.asarray(scores)
    return scores.argmax(axis=1) if scores.ndim == 2 and scores.shape[1] > 1 else None


def _max_error(outputs, reference):
    if len(outputs) != len(reference) or any(
            np.shape(o) != np.shape(r) for o, r in zip(outputs, reference)):
        return None
    return max(float(np.abs(np.asarray(o, np.float32) - np.asarray(r, np.float32)).max())
               for o, r in zip(outputs, reference))


def format_table(results):
    """Plain-text table, columns aligned, for the terminal."""
    header = [title for _, title, _ in COLUMNS]
    rows = [[r.cell(key, fmt) for key, _, fmt in COLUMNS] for r in results]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    numeric = [i >= 2 for i in range(len(COLUMNS))]

    def line(cells):
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric))

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def to_markdown(results, summary=None):
    """A Markdown table, preceded by ``summary`` lines (key: value)."""
    lines = []
    for k, v in (summary or {}).items():
        lines.append(f"- **{k}**: {v}")
    if lines:
        lines.append("")
    header = [title for _, title, _ in COLUMNS]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
    for r in results:
        lines.append("| " + " | ".join(r.cell(key, fmt) for key, _, fmt in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def write_reports(results, out_dir, summary=None, stem="report", title=None):
    """Write ``report.json``, ``report.md`` and ``report.png`` (titled ``title``) into ``out_dir``."""
    out_dir = Path(out_dir)
    payload = {"summary": summary or {}, "results": [dataclasses.asdict(r) for r in results]}
    paths = {
        "json": atomic_write_text(out_dir / f"{stem}.json", json.dumps(payload, indent=2) + "\n"),
        "markdown": atomic_write_text(out_dir / f"{stem}.md", to_markdown(results, summary)),
    }
    paths["png"] = plot_results(results, out_dir / f"{stem}.png",
                                **({"title": title} if title else {}))
    return paths


def _quality(results):
    """The quality measure every row has: accuracy, else agreement, else max abs error."""
    for key, name in (("accuracy", "held-out accuracy (%)"),
                      ("agreement", "top-1 agreement with MXNet (%)")):
        values = [getattr(r, key) for r in results]
        if all(v is not None for v in values):
            return [100 * v for v in values], name
    return [r.max_abs_error for r in results], "max abs error vs MXNet"


def plot_results(results, path, title="What each artifact costs"):
    """Bar charts of size, accuracy and latency per artifact/runtime."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.artifact}\n{r.runtime}" for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(17, 0.5 * len(results) + 2.2), sharey=True)
    y = range(len(results))
    ax = axes[0]
    ax.barh([i + 0.2 for i in y], [r.size_bytes / 1024 for r in results], 0.4, label="file")
    ax.barh([i - 0.2 for i in y], [r.gzip_bytes / 1024 for r in results], 0.4, label="gzip")
    ax.set_xlabel("size (KiB)")
    ax.legend(loc="lower right")
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax = axes[1]
    metric, name = _quality(results)
    ax.barh(list(y), [np.nan if v is None else v for v in metric], color="tab:green")
    known = [v for v in metric if v is not None]
    if known and name.endswith("(%)"):
        ax.set_xlim(max(0.0, min(known) - 2), 100)
    ax.set_xlabel(name)
    for i, a in zip(y, metric):
        if a is not None:
            ax.text(a, i, f" {a:.2f}" if name.endswith("(%)") else f" {a:.2g}", va="center",
                    fontsize=8)
    ax = axes[2]
    ax.barh(list(y), [r.latency_ms for r in results], color="tab:orange")
    ax.set_xlabel("batch-1 latency, median (ms)")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_output_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
