"""Lattice dynamics: force constants in, the torch forward model (modes, dipole sums)."""
