"""Training: the recipe (:mod:`.recipe`, no torch), folds, the K-fold loop (:mod:`.train`),
label-free pre-training, updating a saved model with a lab's alloys, and packing a run into
a shipped model. Inference never imports this package."""
