"""inslib: phonon prediction, simulation and inversion for inelastic neutron scattering.

The core library has no Mantid dependency. The Mantid algorithms in ``algorithms/`` call
into it; without Mantid they run on the built-in host in :mod:`inslib.runtime`.
"""

from pathlib import Path

__version__ = "0.1.0"

#: Repository root (editable install): holds algorithms/, instruments/ and models/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
