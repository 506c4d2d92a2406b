"""The deployment report: one row per artifact and runtime.

Rows print as a table, and are written as JSON, Markdown and a PNG chart.
"""
import dataclasses
import gzip
import json
from pathlib import Path

from gluon_dl.utils.io import atomic_output_path, atomic_write_text

COLUMNS = (
    ("artifact", "artifact", "{}"),
    ("runtime", "runtime", "{}"),
    ("size_bytes", "size (KiB)", "{:.1f}"),
    ("gzip_bytes", "gzip (KiB)", "{:.1f}"),
    ("accuracy", "accuracy", "{:.2%}"),
    ("agreement", "top-1 agreement", "{:.2%}"),
    ("latency_ms", "batch-1 ms (median)", "{:.3f}"),
)


@dataclasses.dataclass
class ArtifactResult:
    """Measurements of one artifact run in one runtime.

    ``agreement`` is the share of held-out samples on which the artifact's
    top-1 class equals the reference fp32 model's.
    """

    artifact: str
    runtime: str
    path: str
    size_bytes: int
    gzip_bytes: int
    accuracy: float
    agreement: float
    latency_ms: float

    def cell(self, key, fmt):
        value = getattr(self, key)
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


def write_reports(results, out_dir, summary=None, stem="report"):
    """Write ``report.json``, ``report.md`` and ``report.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    payload = {"summary": summary or {}, "results": [dataclasses.asdict(r) for r in results]}
    paths = {
        "json": atomic_write_text(out_dir / f"{stem}.json", json.dumps(payload, indent=2) + "\n"),
        "markdown": atomic_write_text(out_dir / f"{stem}.md", to_markdown(results, summary)),
    }
    paths["png"] = plot_results(results, out_dir / f"{stem}.png")
    return paths


def plot_results(results, path, title="LeNet-5 on held-out MNIST: what each artifact costs"):
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
    acc = [100 * r.accuracy for r in results]
    ax.barh(list(y), acc, color="tab:green")
    lo = max(0.0, min(acc) - 2)
    ax.set_xlim(lo, 100)
    ax.set_xlabel("held-out accuracy (%)")
    for i, a in zip(y, acc):
        ax.text(a, i, f" {a:.2f}", va="center", fontsize=8)
    ax = axes[2]
    ax.barh(list(y), [r.latency_ms for r in results], color="tab:orange")
    ax.set_xlabel("batch-1 latency, median (ms)")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_output_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
