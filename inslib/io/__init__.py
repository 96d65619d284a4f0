"""Reading and writing Mantid-compatible NeXus files and measured data (h5py, no Mantid)."""
