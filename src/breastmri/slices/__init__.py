"""Slice datasets: resize/pad and its inverse, normalisation, slice selection, HDF5 writer, Dataset."""
