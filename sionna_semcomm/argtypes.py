"""argparse value types shared by the command-line tools: clear messages for bad numbers."""

from __future__ import annotations

import argparse
import math

__all__ = ["finite_float", "positive_int"]


def finite_float(what: str = "value"):
    """An argparse type accepting finite floats only; the error names ``what`` (e.g. ``"SNR"``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what} must be finite, got {text!r}")
        return value

    return parse


def positive_int(text: str) -> int:
    """An argparse type accepting integers >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
