"""Speed and memory measurements of Ptycho Studio (not tests). Run: ``python -m benchmarks.run``."""
