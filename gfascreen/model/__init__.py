"""OP image -> Dmax: the saved ensemble (inference), the network, training, evaluation.

Importing this package loads nothing heavy; ``gfascreen.model.Ensemble`` (inference) and
``gfascreen.model.train_cv`` (training) are resolved on first use, so scoring never
imports training code.
"""

from importlib import import_module

_WHERE = {"Ensemble": "ensemble", "OPResNet": "network", "build_network": "network",
          "TrainConfig": "recipe", "train_cv": "training.train"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"gfascreen.model.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'gfascreen.model' has no attribute {name!r}")
