"""Drop-in integrations for training frameworks, one module per framework.

Import the one you use; this package imports no framework itself::

    from nbtrack.integrations.lightning import NbtrackLogger      # PyTorch Lightning
    from nbtrack.integrations.keras import NbtrackCallback        # Keras 3
    from nbtrack.integrations.huggingface import NbtrackCallback  # transformers.Trainer
    from nbtrack.integrations.torch import watch                  # plain PyTorch
    from nbtrack.integrations.sklearn import log_estimator        # scikit-learn
    from nbtrack.integrations.optuna import callback, track       # Optuna studies

Every integration follows the same rules: inside a ``%%track`` cell or after
``nbtrack.init`` it logs to that run and leaves finishing it to its owner; otherwise
it starts its own run and finishes it when training ends. A failure inside nbtrack
warns once and never stops training.
"""

from __future__ import annotations

__all__: list[str] = []
