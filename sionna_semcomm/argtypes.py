"""argparse value types shared by the command-line tools: clear messages for bad numbers."""

from __future__ import annotations

import argparse
import math

__all__ = ["finite_float", "positive_int", "duration_seconds"]


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


def duration_seconds(text: str) -> float:
    """An argparse type for a positive duration: seconds (``"5400"``) or with a unit (``"90m"``, ``"1.5h"``, ``"30s"``)."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    number, scale = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1.0)
    try:
        value = float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (seconds, or a number with s, m or h)") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"duration must be positive and finite, got {text!r}")
    return value
