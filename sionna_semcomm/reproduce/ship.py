"""``python -m sionna_semcomm.reproduce.ship``: ship what a reproduction run trained (a maintainers' tool).

After ``python -m sionna_semcomm.reproduce ... --out-dir RUN`` ran on one scenario's system, this puts into the
package (``sionna_semcomm/assets/weights``) the weights that the run trained against that system:

- the generators the link and attack commands load by default: SemAdv ``t2``, the controllable ``t2-c5``,
  PGM (``<scenario>-semadv-t2`` ...);
- the SemMixed system (``--checkpoint semmixed``; the one trained with the shipped SemAdv ``t2``) and the
  classifier on the received symbols (``--checkpoint symbols``; the shipped one is kept where it holds the
  system's codec, tensor for tensor: the run then reused it and trained none);

each with a manifest entry built from its training history (command, steps, wall time, validation metrics).
Where the run's cache also holds another step budget's generators (a 200- and a 1,000-step run of one system),
``--generator-steps N`` picks one.
``--promote VARIANT`` first makes a shipped variant (e.g. ``logmse``, the system the run was given with
``--system mnist=logmse``) the default weights of the scenario: its file becomes ``<scenario>-mobilesc``
(same sha256, so the run's cache keys stay valid) and its manifest entry the default one, with the earlier
default's sha256 named in its note. ``--docs`` merges the run's results (``<experiment>.md`` / ``.json`` and
figures) into ``docs/reproduction``, replacing only this run's dataset where an experiment holds several,
and rebuilds ``REPORT.md`` from its hand-written head and the merged sections (edit the head after).

Nothing is written without ``--write`` (a dry run prints the manifest entries); files and the manifest are
written atomically. Example::

    python -m sionna_semcomm.reproduce.ship --scenario rayleigh_mnist --run runs/reproduce-mnist-logmse \\
        --promote logmse --device-note "cpu (2 cores)" --reproduction "python -m sionna_semcomm.reproduce ..." --docs --write
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

from ..atomic import atomic_write, atomic_write_json
from ..checkpoints import sha256_file
from .pipeline import DATASET_SCENARIOS, max_steps_of, shares_codec

__all__ = ["find_trained", "generator_entry", "semmixed_entry", "symbols_entry", "promote", "ship", "merge_docs"]

#: manifest key suffix -> (cache kind, cache label, config key naming the system's sha256, description)
TRAINED = {
    "semadv-t2": ("generators", "semadv-t2", "system", "SemAdv, target class 2, random wrong labels"),
    "semadv-t2-c5": ("generators", "semadv-t2-c5", "system", "SemAdv controllable: class 2 -> class 5"),
    "pgm": ("generators", "pgm", "system", "PGM universal perturbation (all classes)"),
    "mobilesc-semmixed": ("defenses", "semmixed", "system", None),
    "mobilesc-symbols": ("systems", "mobilesc-symbols", "codec", None),
}
REPO_FILES = "sionna_semcomm/assets/weights/"
DATASET_ORDER = tuple(DATASET_SCENARIOS)  # the sections of an experiment that holds several data sets, in this order


def find_trained(cache: Path, kind: str, label: str, key: str, sha: str, steps: int | None = None,
                 generator: str | None = None) -> Path:
    """The one finished training folder ``cache/kind/label-<hash>`` whose ``config.json`` has ``key == sha``.

    ``label`` matches exactly (``semadv-t2`` is not ``semadv-t2-c5``). Where one cache holds several runs' steps
    (e.g. generators trained 200 and 1,000 steps against the same system), ``steps`` keeps the folders trained
    with ``--max-steps steps`` and ``generator`` (a sha256) the defences trained with that generator.
    :raises SystemExit: none or several match (the message lists the folders looked at).
    """
    hits, seen = [], []
    for folder in sorted((cache / kind).glob(f"{label}-*")):
        if folder.name.rsplit("-", 1)[0] != label or not (folder / "config.json").is_file():
            continue
        seen.append(folder.name)
        config = json.loads((folder / "config.json").read_text())
        if (config.get(key) == sha and (folder / "best.safetensors").is_file()
                and (steps is None or max_steps_of(config.get("argv", [])) == steps)
                and (generator is None or generator in config.get("generators", []))):
            hits.append(folder)
    if len(hits) != 1:
        also = (f" with --max-steps {steps}" if steps is not None else "") + (
            f" with generator sha256 {generator[:8]}..." if generator else "")
        hint = "; --generator-steps picks one run's generators" if len(hits) > 1 and kind == "generators" else ""
        raise SystemExit(f"{cache / kind}: {len(hits)} finished {label!r} folders trained against sha256 {sha[:8]}..."
                         f"{also} (looked at: {', '.join(seen) or 'none'}); expected exactly one{hint}")
    return hits[0]


def _validation(entry: dict) -> dict:
    return {k[4:]: round(v, 4) for k, v in entry.items() if k.startswith("val_") and isinstance(v, (int, float))}


def _lowest_val_loss(history: dict) -> dict:
    """The history entry the trainer kept as ``best`` (generators, defences: the lowest validation loss)."""
    return min(history["history"], key=lambda e: e.get("val_loss", float("inf")))


def _command(text: str, renames: dict[str, str]) -> str:
    """The command with the package's weights named relative to the repository (whichever checkout ran it)."""
    text = re.sub(r"\S*/(" + re.escape(REPO_FILES) + ")", r"\1", text)
    for old, new in renames.items():
        text = text.replace(old, new)
    return text


