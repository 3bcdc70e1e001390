"""The robustness matrix: defences x attacks x PSR x SNR, per class, with the worst case beside every attack.

Rows come from results documents of ``python -m sionna_semcomm.link`` (one run per defence, attack and
PSR; every SNR point of a run is a row), tagged with the defence, the attack's *source* and its target
class:

* ``source = "none"``: no attack (clean);
* ``"white-box"``: jamming and PGD, computed against whatever system they face (always adaptive);
* ``"adaptive"``: a generator (SemAdv, PGM) re-trained against this very defence;
* ``"transfer"``: a generator trained against the undefended system, replayed against the defence.

:func:`worst_case` takes, per defence / SNR / PSR, the minimum over every attack row (all sources) of
the mean accuracy and of each class's accuracy, so no defence is credited with robustness that one of
the attacks already breaks (and, separately, over the attacks that do not see the frames: all but the
per-input white-box FGM/PGD, which break every system here). :func:`semadv_per_class` gives the paper's per-class view of SemAdv: class
``c``'s accuracy when the SemAdv generator targeting ``c`` attacks.
"""

from __future__ import annotations

import math
from pathlib import Path


__all__ = ["rows_from_runs", "worst_case", "semadv_per_class", "matrix_markdown", "plot_matrix"]

METRICS = ("accuracy", "psnr", "ssim")


def rows_from_runs(runs: list[dict], defense: str, source: str, psr_db: float | None = None) -> list[dict]:
    """One row per SNR point of every run in ``runs`` (a link-command results list)."""
    rows = []
    for run in runs:
        res = run["results"]
        attack = run.get("attack") or {}
        for i, snr in enumerate(res["snr_db"]):
            row = {"defense": defense, "attack": attack.get("name", "none") if attack else "none", "source": source,
                   "num_images": run.get("config", {}).get("system", {}).get("num_images"),
                   "target_class": attack.get("target_class"), "controllable_class": attack.get("controllable_class"),
                   "psr_db": attack.get("psr_db", psr_db) if attack else None, "snr_db": snr,
                   "per_class": {m: res["per_class"][m][i] for m in METRICS if m in res.get("per_class", {})}}
            for key in (*METRICS, "measured_psr_db", "target_accuracy", "innocent_accuracy", "misleading_rate"):
                if key in res:
                    row[key] = res[key][i]
            rows.append(row)
    return rows


def _select(rows, **where):
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def _close(a, b) -> bool:
    return a is not None and b is not None and abs(a - b) < 1e-9


#: white-box attacks that optimise every frame separately (the strongest threat model here)
PER_INPUT = ("fgm", "pgd")


def worst_case(rows: list[dict], defense: str, snr_db: float, psr_db: float, exclude=()) -> dict | None:
    """Minimum over the attack rows of ``defense`` at ``snr_db`` / ``psr_db`` (see the module doc), leaving
    out the attacks named in ``exclude`` (e.g. :data:`PER_INPUT`, for the worst case of attackers that do not
    see the frames).

    :returns: ``{"accuracy", "accuracy_attack", "per_class": [min per class], "per_class_attack": [...],
        "psnr", "ssim", "num_attacks"}`` or ``None`` without attack rows.
    """
    cand = [r for r in rows if r["defense"] == defense and r["attack"] != "none" and _close(r["snr_db"], snr_db)
            and _close(r["psr_db"], psr_db) and r.get("controllable_class") is None and r["attack"] not in exclude]
    if not cand:
        return None
    label = [_label(r) for r in cand]
    i = min(range(len(cand)), key=lambda k: cand[k].get("accuracy", math.inf))
    out = {"accuracy": cand[i].get("accuracy"), "accuracy_attack": label[i], "num_attacks": len(cand),
           "psnr": min(r["psnr"] for r in cand), "ssim": min(r["ssim"] for r in cand)}
    per = [r["per_class"].get("accuracy") or [] for r in cand]
    if per and per[0]:
        worst, which = [], []
        for c in range(len(per[0])):
            vals = [(p[c], label[k]) for k, p in enumerate(per) if p[c] is not None]
            v, name = min(vals) if vals else (None, None)
            worst.append(v)
            which.append(name)
        out["per_class"], out["per_class_attack"] = worst, which
    return out


