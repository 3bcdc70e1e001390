"""What every figure of the toolkit shares, so that they read the same way.

- :func:`colors`: one colour per series (system, attack, defence) for the whole figure, whatever panel
  it appears in or is missing from;
- :func:`class_axis`: a categorical class axis with the class names (and the attacked classes shaded);
- :func:`mean_line`: the dotted mean over classes, explained once in the legend;
- :func:`upper_bound_marker`: an error rate with no error counted, drawn as an upper bound ``1/N`` (a
  down-pointing triangle at the floor of the N bits/blocks sent), explained once in the legend;
- :func:`save`: the figure written atomically in the format of the file's extension.

Matplotlib is imported on first use (the Agg backend: files only, no display).
"""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_write

__all__ = ["pyplot", "colors", "class_names", "class_axis", "mean_line", "upper_bound_marker", "save"]

MEAN_LABEL = "dotted: mean over classes"
BOUND_LABEL = "no error among the N bits/blocks sent: rate < 1/N"


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colors(labels) -> dict[str, str]:
    """``{label: colour}``: the default colour cycle in first-seen order, one colour per distinct label."""
    out: dict[str, str] = {}
    for label in labels:
        if label not in out:
            out[label] = f"C{len(out) % 10}"
    return out


def class_names(run_or_dataset, num_classes: int) -> list[str]:
    """Names of ``num_classes`` classes: from a run document's configuration (``config.system.classes``), or
    from a data set name (``"cifar10"``, ``"mnist"``); else ``"0", "1", ...``."""
    names = None
    if isinstance(run_or_dataset, dict):
        names = ((run_or_dataset.get("config") or {}).get("system") or {}).get("classes")
    elif isinstance(run_or_dataset, str):
        from .data.cifar import CIFAR10_CLASSES
        from .data.mnist import MNIST_CLASSES

        names = {"cifar10": CIFAR10_CLASSES, "mnist": MNIST_CLASSES}.get(run_or_dataset.split("/")[0])
    if not names or len(names) != num_classes:
        return [str(c) for c in range(num_classes)]
    return [str(n) for n in names]


def class_axis(ax, names: list[str], highlight=()) -> None:
    """Class index ``c`` at ``x = c``, labelled with its name (rotated when long); ``highlight``: classes to shade
    (the attacked ones)."""
    ax.set_xticks(range(len(names)))
    long = max((len(n) for n in names), default=0) > 3
    ax.set_xticklabels(names, rotation=45 if long else 0, ha="right" if long else "center", fontsize=8)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xlabel("class")
    for c in highlight or ():
        ax.axvspan(c - 0.5, c + 0.5, color="grey", alpha=0.15, linewidth=0)


def mean_line(ax, value: float, color: str) -> None:
    """A dotted horizontal line at ``value`` in ``color``; the legend explains dotted lines once per axis."""
    labelled = any(line.get_label() == MEAN_LABEL for line in ax.get_lines())
    ax.axhline(value, linestyle=":", color=color)
    if not labelled:
        ax.plot([], [], linestyle=":", color="grey", label=MEAN_LABEL)


def upper_bound_marker(ax, x: float, trials: int, color: str) -> None:
    """A down-pointing triangle at ``1 / trials``: a point where no error was counted (its rate is below that)."""
    labelled = any(line.get_label() == BOUND_LABEL for line in ax.get_lines())
    ax.plot([x], [1.0 / trials], marker="v", linestyle="none", color=color, markersize=8)
    if not labelled:
        ax.plot([], [], marker="v", linestyle="none", color="grey", label=BOUND_LABEL)


def save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the extension, png when it has none) and close it."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=dpi))
    pyplot().close(fig)
    return path
