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

import math
import sys

import torch

from .attacks.psr import perturbation_powers, received_signal, summarize_psr
from .data import DatasetNotFoundError, demo_dataset, load_dataset
from .link.bounds import WORK_BYTES_PER_VALUE, frame_bytes
from .metrics import misleading_rate, per_class_mean, psnr, ssim
from .store import decode_tensor, encode_generator, encode_tensor, restore_generator

__all__ = ["load_eval_images", "ImageRunner", "PerturbedLink", "misleading_target"]


_DEMO_NOTED: set[str] = set()  # data sets whose demo-image note was printed


def load_eval_images(dataset: str, num_images: int, data_dir=None, allow_demo: bool = True):
    """The first ``num_images`` test images of ``dataset`` (an :class:`~sionna_semcomm.data.ImageDataset`).

    Without a data directory and without the files in the default places, the package's shipped demo
    images are used (40 per data set) when ``allow_demo``, with a note on stderr (once per data set and process).
    """
    try:
        ds = load_dataset(dataset, "test", data_dir)
    except DatasetNotFoundError:
        if data_dir is not None or not allow_demo:
            raise
        ds = demo_dataset(dataset)
        if dataset not in _DEMO_NOTED:  # once per process, not once per system
            _DEMO_NOTED.add(dataset)
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
               "classes": list(self.dataset.classes), "batch_size": self.batch_size}
        if self.attack is not None:
            out["attack"] = self.attack.describe()
        return out

    def accounting(self) -> dict:
        self._prepare()
        return self.system.accounting()

    def work_per_point(self) -> int:
        return len(self.dataset)

    def memory_per_item(self) -> int:
        """Working memory of one image of a batch [bytes]: its link frame and the codec's/decoder's values."""
        return frame_bytes(self.system.link.num_time_samples) + WORK_BYTES_PER_VALUE * math.prod(self.dataset.image_shape)

    def _prepare(self):
        if not self._prepared:
            images, labels = self.dataset.batch(torch.arange(len(self.dataset)))
            self.system.prepare(images, labels)
            self._prepared = True

    def _streams(self) -> dict:
        """The random streams a point draws from after its taps: the link's noise and the attack's."""
        streams = {"noise": self.system.link._noise_generator}
        if self.attack is not None:
            streams["attack"] = self.attack.rng
        return streams

    @torch.no_grad()
    def evaluate(self, snr_db: float, progress=None, resume: dict | None = None, checkpoint=None) -> dict:
        """Metrics at ``snr_db`` over all images (see the module doc).

        :param checkpoint: optional callable ``checkpoint(state)`` after every batch (``state``: JSON-able
            per-image values, counters and random-stream states).
        :param resume: such a state: continue after its batch, bit-identical to an uninterrupted call.
        """
        self._prepare()
        n, link = len(self.dataset), self.system.link
        link.reseed(self.seed)
        if self.attack is not None:
            self.attack.reseed(self.seed)
        taps = link.sample_taps((n,))
        num_classes = len(self.dataset.classes)
        # per image: psnr, ssim, correct, labels, logits, perturbation and signal powers (lists of [B, ...] tensors)
        acc: dict[str, list] = {k: [] for k in ("psnr", "ssim", "correct", "labels", "logits", "pp", "ps")}
        counters: dict[str, int] = {}
        done = 0
        if resume is not None:
            done, counters = int(resume["done"]), {k: int(v) for k, v in resume["counters"].items()}
            acc = {k: [decode_tensor(t) for t in resume["values"].get(k, [])] for k in acc}
            for name, generator in self._streams().items():
                restore_generator(generator, resume["rng"][name])
            if progress is not None:
                progress(done)
        for start in range(done, n, self.batch_size):
            index = torch.arange(start, min(start + self.batch_size, n))
            images, labels = self.dataset.batch(index)
            images, labels = images.to(link.device), labels.to(link.device)
            out = self.system.transmit(index, images, labels, snr_db, taps[index])
            x_hat = out["x_hat"].clamp(0, 1)
            acc["psnr"].append(psnr(x_hat, images).cpu())
            acc["ssim"].append(ssim(x_hat, images).cpu())
            if "logits" in out:
                acc["correct"].append((out["logits"].argmax(-1) == labels).float().cpu())
                acc["logits"].append(out["logits"].detach().cpu())
            if self.attack is not None:
                for pp, ps in self._batch_powers(out):
                    acc["pp"].append(pp)
                    acc["ps"].append(ps)
            for key in ("bit_errors", "bits", "block_errors", "blocks", "decode_failures", "ldpc_iterations", "ldpc_codewords"):
                if key in out:
                    counters[key] = counters.get(key, 0) + int(out[key])
            acc["labels"].append(labels.cpu())
            if progress is not None:
                progress(len(index))
            if checkpoint is not None:
                checkpoint({"done": int(index[-1]) + 1, "counters": dict(counters),
                            "values": {k: [encode_tensor(torch.cat(v))] if v else [] for k, v in acc.items()},
                            "rng": {k: encode_generator(g) for k, g in self._streams().items()}})
        labels_all = torch.cat(acc["labels"])
        result: dict = {}
        per_class: dict = {}
        for metric in ("psnr", "ssim", "accuracy"):
            key = "correct" if metric == "accuracy" else metric
            if acc[key]:
                values = torch.cat(acc[key])
                result[metric] = float(values.mean())
                per_class[metric] = per_class_mean(values, labels_all, num_classes)
        if counters.get("bits"):
            result["ber"], result["bits"] = counters["bit_errors"] / counters["bits"], counters["bits"]
        if counters.get("blocks"):
            result["bler"], result["blocks"] = counters["block_errors"] / counters["blocks"], counters["blocks"]
        if counters.get("ldpc_codewords"):
            result["ldpc_iterations"] = counters["ldpc_iterations"] / counters["ldpc_codewords"]
        if "decode_failures" in counters:
            result["decode_failure_rate"] = counters["decode_failures"] / n
        if self.attack is not None:
            result.update(self._attack_metrics(torch.cat(acc["pp"]), torch.cat(acc["ps"]), acc["logits"], labels_all))
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

    def _attack_metrics(self, pp, ps, logits_all, labels) -> dict:
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
