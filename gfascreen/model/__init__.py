"""OP image -> Dmax: the ResNet50 network, K-fold training, the ensemble, evaluation."""

from gfascreen.model.ensemble import Ensemble
from gfascreen.model.network import OPResNet, resnet50_op
from gfascreen.model.train import TrainConfig, train_cv

__all__ = ["Ensemble", "OPResNet", "TrainConfig", "resnet50_op", "train_cv"]
