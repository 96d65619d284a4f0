"""Inversion: force-constant parameters from measured spectra (objective, amortized, refine)."""
