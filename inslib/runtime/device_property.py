"""The Device property of the algorithms that run the torch forward model.

Uses only the Mantid API subset of :mod:`inslib.mantid_compat` and does not import torch, so
that loading the algorithms stays fast inside Mantid.
"""

from inslib.mantid_compat import StringListValidator
from inslib.phonons.model import DEVICES


def declare_device_property(algorithm) -> None:
    """Declare the Device property (Auto, CPU, GPU)."""
    algorithm.declareProperty(
        "Device", "Auto", StringListValidator(list(DEVICES)),
        doc="Where the phonon modes are computed: Auto (a CUDA GPU where torch sees one, else "
            "the CPU), CPU or GPU. Histogramming runs on the CPU either way.")