def _common(folder: Path, history: dict, renames: dict[str, str], system: str, sha: str, device: str) -> dict:
    hist = history["history"]
    return {"sha256": sha256_file(folder / "best.safetensors"),
            "command": _command(history["metadata"]["command"], renames),
            "trained_against": f"{system} (sha256 {sha[:8]}...)",
            "steps": history.get("total_steps") or sum(e.get("steps", 0) for e in hist),
            "wall_time_s": round(sum(e["seconds"] for e in hist)), "device": device,
            "training_data": history["metadata"].get("training_data")}


def generator_entry(folder: Path, name: str, description: str, renames: dict[str, str], system: str, sha: str,
                    device: str, reproduction: str) -> dict:
    """Manifest entry of a generator folder (selected epoch: lowest validation loss, as the trainer keeps)."""
    history = json.loads((folder / "history.json").read_text())
    best = _lowest_val_loss(history)
    entry = {"file": f"{name}.safetensors", "description": description, **_common(folder, history, renames, system,
                                                                                  sha, device)}
    entry["training_data"] = (entry["training_data"] or {}).get("description")
    psr = entry["command"].split("--psr-db ")[1].split()[0] if "--psr-db " in entry["command"] else None
    entry.update({"psr_db": float(psr) if psr else None, "validation": _validation(best), "reproduction": reproduction})
    return entry


def semmixed_entry(folder: Path, name: str, renames: dict[str, str], system: str, sha: str, device: str,
                   reproduction: str, previous: dict | None) -> dict:
    """Manifest entry of the SemMixed folder; the description and selection rule are kept from ``previous``."""
    history = json.loads((folder / "history.json").read_text())
    best = _lowest_val_loss(history)
    kept = {k: v for k, v in (previous or {}).items() if k != "note"}  # a note was about the earlier weights
    entry = {**kept, "file": f"{name}.safetensors",
             **_common(folder, history, renames, system, sha, device), "validation": _validation(best)}
    entry["command"] = f"{reproduction} (step: {entry['command']})"
    return entry


def symbols_entry(folder: Path, name: str, renames: dict[str, str], system: str, sha: str, device: str,
                  reproduction: str) -> dict:
    """Manifest entry of the symbol classifier folder (selected step: the history's selection metric)."""
    history = json.loads((folder / "history.json").read_text())
    metric = history.get("selection", "accuracy")
    scored = [e for e in history["history"] if f"val_{metric}" in e]
    best = max(scored, key=lambda e: e[f"val_{metric}"])
    entry = {"file": f"{name}.safetensors", **_common(folder, history, renames, system, sha, device),
             "selected_step": best.get("step"), "selection": metric, "validation": _validation(best),
             "description": "the paper's Fig. 6 c/e setting: the shipped codec (frozen) + a classifier on the received "
                            "symbols (classify_from = symbols), no reconstruction; trained by the reproduction",
             "reproduction": reproduction}
    entry["trained_against"] = f"the codec of {entry['trained_against']}"
    return entry


