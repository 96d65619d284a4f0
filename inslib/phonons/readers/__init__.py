"""Force-constant file readers, one module per source.

``phonopy`` (phonopy YAML with FORCE_SETS / FORCE_CONSTANTS / BORN beside it, bare
FORCE_CONSTANTS) and ``euphonic`` (CASTEP .castep_bin, euphonic JSON). Each reader returns the
fields of :class:`inslib.phonons.force_constants.ForceConstants` as a dict;
:func:`inslib.phonons.force_constants.load_force_constants` picks the reader.
"""
