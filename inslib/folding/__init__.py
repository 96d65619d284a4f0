"""Brillouin-zone folding, what FoldBrillouinZone runs.

``geometry`` (zone reduction, oriented segment images, the sparse voxel -> path-bin matrix) and
``run`` (streamed folding of a 4D volume, weights, outputs).
"""