def _label(row: dict) -> str:
    name = row["attack"]
    if row.get("target_class") is not None and name == "semadv":
        name += f"-t{row['target_class']}"
    if row["source"] in ("adaptive", "transfer"):
        name += f" ({row['source']})"
    return name


def semadv_per_class(rows: list[dict], defense: str, snr_db: float, psr_db: float, source: str = "adaptive",
                     metric: str = "accuracy") -> dict[int, float]:
    """``{c: metric of class c under the SemAdv generator targeting c}`` (the paper's per-class view)."""
    out = {}
    for r in rows:
        if (r["defense"] == defense and r["attack"] == "semadv" and r["source"] == source and r.get("controllable_class") is None
                and _close(r["snr_db"], snr_db) and _close(r["psr_db"], psr_db) and isinstance(r.get("target_class"), int)):
            c = r["target_class"]
            values = r["per_class"].get(metric)
            if values and values[c] is not None:
                out[c] = values[c]
    return dict(sorted(out.items()))


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _std(values) -> float | None:
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return None
    m = sum(vals) / len(vals)
    return (sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5


def summary(rows: list[dict], defenses: list[str], snr_db: float, psr_db: float) -> dict:
    """Per defence at one operating point: clean accuracy, accuracy under each attack (SemAdv: mean over
    classes of the targeted class's accuracy, and its spread), and the worst case."""
    out = {}
    for d in defenses:
        clean = _select(rows, defense=d, attack="none")
        clean = [r for r in clean if _close(r["snr_db"], snr_db)]
        entry = {"num_images": clean[0].get("num_images") if clean else None,
                 "clean_accuracy": clean[0]["accuracy"] if clean else None,
                 "clean_psnr": clean[0]["psnr"] if clean else None,
                 "clean_per_class": clean[0]["per_class"].get("accuracy") if clean else None}
        for attack, source in (("jamming", "white-box"), ("pgd", "white-box"), ("pgm", "adaptive"), ("pgm", "transfer")):
            r = [x for x in _select(rows, defense=d, attack=attack, source=source)
                 if _close(x["snr_db"], snr_db) and _close(x["psr_db"], psr_db)]
            if r:
                entry[f"{attack}_{source}"] = {"accuracy": r[0]["accuracy"], "psnr": r[0]["psnr"], "ssim": r[0]["ssim"],
                                               "per_class": r[0]["per_class"].get("accuracy"),
                                               "per_class_psnr": r[0]["per_class"].get("psnr")}
        for source in ("adaptive", "transfer"):
            per = semadv_per_class(rows, d, snr_db, psr_db, source)
            if per:
                innocent = [r.get("innocent_accuracy") for r in rows if r["defense"] == d and r["attack"] == "semadv"
                            and r["source"] == source and _close(r["snr_db"], snr_db) and _close(r["psr_db"], psr_db)
                            and r.get("controllable_class") is None]
                entry[f"semadv_{source}"] = {"target_accuracy": _mean(per.values()), "target_std": _std(per.values()),
                                             "per_class": per, "innocent_accuracy": _mean(innocent),
                                             "per_class_psnr": semadv_per_class(rows, d, snr_db, psr_db, source, "psnr")}
        entry["worst"] = worst_case(rows, d, snr_db, psr_db)
        entry["worst_agnostic"] = worst_case(rows, d, snr_db, psr_db, exclude=PER_INPUT)
        out[d] = entry
    return out


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def matrix_markdown(rows: list[dict], defenses: list[str], snr_db: float, psr_grid) -> str:
    """Accuracy [%] per defence and attack, one table per PSR, with the worst case as the last column."""
    parts = []
    for psr in psr_grid:
        s = summary(rows, defenses, snr_db, psr)
        lines = [f"**SNR {snr_db:g} dB, PSR {psr:g} dB**: accuracy [%] (SemAdv: the targeted class, mean over classes "
                 "± std; innocent: the other classes)", "",
                 "| defence | clean | jamming | PGD | PGM adaptive | PGM transfer | SemAdv adaptive | SemAdv innocent "
                 "| SemAdv transfer | worst case | worst class | worst w/o PGD/FGM | its worst class |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for d in defenses:
            e = s[d]
            cells = [_pct(e["clean_accuracy"])]
            for key in ("jamming_white-box", "pgd_white-box", "pgm_adaptive", "pgm_transfer"):
                cells.append(_pct(e[key]["accuracy"]) if key in e else "-")
            for source in ("adaptive", "transfer"):
                sa = e.get(f"semadv_{source}")
                txt = "-" if sa is None else _pct(sa["target_accuracy"]) + (
                    f" ± {100 * sa['target_std']:.1f}" if sa["target_std"] is not None else "")
                cells.append(txt)
                if source == "adaptive":
                    cells.append("-" if sa is None else _pct(sa["innocent_accuracy"]))
            for w in (e["worst"], e["worst_agnostic"]):
                cells.append("-" if w is None else f"{_pct(w['accuracy'])} ({w['accuracy_attack']})")
                cells.append("-" if w is None or "per_class" not in w else _pct(min(v for v in w["per_class"] if v is not None)))
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def plot_matrix(rows: list[dict], defenses: list[str], snr_db: float, psr_db: float, path: str | Path,
                title: str = "", dataset: str | None = None) -> Path:
    """The paper's Fig. 7/8 layout: per-class accuracy and PSNR of each defence under SemAdv (each class
    attacked by its own generator) and under PGM (adaptive), and the per-class worst case; dotted lines
    are the means over classes. One colour per defence in every panel; the class axis names the classes of
    ``dataset`` (``"cifar10"``, ``"mnist"``; indices otherwise)."""
    from .plotting import class_axis, class_names, colors, mean_line, pyplot, save

    plt = pyplot()
    s = summary(rows, defenses, snr_db, psr_db)
    color = colors(defenses)
    fig, axes = plt.subplots(1, 5, figsize=(24, 4.4))
    panels = [("under SemAdv (adaptive)", "accuracy of the attacked class",
               lambda e: (e.get("semadv_adaptive") or {}).get("per_class")),
              ("under PGM (adaptive)", "accuracy", lambda e: _indexed((e.get("pgm_adaptive") or {}).get("per_class"))),
              ("under SemAdv (adaptive)", "PSNR [dB] of the attacked class",
               lambda e: (e.get("semadv_adaptive") or {}).get("per_class_psnr")),
              ("under PGM (adaptive)", "PSNR [dB]", lambda e: _indexed((e.get("pgm_adaptive") or {}).get("per_class_psnr"))),
              ("worst case over the attacks that do not see the frames\n(all but PGD/FGM, which reach 0)", "accuracy",
               lambda e: _indexed((e.get("worst_agnostic") or {}).get("per_class")))]
    num_classes = 1 + max((c for d in defenses for *_, get in panels for c in (get(s[d]) or {})), default=-1)
    names = class_names(dataset or "", num_classes)
    for ax, (name, ylabel, get) in zip(axes, panels):
        for d in defenses:
            values = get(s[d]) or {}
            if not values:
                continue
            xs, ys = zip(*sorted(values.items()))
            ax.plot(xs, ys, marker="o", label=d, color=color[d])
            mean_line(ax, sum(ys) / len(ys), color[d])
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(ylabel)
        class_axis(ax, names)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title} SNR {snr_db:g} dB, PSR {psr_db:g} dB")
    fig.tight_layout()
    return save(fig, path, dpi=90)


def _indexed(values) -> dict[int, float]:
    return {c: v for c, v in enumerate(values or []) if v is not None}
