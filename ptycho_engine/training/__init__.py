"""Lightning training: datasets of groups, the LightningModule, event callbacks, ``train_model``.

Import ``ptycho_engine.training.run.train_model`` (this package imports nothing heavy itself).
"""
