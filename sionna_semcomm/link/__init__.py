"""The OFDM link simulator (transmitter, block-fading channels, perturbation hook, receiver) and its CLI.

``python -m sionna_semcomm.link --help`` runs the command; the blocks are
:class:`~sionna_semcomm.link.ofdm.OFDMLink`, :class:`~sionna_semcomm.link.config.LinkConfig`,
:class:`~sionna_semcomm.link.channels.ChannelSpec` and :class:`~sionna_semcomm.link.bits.BitLink`.
"""

from ..sionna_import import import_sionna

import_sionna()  # before any link module imports from sionna.phy: without its unused import-time costs
