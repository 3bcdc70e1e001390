"""The argument types of every command line (``link``, ``train``, ``attack``, ``defense``, ``reproduce``,
``report``, ``bench``): one check and one wording per kind of value.

Every command builds its parser with :class:`ArgumentParser` (negative numbers such as ``-1e9`` or
``-5e-1`` are values, not options) and takes its values through the types below, so a bad value stops
the command before any compute with ``error: argument --OPTION: ...`` naming the option and the problem.

SNR and PSR in dB must lie within ``±DB_LIMIT`` (:mod:`sionna_semcomm.link.bounds`, where the Python API
checks the same range).
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Callable, Iterable

from .link.bounds import DB_LIMIT

__all__ = ["ArgumentParser", "DB_LIMIT", "finite_float", "db_value", "snr_db", "psr_db", "positive_int",
           "nonnegative_int", "seed", "class_index", "fraction", "duration_seconds", "known_name", "input_file",
           "file_or_name", "input_dir", "output_file", "figure_file", "output_dir"]

#: largest run seed (the random streams are seeded with 63-bit integers)
MAX_SEED = 2**63 - 1

# any number argparse should read as a value: -5, -5.0, -.5, -5e-1, -1E9, -inf, -nan
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that reads every negative number (``-1e9``, ``-5e-1``, ``-inf``) as a value.

    Plain argparse only recognises ``-5`` and ``-0.5``; ``--snr-db -5e-1`` then fails with "expected at least
    one argument". Sub-parsers (``add_subparsers``) are of this class too.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER


def _number(text: str, kind=float):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None


def finite_float(what: str = "value", lo: float | None = None, hi: float | None = None):
    """A type for finite floats (within ``[lo, hi]`` when given); the error names ``what`` (e.g. ``"SNR"``)."""

    def parse(text: str) -> float:
        value = _number(text)
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what} must be finite, got {text!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{what} must lie in [{lo:g}, {hi:g}], got {text}")
        return value

    return parse


def db_value(what: str):
    """A type for a power ratio in dB (SNR, PSR): finite and within ``±DB_LIMIT``."""

    def parse(text: str) -> float:
        value = finite_float(what)(text)
        if abs(value) > DB_LIMIT:
            raise argparse.ArgumentTypeError(
                f"{what} must lie in [-{DB_LIMIT:g}, {DB_LIMIT:g}] dB, got {text} (10^({text}/10) is no power ratio "
                "float32 arithmetic can carry)")
        return value

    return parse


snr_db = db_value("SNR")
psr_db = db_value("PSR")


def _int_at_least(low: int, what: str = "must be"):
    def parse(text: str) -> int:
        value = _number(text, int)
        if value < low:
            raise argparse.ArgumentTypeError(f"{what} >= {low}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1)
positive_int.__doc__ = "An integer >= 1."
nonnegative_int = _int_at_least(0)
nonnegative_int.__doc__ = "An integer >= 0."
class_index = _int_at_least(0, "a class index must be")
class_index.__doc__ = "A class index (an integer >= 0; the data set's class count is checked where it is known)."


def seed(text: str) -> int:
    """A run seed: an integer in ``[0, 2**63 - 1]``."""
    value = _number(text, int)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must be an integer in [0, 2**63 - 1], got {value}")
    return value


fraction = finite_float("a fraction", 0.0, 1.0)


def duration_seconds(text: str) -> float:
    """A positive duration: seconds (``"5400"``) or with a unit (``"90m"``, ``"1.5h"``, ``"30s"``)."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    number, scale = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1.0)
    try:
        value = float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (seconds, or a number with s, m or h)") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"duration must be positive and finite, got {text!r}")
    return value


def known_name(what: str, names: Callable[[], Iterable[str]] | Iterable[str]):
    """A type for a name out of a registry (``names``: the names, or a function returning them, called only
    when the option is given); the error lists the known names."""

    def parse(text: str) -> str:
        known = sorted(names() if callable(names) else names)
        if text not in known:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; known: {', '.join(known)}")
        return text

    return parse


def input_file(text: str) -> str:
    """An existing regular file."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return text


def file_or_name(names: Iterable[str]):
    """A type for an existing file or one of ``names`` (e.g. ``semmixed``: weights shipped with the package)."""
    names = tuple(names)

    def parse(text: str) -> str:
        if text in names:
            return text
        try:
            return input_file(text)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"{e} (nor one of: {', '.join(names)})") from None

    return parse


def input_dir(text: str) -> str:
    """An existing folder."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    return text


def _output(check):
    def parse(text: str) -> str:
        from .outputs import OutputError

        try:
            check(text)
        except OutputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text

    return parse


def _output_file(text: str) -> None:
    from .outputs import check_output_file

    check_output_file(text)


def _figure_file(text: str) -> None:
    from .outputs import check_figure_file

    check_figure_file(text)


def _output_dir(text: str) -> None:
    from .outputs import check_output_dir

    check_output_dir(text)


output_file = _output(_output_file)
output_file.__doc__ = "A file the command can create or replace (see :func:`sionna_semcomm.outputs.check_output_file`)."
figure_file = _output(_figure_file)
figure_file.__doc__ = "An output file with an extension matplotlib can write (png, pdf, svg, ...)."
output_dir = _output(_output_dir)
output_dir.__doc__ = "A folder the command can create or write into."
