"""Synthetic ptychography: objects, probes, scans and `simulate_scan` (uses the shared physics).

    from ptycho_engine.simulate import simulate_scan
    scan = simulate_scan("lines", "disk", "fermat", N=64, n_positions=600, object_size=240,
                         nphotons=1e6, seed=7)          # -> data.contract.ScanData
"""
from .simulator import forward_patterns, simulate_scan, simulation_metadata

__all__ = ["simulate_scan", "simulation_metadata", "forward_patterns"]
