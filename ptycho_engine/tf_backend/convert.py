"""Weights between the canonical (PyTorch state-dict) layout and the Keras model, both ways.

Convolution kernels are OIHW in PyTorch and HWIO in Keras (the only layout change; biases, the
probe and the gain are copied). Keras layer names are the PyTorch module paths (see
:func:`.network.keras_name`), so the mapping is by name and checked to be complete: a kernel
left unmapped would silently keep random values (the reference's bug §8.22).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .network import keras_name

PREFIX = "generator."


def torch_kernel_to_keras(w: np.ndarray) -> np.ndarray:
    """OIHW -> HWIO."""
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))


def keras_kernel_to_torch(k: np.ndarray) -> np.ndarray:
    """HWIO -> OIHW."""
    return np.ascontiguousarray(np.transpose(k, (3, 2, 0, 1)))


def conv_paths(state_keys: Any) -> list[str]:
    """PyTorch module paths of the generator's convolutions (from state-dict keys)."""
    return [k[len(PREFIX):-len(".weight")] for k in state_keys if k.startswith(PREFIX) and k.endswith(".weight")]


def _conv_layers(model: Any) -> dict[str, Any]:
    return {layer.name: layer for layer in model.generator.layers if hasattr(layer, "kernel")}


def load_torch_state(model: Any, state: Mapping[str, np.ndarray]) -> None:
    """Give the TF model the weights of a PyTorch state dict (numpy arrays)."""
    layers = _conv_layers(model)
    paths = conv_paths(state)
    wanted = {keras_name(p): p for p in paths}
    if set(wanted) != set(layers):
        raise ValueError(f"weights do not match the Keras network: missing in Keras "
                         f"{sorted(set(wanted) - set(layers))[:5]}, unmapped Keras layers "
                         f"{sorted(set(layers) - set(wanted))[:5]}")
    for name, path in wanted.items():
        kernel = torch_kernel_to_keras(np.asarray(state[f"{PREFIX}{path}.weight"], np.float32))
        if tuple(layers[name].kernel.shape) != kernel.shape:
            raise ValueError(f"{path}: kernel {kernel.shape} does not fit Keras {tuple(layers[name].kernel.shape)}")
        layers[name].kernel.assign(kernel)
        layers[name].bias.assign(np.asarray(state[f"{PREFIX}{path}.bias"], np.float32))
    model.torch_paths = wanted
    model.probe_ri.assign(np.asarray(state["probe_ri"], np.float32))
    model.log_gain.assign(np.float32(state["log_gain"]))
    if getattr(model, "step_sizes", None) is not None:
        model.step_sizes.assign(np.asarray(state[f"{PREFIX}step_sizes"], np.float32))
    model.input_scale = float(state["input_scale"])
    model.counts_scale = float(state["counts_scale"])


def torch_state(model: Any) -> dict[str, np.ndarray]:
    """The TF model's weights as a PyTorch state dict of numpy arrays (canonical layout)."""
    state: dict[str, np.ndarray] = {}
    paths = model.torch_paths  # set when the model got its first weights (load_torch_state)
    for name, layer in _conv_layers(model).items():
        path = paths[name]
        state[f"{PREFIX}{path}.weight"] = keras_kernel_to_torch(layer.kernel.numpy())
        state[f"{PREFIX}{path}.bias"] = np.asarray(layer.bias.numpy())
    state["probe_ri"] = model.probe_ri.numpy()
    state["log_gain"] = np.asarray(model.log_gain.numpy(), np.float32)
    if getattr(model, "step_sizes", None) is not None:
        state[f"{PREFIX}step_sizes"] = model.step_sizes.numpy()
    state["input_scale"] = np.asarray(model.input_scale, np.float32)
    state["counts_scale"] = np.asarray(model.counts_scale, np.float32)
    return state


def to_torch(model: Any, pinn: Any) -> Any:
    """Copy the TF model's weights into the PyTorch ``pinn`` (same architecture); returns it."""
    import torch

    current = pinn.state_dict()
    state = torch_state(model)
    missing = sorted(set(current) - set(state))
    if missing:
        raise ValueError(f"the Keras model has no weights for {missing[:5]}")
    pinn.load_state_dict({k: torch.as_tensor(state[k]).to(current[k].dtype).reshape(current[k].shape)
                          for k in current}, strict=True)
    return pinn
