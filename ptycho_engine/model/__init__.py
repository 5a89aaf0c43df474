"""The network (CNN generator), the physics-informed wrapper (PtychoPINN) and the losses."""
