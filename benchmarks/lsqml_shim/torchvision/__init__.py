"""Stand-in for torchvision, for Pty-chi only (benchmark extra; never imported by the engine).

Why: Pty-chi imports ``torchvision.transforms.GaussianBlur`` at import time, but only uses it
for random initial guesses; PyPI's torchvision does not load with the CPU torch 2.13 wheel.
"""
