"""Simulations as the algorithms run them: requests, the cached model set-up, and the runs.

``errors`` (SimulationError and the one message helper), ``requests`` (the request vocabulary
and its validation, once per request), ``setup`` (model, Debye-Waller and DOS from force
constants in memory, cached), ``powder`` (S(|Q|,E) maps), ``indirect`` (TOSCA/VISION S(E)),
``grid`` (single-crystal grids), ``qpath`` (q-path parsing and sampling) and
``single_crystal`` (SimulateSingleCrystalSQE's run: grids or q-paths).
"""
