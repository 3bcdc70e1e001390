"""``python -m sionna_semcomm.link``: run systems over a scenario's link and get metric-vs-SNR curves.

Examples::

    python -m sionna_semcomm.link --list
    python -m sionna_semcomm.link --scenario awgn_bits --systems uncoded-qpsk --snr-db 0 2 4 6 8 --out r.json
    python -m sionna_semcomm.link --scenario rayleigh_bits --csi perfect --plot ber.png
    python -m sionna_semcomm.link --scenario rayleigh_cifar --systems mobilesc --snr-db 10 --attack pgd --psr-db -6

Attacks (``--attack``: identity/none, jamming, fgm, pgd, pgm, semadv) apply to image systems: every attack to
the learned systems, link-level ones (identity, jamming) to the conventional links too; generator attacks
(pgm, semadv) load their weights from ``--attack-checkpoint``. Each run document then carries a top-level
``"attack"`` (name, psr_db, measured_psr_db, target_class, threat model) and per SNR point the measured PSR,
per-class accuracy / PSNR / SSIM and, with a target or controllable class, the misleading rate.

Prints a table and merges the results into ``--out`` (``{"runs": [...]}``, one document per system; a store
that only grows, :mod:`sionna_semcomm.store`): rewritten atomically with the union after every SNR point, and
inside long points after a batch (at most every :data:`POINT_CHECKPOINT_SECONDS`), so an interrupted run keeps
what it finished and ``--resume`` continues it. Every option and output path is checked before any compute.
"""

from __future__ import annotations

import argparse
import sys
import time

from tqdm import tqdm

from ..attack import attack_names
from ..argtypes import (ArgumentParser, class_index, figure_file, file_or_name, input_dir, input_file, known_name,
                        output_file, positive_int, psr_db, seed, snr_db)
from ..executors import add_executor_arguments, executor_from_args
from ..link.bounds import check_batch_memory
from ..results import format_table, make_run, plot_runs
from ..runtime import add_threads_argument, apply_threads, resolve_device
from ..scenario import ScenarioError, list_scenarios, load_scenario
from ..store import ResultsStore, points_of, with_points
from .config import CSI_MODES
from .ldpc import LDPC_DECODERS

DEFAULT_SCENARIO = "rayleigh_cifar"
#: an SNR point's in-point checkpoint is written at most this often [s] (see :func:`_point_saver`)
POINT_CHECKPOINT_SECONDS = 1.0


def _registry():
    """The composition root: the core systems and attacks plus those of ``baselines`` (when installed)."""
    from .. import systems
    from ..attacks import register_attack
    from ..runtime import optional_module

    baseline_systems = optional_module("baselines.systems")  # None: baselines not installed beside the core
    if baseline_systems is not None:
        baseline_systems.register(systems.register_system)
        baseline_systems.register_attacks(register_attack)
    return systems


def _system_names() -> list[str]:
    return [info.name for info in _registry().list_systems()]


