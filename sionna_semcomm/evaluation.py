"""Evaluating image systems over a scenario's link: one harness for learned and conventional systems.

Every image system sees the same test images and, for the same seed, the same channel realization per
image: before each SNR point the harness restarts the system's link streams from the run seed and draws
the taps of all N images at once from the channel stream (``link.sample_taps((N,))``), so the taps of
image i do not depend on the batch size or on what the system draws otherwise.

An image system implements::

    link: OFDMLink                      # any of its links built from the scenario's LinkConfig
    prepare(images [N,C,H,W], labels [N]) -> None   # SNR-independent work, once (e.g. JPEG2000 encoding)
    transmit(index [B], images [B,C,H,W], labels [B], snr_db, taps [B,L]) -> dict with
        "x_hat" [B,C,H,W] in [0,1] (optional "logits" [B,classes]; optional counters
        "bit_errors", "bits", "block_errors", "blocks", "decode_failures", "ldpc_iterations", "ldpc_codewords")
    accounting() -> dict                # ofdm_symbols_per_image, channel_uses_per_image, ...
    config() -> dict

Attacks (:meth:`ImageRunner.set_attack`): a system with ``set_attack(attack)`` (the learned systems) applies
any attack itself and returns the measured ``perturbation_power`` / ``signal_power`` [B] of each image
with its outputs; any other system that sends through ``self.link`` gets link-level attacks (identity,
jamming: attacks with ``from_received``) through :class:`PerturbedLink`. Under attack every SNR point also
reports ``measured_psr_db`` (see :func:`~sionna_semcomm.attacks.psr.summarize_psr`) and, with a target /
controllable class, ``target_accuracy``, ``innocent_accuracy`` and ``misleading_rate``. The attack's
random stream restarts from the run seed at every SNR point, like the link's.
"""

from __future__ import annotations

import sys

import torch

from .attacks.psr import perturbation_powers, received_signal, summarize_psr
from .data import DatasetNotFoundError, demo_dataset, load_dataset
from .metrics import misleading_rate, per_class_mean, psnr, ssim

__all__ = ["load_eval_images", "ImageRunner", "PerturbedLink", "misleading_target"]


def load_eval_images(dataset: str, num_images: int, data_dir=None, allow_demo: bool = True):
    """The first ``num_images`` test images of ``dataset`` (an :class:`~sionna_semcomm.data.ImageDataset`).

    Without a data directory and without the files in the default places, the package's shipped demo
    images are used (40 per data set) when ``allow_demo``, with a note on stderr.
    """
    try:
        ds = load_dataset(dataset, "test", data_dir)
    except DatasetNotFoundError:
        if data_dir is not None or not allow_demo:
            raise
        ds = demo_dataset(dataset)
        print(f"note: {dataset} test files not found; using the {len(ds)} demo images shipped with the package "
              "(pass --data-dir or set SIONNA_SEMCOMM_DATA for the real test set)", file=sys.stderr)
    n = min(num_images, len(ds))
    return ds.subset(torch.arange(n)) if n < len(ds) else ds


class PerturbedLink:
    """An :class:`~sionna_semcomm.link.ofdm.OFDMLink` whose every call carries a link-level attack.

    For systems that know nothing of attacks (conventional links): each call computes the noiseless received
    signal of its own input on its channel (``transmit`` + ``channel_output``, no random draw), asks
    ``attack.from_received(rx)`` for the perturbation and runs the real link with it. Everything else is the
    wrapped link's (``reseed``, ``sample_taps``, ``num_time_samples``, ...). Measured powers of every call are
    appended to :attr:`powers` as ``(P_p [B], P_s [B])``.
    """

    def __init__(self, link, attack):
        self.link = link
        self.attack = attack
        self.powers: list = []

    def __getattr__(self, name):
        return getattr(self.__dict__["link"], name)

    def __call__(self, x, snr_db, perturbation=None, taps=None):
        if perturbation is not None:
            raise ValueError("PerturbedLink adds its attack's perturbation; the caller must not pass another")
        link = self.link
        batch_shape = x.shape[:-1]
        if taps is None:
            taps = link.sample_taps(batch_shape)
        flat_x = x.reshape(-1, x.shape[-1])
        rx = link.channel_output(link.transmit(flat_x)["x_time"], taps.reshape(flat_x.shape[0], -1).to(link.cdtype))
        p = self.attack.from_received(received_signal(link, rx[:, : link.num_time_samples]))
        out = link(x, snr_db, perturbation=p, taps=taps)
        self.powers.append(perturbation_powers(link, out))
        return out


def misleading_target(attack) -> tuple[int | None, tuple[int, ...] | None]:
    """``(towards, sources)`` of the misleading rate reported under ``attack``.

    With a controllable class ``c``: the rate of images of the target classes (all classes but ``c`` when
    none is given) decided as ``c``. Otherwise, with exactly one target class ``t``: the rate of images of
    the other classes decided as ``t``. Else ``(None, None)``: no misleading rate.
    """
    if attack is None:
        return None, None
    if attack.controllable_class is not None:
        return attack.controllable_class, attack.target_classes
    if attack.target_classes and len(attack.target_classes) == 1:
        return attack.target_classes[0], None
    return None, None


