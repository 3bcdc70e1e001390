"""``python -m sionna_semcomm.reproduce {table3,table4,fig6,fig7,fig8,fig9,all}``: the paper's results, regenerated.

Each experiment (:mod:`.experiments`) trains what it needs (generators, defences) and evaluates it with the
toolkit's own commands through one :class:`~.pipeline.Pipeline`, whose steps are cached by configuration
and seed (:mod:`.cache`) and resume when interrupted. Output in ``--out-dir`` (default
``runs/reproduce``): ``<experiment>.md`` / ``.json``, PNG figures, and ``REPORT.md`` with our numbers
beside the paper's and a verdict on each of its claims.
"""

from .cache import Cache, config_key
from .pipeline import FULL, QUICK, Pipeline, Preset

__all__ = ["Cache", "config_key", "Pipeline", "Preset", "FULL", "QUICK"]
