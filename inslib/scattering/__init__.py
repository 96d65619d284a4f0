"""Neutron scattering from phonons: thermal factors, structure factors, DOS, powder, resolution."""
