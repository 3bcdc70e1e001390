"""Figures of attacked runs, in the layout of the paper's Fig. 6: per-class bars, what the attack did to its
target, and the misleading rate vs PSR.

Input: run documents of the link command (``{"runs": [...]}`` files), with or without an ``"attack"``
(a run without one is drawn as "no attack"). Every run keeps one colour in all panels; the class axes name
the classes and shade the attacked ones; the legend labels carry each attack's target and PSR, the title
the SNR, the link (channel, CSI) and the attacks' PSRs and targets.
"""

from __future__ import annotations

from pathlib import Path

from ..plotting import class_axis, class_names, colors, mean_line, pyplot, save
from ..results import attack_name, link_description, run_label as _run_label

__all__ = ["run_label", "plot_attack_runs"]

#: the attack's effect on its target, per run: (results key, label)
EFFECTS = (("target_accuracy", "accuracy of the\ntargeted class(es)"), ("innocent_accuracy", "accuracy of the\nother classes"),
           ("misleading_rate", "misleading rate\n(towards the target)"))


def run_label(run: dict) -> str:
    """``system [attack t<target>-><class> @ PSR dB]`` (``system [no attack]`` for clean runs)."""
    return _run_label(run) if run.get("attack") else f"{run['system']} [no attack]"


def _point_index(run: dict, snr_db: float | None) -> int | None:
    snrs = run["results"].get("snr_db", [])
    if not snrs:
        return None
    if snr_db is None:
        return 0
    best = min(range(len(snrs)), key=lambda i: abs(snrs[i] - snr_db))
    return best if abs(snrs[best] - snr_db) < 1e-9 else None


def _targets(attack: dict | None) -> list[int]:
    target = (attack or {}).get("target_class")
    return [] if target is None else (list(target) if isinstance(target, list) else [target])


def _title(picked, snr_db, names) -> str:
    snrs = sorted({run["results"]["snr_db"][i] for run, i in picked})
    parts = [f"SNR {', '.join(f'{s:g}' for s in snrs)} dB" if snr_db is None else f"SNR {snr_db:g} dB"]
    links = {link_description(run) for run, _ in picked} - {""}
    if len(links) == 1:
        parts.append(links.pop())
    attacks = sorted({(a["name"], a["psr_db"], tuple(_targets(a))) for a in (run.get("attack") for run, _ in picked)
                      if a and a.get("name") != "identity" and a.get("psr_db") is not None})
    for name, psr, targets in attacks:
        target = ", ".join(f"{t} ({names[t]})" if t < len(names) else str(t) for t in targets)
        parts.append(f"{name} at PSR {psr:g} dB" + (f" on class {target}" if targets else ""))
    return "; ".join(parts)


def plot_attack_runs(runs: list[dict], path: str | Path, snr_db: float | None = None, title: str | None = None) -> Path:
    """Per-class accuracy / PSNR / SSIM bars (one bar per run and class, each run's mean dotted) at ``snr_db``
    (default: each run's first SNR point); the targeted classes' accuracy, the other classes' accuracy and the
    misleading rate of every attacked run that records them; and the misleading rate vs PSR for every attack
    (same system, target and controllable class) the runs hold at two or more PSRs.

    :raises ValueError: no run has per-class results at ``snr_db``.
    """
    plt = pyplot()
    picked = []
    for run in runs:
        i = _point_index(run, snr_db)
        if i is not None and run["results"].get("per_class"):
            picked.append((run, i))
    if not picked:
        raise ValueError(f"no run has per-class results at SNR {snr_db} dB")
    metrics = [m for m in ("accuracy", "psnr", "ssim") if any(m in r["results"]["per_class"] for r, _ in picked)]
    num_classes = max(len(r["results"]["per_class"][m][i] or []) for r, i in picked for m in metrics
                      if m in r["results"]["per_class"])
    names = class_names(picked[0][0], num_classes)
    labels = [run_label(run) for run, _ in picked]
    attacked = sorted({t for run, _ in picked for t in _targets(run.get("attack"))})
    effects = [(run, i, label) for (run, i), label in zip(picked, labels)
               if any((run["results"].get(key) or [None] * (i + 1))[i] is not None for key, _ in EFFECTS)]

    by_attack: dict[str, list[tuple[float, float]]] = {}
    for run, i in picked:
        attack = run.get("attack") or {}
        rate = run["results"].get("misleading_rate")
        if attack.get("psr_db") is not None and rate is not None and rate[i] is not None:
            label = f"{run['system']} [{attack_name(attack)}]"
            if attack.get("misleading_towards") is not None:
                label += f" towards {attack['misleading_towards']} ({names[attack['misleading_towards']]})" \
                    if attack["misleading_towards"] < len(names) else f" towards {attack['misleading_towards']}"
            by_attack.setdefault(label, []).append((attack["psr_db"], rate[i]))
    by_attack = {k: v for k, v in by_attack.items() if len({p for p, _ in v}) >= 2}
    color = colors(labels + sorted(by_attack))  # a curve over PSRs gathers several runs: a colour of its own

    panels = len(metrics) + bool(effects) + bool(by_attack)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.4), squeeze=False)
    axes = list(axes[0])
    ylabels = {"accuracy": "accuracy", "psnr": "PSNR [dB]", "ssim": "SSIM"}
    width = 0.8 / len(picked)
    for ax, metric in zip(axes, metrics):
        for k, ((run, i), label) in enumerate(zip(picked, labels)):
            values = run["results"]["per_class"].get(metric)
            if values is None or values[i] is None:
                continue
            xs = [c + (k - (len(picked) - 1) / 2) * width for c in range(len(values[i]))]
            ax.bar(xs, [v if v is not None else 0 for v in values[i]], width, label=label, color=color[label],
                   hatch="//" if run.get("conventional") else None)
            present = [v for v in values[i] if v is not None]
            if present:
                mean_line(ax, sum(present) / len(present), color[label])
        class_axis(ax, names, attacked)
        ax.set_ylabel(ylabels[metric] + " per class")
        ax.grid(axis="y", alpha=0.3)
    if metrics:
        axes[0].legend(fontsize=7)
    if effects:
        ax = axes[len(metrics)]
        width = 0.8 / len(effects)
        for k, (run, i, label) in enumerate(effects):
            values = [(run["results"].get(key) or [None] * (i + 1))[i] for key, _ in EFFECTS]
            xs = [j + (k - (len(effects) - 1) / 2) * width for j in range(len(EFFECTS))]
            bars = ax.bar([x for x, v in zip(xs, values) if v is not None], [v for v in values if v is not None], width,
                          color=color[label], label=label)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)  # a rate of 0 is a value, not a missing bar
        ax.set_xticks(range(len(EFFECTS)))
        ax.set_xticklabels([text for _, text in EFFECTS], fontsize=8)
        ax.set_xlabel("effect of the attack on its target")
        ax.set_ylabel("rate")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    if by_attack:
        ax = axes[-1]
        for label, pts in sorted(by_attack.items()):
            pts = sorted(pts)
            ax.plot([p for p, _ in pts], [r for _, r in pts], marker="o", label=label, color=color[label])
        ax.set_xlabel("PSR [dB]")
        ax.set_ylabel("misleading rate")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or _title(picked, snr_db, names), fontsize=10)
    fig.tight_layout()
    return save(fig, path, dpi=110)