def setup_args() -> argparse.ArgumentParser:
    from ..learned import SHIPPED_VARIANTS

    p = ArgumentParser(prog="python -m sionna_semcomm.link", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default=DEFAULT_SCENARIO, help="scenario name or path to a .toml file (default: %(default)s)")
    p.add_argument("--systems", nargs="+", type=known_name("system", _system_names),
                   help="systems to run (default: the scenario's)")
    p.add_argument("--snr-db", nargs="+", type=snr_db, help="SNR points, Es/N0 per channel use [dB] (default: the scenario's)")
    p.add_argument("--csi", choices=list(CSI_MODES),
                   help="channel knowledge at the receiver: LS on the pilots (the paper's), LS with DFT denoising, or "
                        "the true channel (default: the scenario's)")
    p.add_argument("--num-bits", type=positive_int, help="information bits per SNR point for bit systems (with "
                   "--target-*-errors: at most)")
    p.add_argument("--target-bit-errors", type=positive_int, metavar="N",
                   help="bit systems: end a point after the batch at which N bit errors are counted (as sim_ber)")
    p.add_argument("--target-block-errors", type=positive_int, metavar="N",
                   help="bit systems: end a point after the batch at which N block (frame) errors are counted")
    p.add_argument("--num-images", type=positive_int, help="images per SNR point for image systems")
    p.add_argument("--batch-size", type=positive_int, help="frames/images per batch")
    p.add_argument("--data-dir", type=input_dir, help="dataset folder for image systems (else $SIONNA_SEMCOMM_DATA)")
    p.add_argument("--checkpoint", type=file_or_name(SHIPPED_VARIANTS),
                   help="learned systems: weights file, or a shipped variant: 'semmixed' (hardened), 'symbols' "
                   "(classifier on the received symbols) (default: the weights shipped for the scenario)")
    p.add_argument("--jpeg2000-mode", choices=["equal_budget", "fixed_rate"],
                   help="conventional links: equal OFDM budget or fixed JPEG2000 rate (default: the scenario's)")
    p.add_argument("--jpeg2000-bytes", type=positive_int, help="conventional links, fixed_rate: codestream bytes per image")
    p.add_argument("--jpeg2000-implicit-header", action="store_true",
                   help="conventional links: send only the packet data, the receiver knows shape and settings "
                        "(default: the scenario's [jpeg2000] implicit_header)")
    p.add_argument("--capacity-csi", choices=["perfect", "ls", "ls_dft"],
                   help="jpeg2000-capacity: the receiver knows the true channel (the separation bound) or only the "
                        "pilots' estimate (LS, or LS DFT-denoised), as a learned system's receiver does (Medard's lower "
                        "bound on the capacity with estimation error) (default: the scenario's [jpeg2000] capacity_csi, "
                        "perfect)")
    p.add_argument("--ldpc-decoder", choices=list(LDPC_DECODERS),
                   help="LDPC-coded systems: layered min-sum with early termination (fast) or Sionna's flooding BP "
                        "(default: the scenario's [bits] / [jpeg2000] ldpc_decoder, fast)")
    a = p.add_argument_group("attacks (image systems)")
    a.add_argument("--attack", type=known_name("attack", attack_names),
                   help="identity|none, jamming, fgm, pgd, pgm, semadv (default: no attack)")
    a.add_argument("--attack-checkpoint", type=input_file,
                   help="generator attacks (pgm, semadv): trained weights (python -m sionna_semcomm.attack train)")
    a.add_argument("--psr-db", type=psr_db, help="perturbation-to-signal ratio [dB] (generators: default the trained one)")
    a.add_argument("--target-class", type=class_index, nargs="+",
                   help="attacked class(es): reported per set; semadv: must match its checkpoint")
    a.add_argument("--controllable-class", type=class_index,
                   help="fgm/pgd: targeted variant towards this class (semadv: from its checkpoint)")
    a.add_argument("--attack-steps", type=positive_int, help="pgd: gradient steps (default 10)")
    p.add_argument("--seed", type=seed, help="run seed (default: the scenario's)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    add_threads_argument(p)
    p.add_argument("--out", type=output_file,
                   help="results JSON file: created, or merged with the runs it already holds (never shrinks)")
    p.add_argument("--plot", type=figure_file, help="figure file (png, pdf, svg, ...) of the curves")
    p.add_argument("--resume", action="store_true",
                   help="reuse the finished SNR points (and a point interrupted mid-way) of the same runs in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    x = add_executor_arguments(p, "SNR point of every system")
    x.add_argument("--point-shards", type=positive_int, metavar="S",
                   help="ray, bit systems: split every point into S tasks of contiguous batches (their counts add "
                        "up to the unsplit point's)")
    p.add_argument("--list", action="store_true", help="list scenarios and systems, then exit")
    return p


def _list(systems_mod) -> str:
    lines = ["scenarios:"]
    for name, path in sorted(list_scenarios().items()):
        try:
            desc = load_scenario(path).description
        except ScenarioError as e:
            desc = f"(invalid: {e})"
        lines.append(f"  {name:<20} {desc}")
    lines.append("systems:")
    for info in systems_mod.list_systems():
        lines.append(f"  {info.name:<20} [{info.kind}] {info.description}")
    return "\n".join(lines)


def _point_saver(store, run: dict, snr: float):
    """The ``checkpoint`` callback of one SNR point: stores the point's state in ``run["partial"]`` at most every
    :data:`POINT_CHECKPOINT_SECONDS` (so a kill loses at most that, or one batch when batches take longer)."""
    last = time.monotonic()

    def save(state: dict) -> None:
        nonlocal last
        if store is None or time.monotonic() - last < POINT_CHECKPOINT_SECONDS:
            return
        store.put({**run, "partial": {"snr_db": snr, "state": state}})
        last = time.monotonic()

    return save


def _attach_attack(args, infos, runners, seed, scenario_name: str) -> None:
    """Build ``--attack`` against every runner's system (the composition root's attack factory).

    Generator attacks without ``--attack-checkpoint`` use the generators shipped for the scenario."""
    from ..checkpoints import CheckpointError
    from ..learned import pretrained_attack_checkpoint

    if args.attack in ("semadv", "pgm") and args.attack_checkpoint is None:
        try:
            args.attack_checkpoint = str(pretrained_attack_checkpoint(scenario_name, args.attack, args.target_class,
                                                                      args.controllable_class))
        except CheckpointError as e:
            raise SystemExit(f"error: {e}") from None

    if args.attack_steps is not None and args.attack != "pgd":
        raise SystemExit("error: --attack-steps applies to --attack pgd only")
    factory = attack_factory(attack_spec(args, seed))
    for info, runner in zip(infos, runners):
        if not hasattr(runner, "set_attack"):
            raise SystemExit(f"error: --attack applies to image systems; {info.name} is a {info.kind} system")
        try:
            runner.set_attack(factory)
        except (ValueError, OSError) as e:
            raise SystemExit(f"error: {info.name}: {e}") from None


def attack_spec(args, seed: int) -> dict:
    """The attack settings of the command line as a plain dictionary (what a remote worker rebuilds it from)."""
    settings = {"steps": args.attack_steps} if args.attack_steps is not None else {}
    return {"name": args.attack, "psr_db": args.psr_db, "target_class": args.target_class,
            "controllable_class": args.controllable_class, "checkpoint": args.attack_checkpoint, "seed": seed,
            "settings": settings}


def attack_factory(spec: dict):
    """``factory(system, link) -> Attack`` of an :func:`attack_spec` (the composition root's attack factory)."""
    from ..attacks import build_attack

    def factory(system, link):
        return build_attack(spec["name"], system, link, psr_db=spec["psr_db"], target_class=spec["target_class"],
                            controllable_class=spec["controllable_class"], checkpoint=spec["checkpoint"],
                            seed=spec["seed"], **spec["settings"])

    return factory


def build_runner(scenario, system: str, options, attack: dict | None = None):
    """The runner of ``system`` on ``scenario`` (with ``attack``, an :func:`attack_spec`, attached): what an
    executor's worker builds to evaluate points (:mod:`sionna_semcomm.executors`)."""
    runner = _registry().get_system(system).build(scenario, options)
    if attack is not None:
        runner.set_attack(attack_factory(attack))
    return runner


def _attack_record(attack, results: dict) -> dict:
    """The run document's top-level ``"attack"``: the attack's description + the measured PSR (mean over the
    SNR points finished so far, dB; ``None`` without a perturbation)."""
    from ..evaluation import misleading_target

    measured = [v for v in results.get("measured_psr_db", []) if v is not None]
    d = attack.describe()
    towards, sources = misleading_target(attack)
    return {"name": d.pop("name"), "psr_db": d.pop("psr_db"),
            "measured_psr_db": sum(measured) / len(measured) if measured else None,
            "target_class": d.pop("target_class"), **d, "misleading_towards": towards,
            "misleading_sources": list(sources) if sources else None}


def _open_store(args) -> ResultsStore | None:
    """The results store of ``--out`` (read now, before any compute), or ``None`` without ``--out``."""
    if args.resume and not args.out:
        raise SystemExit("error: --resume reuses the finished points of --out FILE: give --out")
    if not args.out:
        return None
    try:
        return ResultsStore(args.out)
    except (ValueError, OSError) as e:
        raise SystemExit(f"error: --out {args.out}: cannot merge into it: {e}") from None


def _run_on_executor(executor, args, scenario, names, options, seed, runs, runners, snr_points, store, bar) -> None:
    """Every unfinished point of every run as a task of ``executor``; each finished point merged into its run
    (and the store) as it arrives, so an interrupted sweep keeps them. (Points interrupted mid-way are computed
    again from their start: a task is the unit of work here.)"""
    from ..executors import PointTask

    spec = attack_spec(args, seed) if args.attack is not None else None
    points: list[dict] = []
    tasks = []
    shards: dict = {}  # (run, snr) -> {start: counts} of a point split into shards
    for i, (run, runner) in enumerate(zip(runs, runners)):
        stored = store.get(run) if store is not None and args.resume else None
        finished = points_of(stored["results"]) if stored else {}
        points.append({})
        for snr in snr_points:
            if snr in finished:
                points[i][snr] = finished[snr]
                bar.update(runner.work_per_point())
            elif (args.point_shards or 1) > 1 and hasattr(runner, "shard_ranges"):
                ranges = runner.shard_ranges(args.point_shards)
                shards[(i, snr)] = {"ranges": ranges, "done": {}}
                tasks += [PointTask(i, scenario, names[i], options, snr, spec, args.threads, r) for r in ranges]
            else:
                tasks.append(PointTask(i, scenario, names[i], options, snr, spec, args.threads))
    for i, run in enumerate(runs):
        if points[i]:
            _set_points(run, runners[i], points[i], store)
    try:
        for task, point in executor.run(tasks):
            i = task.run_index
            if task.batches is not None:
                part = shards[(i, task.snr_db)]
                part["done"][task.batches] = point["batches"]
                bar.update(sum(c["blocks"] for c in point["batches"]))
                if len(part["done"]) < len(part["ranges"]):
                    continue
                points[i][task.snr_db] = runners[i].merge_shards(task.snr_db, [part["done"][r] for r in part["ranges"]])
                done = sum(c["blocks"] for counts in part["done"].values() for c in counts)
                bar.update(max(0, runners[i].work_per_point() - done))  # the frames an early stop left out
            else:
                points[i][task.snr_db] = point
                bar.update(runners[i].work_per_point())
            _set_points(runs[i], runners[i], points[i], store)
    except ValueError as e:
        bar.close()
        raise SystemExit(f"error: {e}") from None
    for run in runs:
        run["complete"] = True
        if store is not None:
            store.put(run)


def _set_points(run: dict, runner, points: dict, store) -> None:
    run["results"] = res = with_points(runner.accounting(), points)
    if "attack" in run:
        run["attack"] = _attack_record(runner.attack, res)
    if store is not None:
        store.put(run)


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the command; returns this command's run documents (also merged into ``--out``)."""
    args = setup_args().parse_args(argv)
    systems_mod = _registry()
    if not args.list:
        apply_threads(args.threads)
    if args.list:
        print(_list(systems_mod))
        return []
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as e:
        raise SystemExit(f"error: {e}") from None
    names = args.systems or list(scenario.systems)
    if not names:
        raise SystemExit(f"error: scenario {scenario.name!r} names no systems; pass --systems")
    try:
        infos = [systems_mod.get_system(n) for n in names]
        device = resolve_device(args.device)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    attack_options = [f"--{k.replace('_', '-')}" for k in ("attack_checkpoint", "psr_db", "target_class",
                                                             "controllable_class", "attack_steps") if getattr(args, k) is not None]
    if args.attack is None and attack_options:
        raise SystemExit(f"error: {', '.join(attack_options)} applies to an attack: give --attack NAME")
    store = _open_store(args)
    snr_points = list(args.snr_db or scenario.snr_db)
    seed = scenario.seed if args.seed is None else args.seed
    options = systems_mod.RunOptions(
        seed=seed,
        device=device,
        csi=args.csi,
        num_bits=args.num_bits,
        num_images=args.num_images,
        batch_size=args.batch_size,
        extra={"data_dir": args.data_dir, "checkpoint": args.checkpoint, "jpeg2000_mode": args.jpeg2000_mode, "jpeg2000_bytes": args.jpeg2000_bytes,
               "jpeg2000_implicit_header": args.jpeg2000_implicit_header, "ldpc_decoder": args.ldpc_decoder,
               "capacity_csi": args.capacity_csi,
               "target_bit_errors": args.target_bit_errors, "target_block_errors": args.target_block_errors},
    )
    try:
        runners = [info.build(scenario, options) for info in infos]
        for info, runner in zip(infos, runners):
            check_batch_memory(f"{runner.unit}s of {info.name}", min(runner.batch_size, runner.work_per_point()),
                               runner.memory_per_item(), device, given=runner.batch_size)
    except (ValueError, OSError) as e:  # bad settings, sizes, missing data: say what, not a traceback
        raise SystemExit(f"error: {e}") from None
    if args.attack is not None:
        _attach_attack(args, infos, runners, seed, scenario.name)
    executor = executor_from_args(args, device, ray_only=("--point-shards",))

    runs = []
    for info, runner in zip(infos, runners):
        config = {"scenario": scenario.to_dict(), "system": runner.config()}
        results = {"snr_db": []}
        attack = getattr(runner, "attack", None)
        record = _attack_record(attack, results) if attack is not None else None
        name = None
        if attack is not None:
            name = f"{scenario.name}/{info.name}/{attack.name}" + (f"@{attack.psr_db:g}dB" if attack.psr_db is not None else "")
        runs.append(make_run(scenario=scenario.name, system=info.name, seed=seed, config=config,
                             results=results, conventional=info.conventional, attack=record, name=name))
        runs[-1]["complete"] = False

    total = sum(r.work_per_point() for r in runners) * len(snr_points)
    bar = tqdm(total=total, unit=runners[0].unit, disable=args.no_progress, desc=scenario.name, file=sys.stderr)
    started = time.time()
    try:
        if executor is not None:
            try:
                _run_on_executor(executor, args, scenario, names, options, seed, runs, runners, snr_points, store, bar)
            finally:
                executor.shutdown()
        for run, runner in zip(runs if executor is None else [], runners):
            stored = store.get(run) if store is not None and args.resume else None
            finished = points_of(stored["results"]) if stored else {}
            partial = stored.get("partial") if stored else None
            points = {}
            for snr in snr_points:
                if snr in finished:
                    point = finished[snr]
                    bar.update(runner.work_per_point())
                else:
                    bar.set_postfix_str(f"{run['system']} @ {snr:g} dB")
                    resume = partial["state"] if partial is not None and float(partial["snr_db"]) == snr else None
                    done = [0]

                    def progress(n):
                        done[0] += n
                        bar.update(n)

                    try:
                        point = runner.evaluate(snr, progress=progress, resume=resume,
                                                checkpoint=_point_saver(store, run, snr))
                        bar.update(max(0, runner.work_per_point() - done[0]))  # the work an early stop left out
                    except ValueError as e:
                        bar.close()
                        raise SystemExit(f"error: {run['system']}: {e}") from None
                    except (KeyError, TypeError) as e:
                        if resume is None:
                            raise
                        bar.close()
                        raise SystemExit(f"error: {args.out}: the interrupted {snr:g} dB point of {run['system']} is "
                                         f"malformed ({type(e).__name__}: {e}); run without --resume to compute it "
                                         "again") from None
                points[snr] = point
                run["results"] = res = with_points(runner.accounting(), points)
                if "attack" in run:
                    run["attack"] = _attack_record(runner.attack, res)
                if store is not None:
                    store.put(run)
            run["complete"] = True
            if store is not None:
                store.put(run)
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted: finished points kept in {args.out or '(no --out given)'}", file=sys.stderr)
        raise SystemExit(130) from None
    bar.close()

    print(format_table(runs))
    print(f"({time.time() - started:.1f} s, seed {seed}, device {device})")
    if args.out:
        print(f"results: {args.out}")
    if args.plot:
        plot_runs(runs, args.plot)
        print(f"plot: {args.plot}")
    return runs


if __name__ == "__main__":
    main()