def promote(manifest: dict, scenario: str, variant: str) -> dict:
    """The manifest with ``<scenario>-mobilesc-<variant>`` as ``<scenario>-mobilesc`` (the variant entry removed).

    The variant's note (what it is a candidate for, how to promote it) is replaced by one naming the variant and
    the weights it replaces."""
    key, default = f"{scenario}-mobilesc-{variant}", f"{scenario}-mobilesc"
    if key not in manifest:
        raise SystemExit(f"--promote {variant}: no manifest entry {key!r}")
    old, new = manifest[default], dict(manifest[key])
    new["file"] = f"{default}.safetensors"
    new["description"] = new.get("description", "").split("; the attacks")[0]
    new["note"] = (f"shipped first as --checkpoint {variant} (the same sha256); the weights shipped before it "
                   f"(sha256 {old['sha256'][:8]}...) are in git history")
    return {k: (new if k == default else v) for k, v in manifest.items() if k != key}


def ship(run: Path, scenario: str, weights: Path, device: str, reproduction: str, promote_variant: str | None = None,
         write: bool = False, generator_steps: int | None = None) -> dict:
    """Build (and with ``write``, install) the new manifest; returns it. See the module doc.

    ``generator_steps``: ship the generators trained with ``--max-steps generator_steps`` (needed where the run's
    cache also holds another step budget's); SemMixed is always the one trained with the shipped SemAdv t2."""
    manifest = json.loads((weights / "manifest.json").read_text())
    source = f"{scenario}-mobilesc" + (f"-{promote_variant}" if promote_variant else "")
    if source not in manifest:
        raise SystemExit(f"no manifest entry {source!r}")
    sha = manifest[source]["sha256"]
    default_file = f"{REPO_FILES}{scenario}-mobilesc.safetensors"
    renames = {f"{REPO_FILES}{manifest[source]['file']}": default_file, f"{Path.cwd()}/": ""}
    out = promote(manifest, scenario, promote_variant) if promote_variant else dict(manifest)
    cache, system, files = run / "cache" / scenario, f"{scenario}-mobilesc", {}
    for suffix, (kind, label, key, description) in TRAINED.items():
        name = f"{scenario}-{suffix}"
        if suffix == "mobilesc-symbols" and name in manifest and shares_codec(
                *((weights / manifest[k]["file"], manifest[k]["sha256"]) for k in (name, source))):
            # the reproduction reused the shipped symbol classifier (pipeline.symbol_system): nothing was trained
            renamed = f" (--checkpoint {promote_variant}, now {system}.safetensors)" if promote_variant else ""
            out[name] = {**manifest[name], "note": (f"kept: its codec is that of {manifest[source]['file']}{renamed} "
                                                    "tensor for tensor, so the reproduction run on that system reused it")}
            continue
        folder = find_trained(cache, kind, label, key, sha, steps=generator_steps if kind == "generators" else None,
                              generator=out[f"{scenario}-semadv-t2"]["sha256"] if kind == "defenses" else None)
        if kind == "generators":
            description = manifest.get(name, {}).get("description", description)
            out[name] = generator_entry(folder, name, description, renames, system, sha, device, reproduction)
        elif kind == "defenses":
            out[name] = semmixed_entry(folder, name, renames, system, sha, device, reproduction, manifest.get(name))
        else:
            out[name] = symbols_entry(folder, name, renames, system, sha, device, reproduction)
        files[name] = folder / "best.safetensors"
        if promote_variant:
            out[name]["note"] = (f"the command as run named the system {manifest[source]['file']} (--checkpoint "
                                 f"{promote_variant}); that file became {scenario}-mobilesc.safetensors (the same sha256)")
    if write:
        if promote_variant:
            os.replace(weights / manifest[source]["file"], weights / out[system]["file"])  # a rename: atomic
        for name, path in files.items():
            atomic_write(weights / out[name]["file"], lambda tmp, path=path: shutil.copyfile(path, tmp))
            assert sha256_file(weights / out[name]["file"]) == out[name]["sha256"]
        atomic_write_json(weights / "manifest.json", out)
    return out


def _sections(markdown: str) -> tuple[str, dict[str, str]]:
    """Split an experiment's markdown into its heading and ``{dataset: section}`` (``**<dataset>**`` blocks)."""
    head, parts, current = [], {}, None
    for line in markdown.splitlines():
        if line.startswith("**") and line[2:].split("**")[0] in DATASET_ORDER:
            current = line[2:].split("**")[0]
            parts[current] = []
        (parts[current] if current else head).append(line)
    return "\n".join(head).rstrip("\n"), {k: "\n".join(v).rstrip("\n") for k, v in parts.items()}


