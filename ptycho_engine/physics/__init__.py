"""Shared physics: forward model, sub-pixel shifts, group merge/split (all differentiable torch).

The simulator and the network import the SAME functions from here, so simulated data and the
model's predicted diffraction follow one convention (see the module docstrings).
"""
