"""The force-constant parameter basis of force constants, cached on their content."""

from inslib.simulation.setup import read_force_constants, remember

_BASES: dict = {}


def basis_of(fcs, shells: int):
    """ParameterBasis of ForceConstants up to ``shells`` shells (cached on their digest)."""
    from inslib.phonons.parameters import ParameterBasis

    key = (fcs.digest(), int(shells))
    if key not in _BASES:
        remember(_BASES, key, ParameterBasis.from_force_constants(fcs, shells=int(shells)))
    return _BASES[key]


def reference_basis(force_constants: str, structure: str, shells: int):
    """ParameterBasis of a force-constants file up to ``shells`` shells (cached on content)."""
    return basis_of(read_force_constants(force_constants, structure), shells)
