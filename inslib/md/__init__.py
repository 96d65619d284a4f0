"""Molecular dynamics: trajectories -> S(Q,E) (dynasor), quantum correction.

``trajectory`` (streamed scan: frames, fixed cell; window and Nyquist arithmetic),
``setting`` (each output's energy bins and resolution, from the harmonic route's templates),
``qpoints`` (commensurate q-points per |Q| bin), ``indirect`` (|Q| bins along TOSCA/VISION
banks), ``qpath`` (commensurate q-points along a path), ``sampling`` (the q-points of each
output and their checks), ``correlation`` (dynasor's coherent and incoherent S(q,w), weighted
by neutron scattering lengths), ``quantum`` (correction factors), ``spectrum`` (averages,
mirroring, resolution onto template bins), ``request`` (SimulateMDSQE's request and its
validation), ``run`` (MD here with ASE's EMT), ``harmonic`` (the same potential's phonopy force
constants), ``peaks`` (mode energies and widths per q) and ``simulate`` (SimulateMDSQE's run).
dynasor and ASE come with the ``md`` extra.
"""
