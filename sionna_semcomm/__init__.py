"""sionna-semcomm: physical-layer simulation toolkit for robust semantic communications.

One differentiable OFDM link simulator built from Sionna 2 (PyTorch) blocks carries the learned
semantic system (MobileSC), its attacks (SemAdv and baselines) and defences (SemMixed), the
conventional JPEG2000 + 5G LDPC + QAM links, and plain bits for checks against theory.

Importing the package has no side effects: it does not import Sionna, pick a device or seed anything.
"""

__version__ = "0.1.0"
