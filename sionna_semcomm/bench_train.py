"""Training-step benchmark: images per second of one optimizer step and where its time goes.

:func:`bench_training` times, on the scenario's system (random weights: the cost does not depend on them), at a
given batch size, with :func:`~sionna_semcomm.bench.time_interleaved` (same machine state for every part):

* ``data``: a batch from the in-memory uint8 training set, augmented (crop + flip) and made float;
* ``link``: the OFDM link, forward + backward to the transmitted symbols;
* ``codec``: encoder + link + decoder forward, MSE backward (the ``codec`` training stage without the optimizer);
* ``classifier``: the image classifier forward + backward on a batch of images;
* ``optimizer``: one Adam step over all the system's parameters (gradients present);
* ``step_codec`` / ``step_joint``: whole training steps of the ``codec`` and ``joint`` stages (data, forward,
  backward, optimizer), i.e. what :class:`~sionna_semcomm.train.Trainer` does per step;
* ``step_generator``: one SemAdv generator training step against the frozen system
  (:func:`~sionna_semcomm.attacks.trainer.generator_step`, what ``attack train`` does per step).

Every figure is ``batch / median seconds``; ``share_of_joint_step`` puts each part against the joint step.
Where bf16 is fast (:func:`~sionna_semcomm.runtime.bf16_is_fast`: CUDA, CPUs with AVX512-BF16 or AMX) the
autocast (bf16) and bf16 + channels_last variants of the joint step, and the generator step under
``attack train --amp bf16``, are timed as well.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .runtime import bf16_is_fast

__all__ = ["bench_training", "bench_classifier_widths"]


def _system_and_data(scenario_name: str, device: str, n_images: int = 1024, classifier_width: int | None = None):
    from .data.base import ImageDataset
    from .scenario import load_scenario
    from .semantic import SemanticSystem
    from .train import _registry, model_config_for

    scenario = load_scenario(scenario_name)
    if scenario.images is None:
        raise ValueError(f"scenario {scenario.name!r} has no [images] section: no learned system to train")
    torch.manual_seed(0)
    system = SemanticSystem(model_config_for(scenario, classifier_width=classifier_width), _registry()).to(device)
    c, h, w = system.config.image_shape
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_images, c, h, w), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, system.config.num_classes, (n_images,), generator=g)
    data = ImageDataset(images.to(device), labels.to(device), [str(i) for i in range(system.config.num_classes)])
    return scenario, system, data


def bench_training(scenario_name: str = "rayleigh_cifar", batch_size: int = 64, repeats: int = 5, warmup: int = 1,
                   device: str = "cpu", clock: str = "wall", classifier_width: int | None = None) -> dict:
    """Time the parts of a training step (see the module doc).

    :param classifier_width: the image classifier's base width (``None``: the scenario's).
    :output: ``{"scenario", "classifier_width", "batch_size", "images_per_s": {part: value}, "seconds": {part:
        median s}, "share_of_joint_step": {part: fraction}}``.
    """
    from .augment import augment_batch
    from .bench import time_interleaved
    from .link.ofdm import OFDMLink

    scenario, system, data = _system_and_data(scenario_name, device, classifier_width=classifier_width)
    system.train()
    link = OFDMLink(system.num_symbols, scenario.link, seed=0, device=device)
    aug_gen = torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(system.parameters(), lr=1e-4)
    idx_gen = torch.Generator().manual_seed(2)

    def batch():
        idx = torch.randint(0, len(data), (batch_size,), generator=idx_gen)
        x, y = data.batch(idx)
        return augment_batch(x, "crop_flip", aug_gen), y

    x0, y0 = batch()
    z0 = system.codec.encode(x0).detach()

    def part_data():
        batch()

    def part_link():
        z = z0.clone().requires_grad_(True)
        out = link(z, 10.0)
        (out["x_hat"] - z0).abs().square().mean().backward()

    def part_codec():
        out = system.reconstruct(x0, link, 10.0)
        F.mse_loss(out["x_hat"], x0).backward()

    def part_classifier():
        F.cross_entropy(system.classifier(x0), y0).backward()

    for p in system.parameters():  # the optimizer part needs gradients everywhere
        p.grad = torch.zeros_like(p)

    def part_optimizer():
        opt.step()

    def step(stage: str, autocast: bool = False) -> Callable[[], None]:
        def run():
            x, y = batch()
            with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
                out = system.reconstruct(x, link, 10.0) if stage == "codec" else system(x, link, 10.0)
                loss = F.mse_loss(out["x_hat"].float(), x)
                if stage == "joint":
                    loss = loss + 0.01 * F.cross_entropy(out["logits"].float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return run

    generator_step_with = _generator_step(system, scenario, batch, device)
    fns = {"data": part_data, "link": part_link, "codec": part_codec, "classifier": part_classifier,
           "optimizer": part_optimizer, "step_codec": step("codec"), "step_joint": step("joint"),
           "step_generator": lambda: generator_step_with("none")}
    fast_bf16 = bf16_is_fast(device)
    if fast_bf16:
        fns["step_joint_bf16"] = step("joint", autocast=True)
        fns["step_generator_bf16"] = lambda: generator_step_with("bf16")
    times = time_interleaved(fns, repeats, warmup, device, clock)
    if fast_bf16:  # channels_last needs the model converted: timed on its own
        system.to(memory_format=torch.channels_last)
        times.update(time_interleaved({"step_joint_bf16_channels_last": step("joint", autocast=True)}, repeats, warmup,
                                      device, clock))
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    return {"scenario": scenario.name, "classifier_width": system.config.classifier_width, "batch_size": batch_size,
            "device": device, "clock": clock,
            "torch_num_threads": torch.get_num_threads(),
            "images_per_s": {k: batch_size / s for k, s in med.items()}, "seconds": med,
            "share_of_joint_step": {k: s / med["step_joint"] for k, s in med.items()
                                    if k in ("data", "link", "codec", "classifier", "optimizer")}}


def _generator_step(system, scenario, batch: Callable, device: str) -> Callable[[str], None]:
    """``run(amp)``: one SemAdv generator training step (target class 0, PSR -6 dB, SNR 10 dB) against a frozen
    copy of ``system`` on a batch from ``batch()``, as ``attack train --amp AMP`` runs it."""
    import copy

    from .attacks import SemAdv
    from .attacks.trainer import generator_step
    from .link.ofdm import OFDMLink
    from .runtime import make_generator

    frozen = copy.deepcopy(system).eval().requires_grad_(False)
    link = OFDMLink(frozen.num_symbols, scenario.link, seed=0, device=device)
    torch.manual_seed(0)
    attack = SemAdv(frozen, link, -6.0, target_class=0, seed=0)
    opt = torch.optim.Adam(attack.net.parameters(), lr=5e-4)
    seeds, labels = make_generator(0, "bench-seeds", device), make_generator(0, "bench-labels", device)

    def run(amp: str) -> None:
        x, y = batch()
        generator_step(attack, opt, link, x, y, 10.0, seeds, labels, amp)
    return run


def bench_classifier_widths(scenario_name: str = "rayleigh_cifar", batch_size: int = 128, widths=(16, 32, 64),
                            repeats: int = 5, warmup: int = 1, device: str = "cpu", clock: str = "wall",
                            bf16: bool | None = None) -> list[dict]:
    """Seconds of one training step of the scenario's image classifier alone (forward, cross-entropy, backward,
    Nesterov SGD) at each base width in ``widths``, timed interleaved on a random batch.

    :param bf16: also time the step under bf16 autocast (``train --amp bf16``); ``None``: where
        :func:`~sionna_semcomm.runtime.bf16_is_fast`.
    :output: ``[{"width", "parameters", "seconds", "images_per_s"}]``, one per width, with ``seconds_bf16`` and
        ``images_per_s_bf16`` when bf16 is timed.
    """
    from .bench import time_interleaved
    from .scenario import load_scenario
    from .semantic import SemanticSystem
    from .train import _registry, model_config_for

    scenario = load_scenario(scenario_name)
    bf16 = bf16_is_fast(device) if bf16 is None else bf16
    fns, params = {}, {}
    for width in widths:
        torch.manual_seed(0)
        classifier = SemanticSystem(model_config_for(scenario, classifier_width=width), _registry()).classifier.to(device)
        opt = torch.optim.SGD(classifier.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        params[width] = sum(t.numel() for t in classifier.parameters())

        def step(classifier=classifier, opt=opt, autocast=False):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
                loss = F.cross_entropy(classifier(x).float(), y)
            loss.backward()
            opt.step()
        fns[width] = step
        if bf16:
            fns[(width, "bf16")] = lambda step=step: step(autocast=True)
    g = torch.Generator().manual_seed(0)
    cfg = model_config_for(scenario)
    x = torch.rand((batch_size, *cfg.image_shape), generator=g).to(device)
    y = torch.randint(0, cfg.num_classes, (batch_size,), generator=g).to(device)
    times = time_interleaved(fns, repeats, warmup, device, clock)
    med = {w: sorted(v)[len(v) // 2] for w, v in times.items()}
    rows = [{"width": w, "parameters": params[w], "seconds": med[w], "images_per_s": batch_size / med[w]} for w in widths]
    for r in rows if bf16 else []:
        r["seconds_bf16"] = med[(r["width"], "bf16")]
        r["images_per_s_bf16"] = batch_size / r["seconds_bf16"]
    return rows


def training_table(rows: list[dict]) -> str:
    """Markdown table of :func:`bench_training` results (one row per batch size)."""
    parts = ["data", "link", "codec", "classifier", "optimizer", "step_codec", "step_joint"]
    extra = [k for k in rows[0]["images_per_s"] if k not in parts] if rows else []
    head = "| batch | " + " | ".join(parts + extra) + " |"
    lines = [head, "|" + "---|" * (len(parts + extra) + 1)]
    for r in rows:
        lines.append(f"| {r['batch_size']} | " + " | ".join(f"{r['images_per_s'][k]:.0f}" for k in parts + extra) + " |")
    return "training step, images/s (" + (rows[0]["scenario"] if rows else "") + "):\n" + "\n".join(lines)
