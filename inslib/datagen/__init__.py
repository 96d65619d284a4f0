"""Training-data engine: seeded, resumable, chunked HDF5 shards of simulated spectra."""
