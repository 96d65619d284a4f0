"""Molecular dynamics: trajectories -> S(Q,E) (dynasor), quantum correction."""
