"""Image-quality and classification metrics, with one meaning everywhere in the toolkit.

Images follow the project convention: real tensors of shape ``[B, C, H, W]`` with values in
``[0, data_range]`` (``data_range=1.0`` for the usual ``[0, 1]`` images). Image metrics return one value
per image (shape ``[B]``, ``torch.float64``, on the input's device) so that callers can average, take
per-class means or keep per-image values as they need.

JSON never holds NaN or infinity here: :func:`psnr` is capped at :data:`PSNR_MAX_DB` (identical images),
:func:`per_class_mean` gives ``None`` for a class without samples and :func:`misleading_rate` gives
``None`` when no example is eligible.

Example::

    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> psnr(x, x).tolist()
    [100.0, 100.0]
    >>> ssim(x, x).tolist()
    [1.0, 1.0]
    >>> accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    0.5
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "PSNR_MAX_DB",
    "RANGE_TOLERANCE",
    "SSIM_WIN_SIZE",
    "psnr",
    "ssim",
    "accuracy",
    "per_class_mean",
    "misleading_rate",
    "confusion_matrix",
]

#: PSNR (dB) reported for identical images (MSE = 0) and the cap on every PSNR value, so that results
#: stay finite and JSON-serialisable. 100 dB is far above anything an 8-bit image can distinguish
#: (a single 1/255 error in one 32x32 RGB pixel is already ~83 dB).
PSNR_MAX_DB = 100.0

#: Values may exceed ``[0, data_range]`` by this fraction of ``data_range`` (float round-off of a
#: normalisation) before the image metrics reject the input.
RANGE_TOLERANCE = 1e-3

#: Side of the Gaussian SSIM window; images must be at least this large in H and W.
SSIM_WIN_SIZE = 11
SSIM_WIN_SIGMA = 1.5
SSIM_K = (0.01, 0.03)


def _check_images(x_hat: Tensor, x: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """Validate a pair of image batches and return them as float64 tensors."""
    if not isinstance(x_hat, Tensor) or not isinstance(x, Tensor):
        raise ValueError(
            f"images must be torch tensors, got {type(x_hat).__name__} and {type(x).__name__}"
        )
    if x_hat.shape != x.shape:
        raise ValueError(f"shape mismatch: x_hat has shape {tuple(x_hat.shape)}, x has {tuple(x.shape)}")
    if x.dim() != 4:
        raise ValueError(f"images must have shape [B, C, H, W], got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"empty image batch of shape {tuple(x.shape)}")
    if x_hat.is_complex() or x.is_complex() or x_hat.dtype == torch.bool or x.dtype == torch.bool:
        raise ValueError(f"images must be real-valued, got dtypes {x_hat.dtype} and {x.dtype}")
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    tol = RANGE_TOLERANCE * data_range
    out = [x_hat.to(torch.float64), x.to(torch.float64)]
    # one host sync for all six checks (a GPU caller otherwise waits six times per call)
    stats = torch.stack([s for t in out for s in (torch.isfinite(t.detach()).all().double(), t.detach().min(),
                                                  t.detach().max())]).tolist()
    for name, (finite, lo, hi) in zip(("x_hat", "x"), (stats[:3], stats[3:])):
        if not finite:
            raise ValueError(f"{name} contains NaN or infinite values")
        if lo < -tol or hi > data_range + tol:
            raise ValueError(
                f"{name} has values in [{lo:.6g}, {hi:.6g}], outside [0, {data_range}] "
                f"(tolerance {tol:.3g}); images must be scaled to [0, data_range]"
            )
    return out[0], out[1]


def psnr(x_hat: Tensor, x: Tensor, data_range: float = 1.0, max_db: float = PSNR_MAX_DB) -> Tensor:
    """Peak signal-to-noise ratio per image, in dB.

    ``PSNR = 10 log10(data_range^2 / MSE)`` with the MSE taken over all ``C*H*W`` values of each image,
    capped at ``max_db`` (identical images give exactly ``max_db``, never ``inf``). Computed in float64.

    :param x_hat: reconstructed images, real tensor ``[B, C, H, W]`` in ``[0, data_range]``.
    :param x: reference images, same shape and range.
    :param data_range: peak value (1.0 for ``[0, 1]`` images, 255 for 8-bit values).
    :param max_db: cap in dB (default :data:`PSNR_MAX_DB`).
    :output: ``torch.float64`` tensor ``[B]`` on the input's device.
    :raises ValueError: shape mismatch, not 4-D, non-finite values or values outside the range.
    """
    x_hat, x = _check_images(x_hat, x, data_range)
    mse = (x_hat - x).pow(2).flatten(1).mean(dim=1)
    # data_range^2 / mse with mse == 0 gives inf, which the cap turns into max_db.
    value = 10.0 * torch.log10(data_range**2 / mse)
    return torch.clamp(value, max=max_db)


def ssim(x_hat: Tensor, x: Tensor, data_range: float = 1.0) -> Tensor:
    """Structural similarity per image (Wang et al. 2004), via ``pytorch_msssim.ssim``.

    Gaussian window of side 11 and sigma 1.5, ``K = (0.01, 0.03)``, computed per channel and averaged over
    channels. ``pytorch_msssim`` filters with a *valid* convolution, so the SSIM map covers only the
    ``(H-10) x (W-10)`` positions where the whole window lies inside the image (18x18 for MNIST, 22x22 for
    CIFAR-10). This is the same set of positions that
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` averages over (it crops a 5-pixel border), and the two agree to ~1e-6
    (checked in ``tests/test_metrics.py``). Computed in float64 (the variance terms
    ``E[x^2] - E[x]^2`` lose digits in float32); differentiable.

    :param x_hat: reconstructed images, real tensor ``[B, C, H, W]`` in ``[0, data_range]``, with
        ``H, W >= 11``.
    :param x: reference images, same shape and range.
    :param data_range: peak value (1.0 for ``[0, 1]`` images).
    :output: ``torch.float64`` tensor ``[B]`` on the input's device, values in ``[-1, 1]``.
    :raises ValueError: shape mismatch, not 4-D, image smaller than the window, non-finite values or
        values outside the range.
    """
    from pytorch_msssim import ssim as _ssim

    x_hat, x = _check_images(x_hat, x, data_range)
    h, w = x.shape[-2:]
    if h < SSIM_WIN_SIZE or w < SSIM_WIN_SIZE:
        raise ValueError(
            f"images of {h}x{w} pixels are smaller than the {SSIM_WIN_SIZE}x{SSIM_WIN_SIZE} SSIM window"
        )
    return _ssim(
        x_hat,
        x,
        data_range=data_range,
        size_average=False,
        win_size=SSIM_WIN_SIZE,
        win_sigma=SSIM_WIN_SIGMA,
        K=SSIM_K,
    )


def _as_labels(labels, name: str = "labels") -> Tensor:
    t = torch.as_tensor(labels)
    if t.dim() != 1:
        raise ValueError(f"{name} must have shape [N], got {tuple(t.shape)}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be integer class indices, got dtype {t.dtype}")
    return t.long()


def _as_pred(logits_or_pred) -> Tensor:
    """``[N, K]`` logits/scores -> argmax ``[N]``; ``[N]`` integer predictions are passed through."""
    t = torch.as_tensor(logits_or_pred)
    if t.dim() == 2:
        return t.argmax(dim=1)
    if t.dim() == 1:
        return _as_labels(t, "predictions")
    raise ValueError(f"expected logits [N, K] or predictions [N], got shape {tuple(t.shape)}")


def _pred_and_labels(logits_or_pred, labels) -> tuple[Tensor, Tensor]:
    pred = _as_pred(logits_or_pred)
    lab = _as_labels(labels).to(pred.device)
    if pred.shape[0] != lab.shape[0]:
        raise ValueError(f"shape mismatch: {pred.shape[0]} predictions but {lab.shape[0]} labels")
    return pred, lab


def accuracy(logits_or_pred, labels) -> float:
    """Fraction of correctly classified examples.

    :param logits_or_pred: logits or scores ``[N, K]`` (argmax is taken) or integer predictions ``[N]``.
    :param labels: integer class indices ``[N]``.
    :output: Python float in ``[0, 1]``.
    :raises ValueError: shape mismatch or ``N == 0``.
    """
    pred, lab = _pred_and_labels(logits_or_pred, labels)
    if lab.numel() == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((pred == lab).double().mean())


def per_class_mean(values, labels, num_classes: int) -> list[float | None]:
    """Mean of ``values`` over the examples of each class.

    :param values: per-example values ``[N]`` (e.g. PSNR, SSIM, or a bool "correct" mask for per-class
        accuracy).
    :param labels: integer class indices ``[N]`` in ``[0, num_classes)``.
    :param num_classes: number of classes ``K``.
    :output: list of ``K`` Python floats in class-index order; ``None`` for a class with no examples
        (JSON has no NaN).
    :raises ValueError: shape mismatch, labels out of range or non-finite values.
    """
    v = torch.as_tensor(values)
    if v.dim() != 1:
        raise ValueError(f"values must have shape [N], got {tuple(v.shape)}")
    v = v.to(torch.float64)
    lab = _as_labels(labels).to(v.device)
    if v.shape[0] != lab.shape[0]:
        raise ValueError(f"shape mismatch: {v.shape[0]} values but {lab.shape[0]} labels")
    _check_classes(lab, num_classes, "labels")
    if not bool(torch.isfinite(v).all()):
        raise ValueError("values contain NaN or infinite entries")
    sums = torch.zeros(num_classes, dtype=torch.float64, device=v.device).index_add_(0, lab, v)
    counts = torch.bincount(lab, minlength=num_classes)
    return [float(s / c) if c > 0 else None for s, c in zip(sums.tolist(), counts.tolist())]


def _check_classes(t: Tensor, num_classes: int, name: str) -> None:
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes}), got range [{int(t.min())}, {int(t.max())}]"
        )


def misleading_rate(
    pred, labels, target_class: int, source_classes: Sequence[int] | None = None
) -> float | None:
    """Targeted-attack success: fraction of eligible examples classified as ``target_class``.

    Eligible examples are those whose true class is not ``target_class`` (and, if ``source_classes`` is
    given, whose true class is in ``source_classes``).

    :param pred: logits ``[N, K]`` (argmax is taken) or integer predictions ``[N]``.
    :param labels: integer true classes ``[N]``.
    :param target_class: the class the attacker wants predicted.
    :param source_classes: optional iterable of true classes to restrict to (``target_class`` itself is
        always excluded).
    :output: Python float in ``[0, 1]``, or ``None`` if no example is eligible (JSON has no NaN).
    :raises ValueError: shape mismatch.
    """
    p, lab = _pred_and_labels(pred, labels)
    eligible = lab != int(target_class)
    if source_classes is not None:
        src = torch.as_tensor(list(source_classes), dtype=torch.long, device=lab.device)
        eligible &= torch.isin(lab, src)
    n = int(eligible.sum())
    if n == 0:
        return None
    return float((p[eligible] == int(target_class)).double().sum() / n)


def confusion_matrix(logits_or_pred, labels, num_classes: int) -> Tensor:
    """Confusion counts: entry ``[i, j]`` is the number of examples of true class ``i`` predicted as ``j``.

    :param logits_or_pred: logits ``[N, K]`` (argmax is taken) or integer predictions ``[N]``.
    :param labels: integer true classes ``[N]``.
    :param num_classes: number of classes ``K``.
    :output: ``torch.int64`` tensor ``[K, K]`` (rows: true class, columns: predicted class) on the
        input's device; it sums to ``N``.
    :raises ValueError: shape mismatch, or labels/predictions outside ``[0, K)``.
    """
    pred, lab = _pred_and_labels(logits_or_pred, labels)
    _check_classes(lab, num_classes, "labels")
    _check_classes(pred, num_classes, "predictions")
    flat = torch.bincount(lab * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)
