"""Training: one seeded, checkpointed, resumable loop, and feedback training built on it.

Modules: :mod:`~pcbench.training.loop` (the loop), :mod:`~pcbench.models.checkpoints`
(checkpoint files), :mod:`~pcbench.training.optimizers` (optimisers and presets),
:mod:`~pcbench.training.hyperparameters` (learned β, λ, α) and
:mod:`~pcbench.training.feedback` (``pcbench train-feedback``) with
:mod:`~pcbench.training.trained_entry` (the registry entry its result is saved under).
"""