def merge_docs(run: Path, docs: Path, order=("table3", "table4", "fig6", "fig7", "fig8", "fig9")) -> list[str]:
    """Merge the run's results into ``docs`` (see the module doc); returns the experiments it merged."""
    merged = []
    for name in order:
        if not (run / f"{name}.md").is_file():
            continue
        new_md, new_js = (run / f"{name}.md").read_text(), json.loads((run / f"{name}.json").read_text())
        old_md_path, old_js_path = docs / f"{name}.md", docs / f"{name}.json"
        datasets = set(new_js.get("data", {})) & set(DATASET_ORDER)
        if old_md_path.is_file() and datasets:
            old_head, old_parts = _sections(old_md_path.read_text())
            new_head, new_parts = _sections(new_md)
            parts = {**old_parts, **new_parts}
            new_md = "\n\n".join([new_head] + [parts[d] for d in DATASET_ORDER if d in parts]) + "\n"
            old_js = json.loads(old_js_path.read_text())
            kept = {d: v for d, v in old_js.get("data", {}).items() if d not in datasets}
            merged_data = {**kept, **new_js["data"]}
            new_js["data"] = {d: merged_data[d] for d in sorted(merged_data, key=DATASET_ORDER.index)}
            new_js["figures"] = ([f for f in old_js.get("figures", []) if not any(f"_{d}" in f for d in datasets)]
                                 + new_js.get("figures", []))
            if kept:  # the run's preset for its datasets, the earlier runs' for the others
                presets = old_js.get("presets") or {d: old_js.get("preset") for d in old_js.get("data", {})}
                new_js["presets"] = {**{d: presets.get(d) for d in kept}, **{d: new_js["preset"] for d in datasets}}
                new_js["note"] = (f"data.{', data.'.join(sorted(new_js['data']))}: from separate runs of python -m "
                                  "sionna_semcomm.reproduce (presets: each one's; preset: the latest); "
                                  "docs/reproduction/REPORT.md names each command")
        atomic_write(old_md_path, lambda tmp, text=new_md: Path(tmp).write_text(text))
        atomic_write_json(old_js_path, new_js)
        for png in run.glob(f"{name}_*.png"):
            atomic_write(docs / png.name, lambda tmp, png=png: shutil.copyfile(png, tmp))
        merged.append(name)
    report = docs / "REPORT.md"
    head = report.read_text().split("\n### ")[0].rstrip("\n") if report.is_file() else "# Reproduction report"
    body = [(docs / f"{n}.md").read_text().rstrip("\n") for n in order if (docs / f"{n}.md").is_file()]
    atomic_write(report, lambda tmp: Path(tmp).write_text("\n\n".join([head] + body) + "\n"))
    return merged


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sionna_semcomm.reproduce.ship", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", required=True, help="e.g. rayleigh_mnist")
    p.add_argument("--run", type=Path, required=True, help="the reproduction's --out-dir")
    p.add_argument("--promote", metavar="VARIANT", help="make this shipped variant the scenario's default first")
    p.add_argument("--device-note", required=True, help="the hardware the run trained on, for the manifest")
    p.add_argument("--reproduction", required=True, metavar="COMMAND",
                   help="the reproduce command line the run was made with, for the manifest")
    p.add_argument("--generator-steps", type=int, metavar="N",
                   help="ship the generators trained N steps (where the run's cache holds several step budgets)")
    p.add_argument("--weights", type=Path, default=Path(REPO_FILES), help="default: %(default)s")
    p.add_argument("--docs", action="store_true", help="also merge the run's results into docs/reproduction")
    p.add_argument("--write", action="store_true", help="write (without it: a dry run that prints the entries)")
    args = p.parse_args(argv)
    if not (args.run / "cache" / args.scenario).is_dir():
        p.error(f"--run {args.run}: no cache/{args.scenario} folder (not a reproduction run of that scenario?)")
    out = ship(args.run, args.scenario, args.weights, args.device_note, args.reproduction, args.promote, args.write,
               args.generator_steps)
    if not args.write:
        json.dump({k: v for k, v in out.items() if k.startswith(args.scenario)}, sys.stdout, indent=1)
        print()
        return 0
    if args.docs:
        print("merged into docs/reproduction:", ", ".join(merge_docs(args.run, Path("docs/reproduction"))))
    print(f"shipped {args.scenario} from {args.run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
