"""The force-constant parameter basis of a file, cached on the file's content."""

from inslib.simulation.setup import read_force_constants, remember

_BASES: dict = {}


def reference_basis(force_constants: str, structure: str, shells: int):
    """ParameterBasis of a force-constants file up to ``shells`` shells (cached on content)."""
    from inslib.phonons.parameters import ParameterBasis

    fcs = read_force_constants(force_constants, structure)
    key = (fcs.digest(), int(shells))
    if key not in _BASES:
        remember(_BASES, key, ParameterBasis.from_force_constants(fcs, shells=shells))
    return _BASES[key]