class ImageRunner:
    """Runs an image system over SNR points (see the module doc); used by the link CLI's registry."""

    unit = "image"

    def __init__(self, system, dataset, batch_size: int, seed: int):
        self.system = system
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self._prepared = False
        self.attack = None

    def set_attack(self, factory) -> None:
        """Attack the system: ``factory(semantic_system or None, link) -> Attack`` builds the attack against
        this system's learned model (when it has one) and link (see the module doc).

        :raises ValueError: the attack does not apply to this system, or names a class the data set lacks.
        """
        semantic = getattr(self.system, "semantic_system", None)
        attack = factory(semantic, self.system.link)
        num_classes = len(self.dataset.classes)
        for c in list(attack.target_classes or ()) + ([attack.controllable_class] if attack.controllable_class is not None else []):
            if not 0 <= c < num_classes:
                raise ValueError(f"unknown class {c}: the data set has classes 0..{num_classes - 1}")
        if hasattr(self.system, "set_attack"):
            self.system.set_attack(attack)
        elif hasattr(attack, "from_received"):
            self.system.link = PerturbedLink(self.system.link, attack)
        else:
            raise ValueError(f"attack {attack.name!r} needs a learned system; {type(self.system).__name__} supports only "
                             "link-level attacks (identity, jamming)")
        self.attack = attack

    def config(self) -> dict:
        out = {**self.system.config(), "dataset": getattr(self.dataset, "name", ""), "num_images": len(self.dataset),
               "batch_size": self.batch_size}
        if self.attack is not None:
            out["attack"] = self.attack.describe()
        return out

    def accounting(self) -> dict:
        self._prepare()
        return self.system.accounting()

    def work_per_point(self) -> int:
        return len(self.dataset)

    def _prepare(self):
        if not self._prepared:
            images, labels = self.dataset.batch(torch.arange(len(self.dataset)))
            self.system.prepare(images, labels)
            self._prepared = True

    @torch.no_grad()
    def evaluate(self, snr_db: float, progress=None) -> dict:
        self._prepare()
        n, link = len(self.dataset), self.system.link
        link.reseed(self.seed)
        if self.attack is not None:
            self.attack.reseed(self.seed)
        taps = link.sample_taps((n,))
        num_classes = len(self.dataset.classes)
        per_image = {"psnr": [], "ssim": [], "correct": []}
        counters: dict[str, int] = {}
        labels_all, logits_all, powers = [], [], []
        for start in range(0, n, self.batch_size):
            index = torch.arange(start, min(start + self.batch_size, n))
            images, labels = self.dataset.batch(index)
            images, labels = images.to(link.device), labels.to(link.device)
            out = self.system.transmit(index, images, labels, snr_db, taps[index])
            x_hat = out["x_hat"].clamp(0, 1)
            per_image["psnr"].append(psnr(x_hat, images).cpu())
            per_image["ssim"].append(ssim(x_hat, images).cpu())
            if "logits" in out:
                per_image["correct"].append((out["logits"].argmax(-1) == labels).float().cpu())
                logits_all.append(out["logits"].detach().cpu())
            if self.attack is not None:
                powers.extend(self._batch_powers(out))
            for key in ("bit_errors", "bits", "block_errors", "blocks", "decode_failures", "ldpc_iterations", "ldpc_codewords"):
                if key in out:
                    counters[key] = counters.get(key, 0) + int(out[key])
            labels_all.append(labels.cpu())
            if progress is not None:
                progress(len(index))
        labels_all = torch.cat(labels_all)
        result: dict = {}
        per_class: dict = {}
        for metric, key in (("psnr", "psnr"), ("ssim", "ssim"), ("accuracy", "correct")):
            if per_image[key]:
                values = torch.cat(per_image[key])
                result[metric] = float(values.mean())
                per_class[metric] = per_class_mean(values, labels_all, num_classes)
        if counters.get("bits"):
            result["ber"] = counters["bit_errors"] / counters["bits"]
        if counters.get("blocks"):
            result["bler"] = counters["block_errors"] / counters["blocks"]
        if counters.get("ldpc_codewords"):
            result["ldpc_iterations"] = counters["ldpc_iterations"] / counters["ldpc_codewords"]
        if "decode_failures" in counters:
            result["decode_failure_rate"] = counters["decode_failures"] / n
        if self.attack is not None:
            result.update(self._attack_metrics(powers, logits_all, labels_all))
        result["per_class"] = per_class
        return result

    def _batch_powers(self, out: dict) -> list:
        if "perturbation_power" in out:
            return [(out["perturbation_power"].cpu(), out["signal_power"].cpu())]
        link = self.system.link
        if isinstance(link, PerturbedLink):
            got, link.powers = link.powers, []
            if not got:
                raise ValueError(f"{type(self.system).__name__} does not send its images through its link (an analytical "
                                 "bound?): an attack on the link does not apply to it")
            return [(a.cpu(), b.cpu()) for a, b in got]
        raise ValueError(f"{type(self.system).__name__} reported no perturbation powers under attack")

    def _attack_metrics(self, powers, logits_all, labels) -> dict:
        pp = torch.cat([a for a, _ in powers])
        ps = torch.cat([b for _, b in powers])
        out = {"measured_psr_db": summarize_psr(pp, ps)["measured_psr_db"]}
        if not logits_all:
            return out
        logits = torch.cat(logits_all)
        correct = (logits.argmax(-1) == labels).float()
        targets = self.attack.target_classes
        if targets:
            in_t = torch.isin(labels, torch.tensor(targets))
            out["target_accuracy"] = float(correct[in_t].mean()) if bool(in_t.any()) else None
            out["innocent_accuracy"] = float(correct[~in_t].mean()) if bool((~in_t).any()) else None
        towards, sources = misleading_target(self.attack)
        if towards is not None:
            out["misleading_rate"] = misleading_rate(logits, labels, towards, sources)
        return out
