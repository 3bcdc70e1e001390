"""``python -m sionna_semcomm.link``: see :mod:`sionna_semcomm.link.cli`."""

from .cli import main

main()
