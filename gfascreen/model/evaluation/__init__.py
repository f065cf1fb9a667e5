"""Evaluation: metrics, screening metrics, baselines on identical folds, run evaluation and
the calibration measurement that chooses, fits and attaches a model's calibration.
Inference never imports this package."""
