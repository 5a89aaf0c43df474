"""The TF model behind the engine's shared inference and preview code.

``inference.reconstruct.predict_and_stitch`` and the training previews batch the groups with the
shared data path and call ``model.predict_object(x, rel)`` on torch CPU tensors. This facade
answers that call with the Keras network (a compiled function), so batching, stitching, phase
synchronisation and refinement stay the one numpy/torch implementation.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterator

import numpy as np

from .runtime import import_tf


class TorchFacade:
    """Duck-types the parts of ``PtychoPINN`` the inference code uses; the maths runs in TF."""

    backend = "tensorflow"

    def __init__(self, tf_model: Any) -> None:
        import torch

        tf = import_tf()
        self.tf_model = tf_model
        self.N, self.gridsize, self.arch = tf_model.N, tf_model.gridsize, tf_model.arch
        self.training = False
        self._predict = tf.function(lambda x, rel, M: tf_model.predict_object(x, rel, M=M), reduce_retracing=True)
        if tf_model.unrolled:
            # ``inference.reconstruct.scan_probe_in_physics`` gives the updates the probe of the scan
            # being reconstructed by writing ``probe_ri`` of a model whose generator has ``refine``;
            # that write lands in this torch copy and is pushed to TF before the next batch
            self.generator = SimpleNamespace(refine=True)
            self.probe_ri = torch.from_numpy(tf_model.probe_ri.numpy().copy())
            self._pushed = self.probe_ri.clone()

    def eval(self) -> "TorchFacade":
        self.training = False
        return self

    def train(self, mode: bool = True) -> "TorchFacade":
        self.training = bool(mode)
        return self

    def parameters(self) -> Iterator[Any]:
        import torch

        yield torch.zeros(0)  # the inputs stay on the CPU; TF places the work itself

    @property
    def probe(self) -> Any:
        import torch

        return torch.from_numpy(self.tf_model.probe().numpy())

    def predict_object(self, x: Any, rel: Any = None, probe: Any = None) -> Any:
        import torch

        if probe is not None:
            raise ValueError("per-item probes are not supported on the TensorFlow backend")
        model = self.tf_model
        if model.unrolled and not torch.equal(self.probe_ri, self._pushed):
            model.probe_ri.assign(self.probe_ri.numpy())
            self._pushed = self.probe_ri.clone()
        rel_np = np.zeros(tuple(x.shape[:2]) + (2,), np.float32) if rel is None else \
            np.ascontiguousarray(rel.detach().cpu().numpy(), dtype=np.float32)
        M = model.canvas_for(rel_np)
        M = M if M == model.N else -(-M // 8) * 8  # few distinct sizes: few traces (any M >= needed is exact)
        obj = self._predict(np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32), rel_np, M)
        return torch.from_numpy(obj.numpy())


def facade_for(pinn: Any) -> TorchFacade:
    """A loaded PyTorch ``PtychoPINN`` (any archive) running on TensorFlow."""
    from .model import TFPinn

    return TorchFacade(TFPinn.from_torch(pinn))
