"""Which settings an operator sees first, which are framework internals, which depend on another.

Why: the schema has ~50 training fields; a beamline operator changes a handful (epochs, batch
size, gridsize, photons, learning rate, refinement passes). Those go on top ("Basic"); the
Lightning internals (strategy, precision, logger, progress bar, workers, checkpoints) go into a
folded "Advanced" section; everything else stays in its schema group between the two.
"""
from __future__ import annotations

from typing import Any, Callable

BASIC_TITLE = "Basic — what is usually changed"
ADVANCED_TITLE = "Advanced — framework internals (rarely changed)"

BASIC_TRAINING: tuple[str, ...] = ("nepochs", "batch_size", "gridsize", "nphotons", "learning_rate", "n_groups")
# the refinement knobs sit right under the number of passes; they only act when it is > 0
BASIC_INFERENCE: tuple[str, ...] = ("refine_epochs", "refine_tolerance", "refine_noise_model", "refine_probe",
                                    "refine_probe_modes", "refine_positions", "n_groups")
ADVANCED: frozenset[str] = frozenset({
    "strategy", "precision", "logger_backend", "enable_progress_bar", "num_workers", "devices", "deterministic",
    "accum_steps", "enable_checkpointing", "checkpoint_save_top_k", "checkpoint_monitor_metric",
    "checkpoint_mode", "inference_batch_size", "debug",
})


def _positive(value: Any) -> bool:
    return bool(value) and value > 0


# field -> (the field it depends on, when it applies, what the greyed field says)
DEPENDS: dict[str, tuple[str, Callable[[Any], bool], str]] = {
    "refine_tolerance": ("refine_epochs", _positive, "used when refine_epochs > 0"),
    "refine_noise_model": ("refine_epochs", _positive, "used when refine_epochs > 0"),
    "refine_probe": ("refine_epochs", _positive, "used when refine_epochs > 0"),
    "refine_positions": ("refine_epochs", _positive, "used when refine_epochs > 0"),
    "refine_probe_modes": ("refine_probe", bool, "used when refine_probe is on"),
}
