"""The partner read as a local average (gfascreen/model/local_average.py)."""

from __future__ import annotations

import numpy as np
import torch

from gfascreen.model.local_average import average, neighbours


def test_neighbours_stay_in_the_system_and_average_a_linear_value_to_its_own():
    """A ternary has 6 neighbours and a binary 2, every one a composition of the same
    elements 1 at.% away (L1 2 at.%); the moves are symmetric, so the mean of a linear
    function over them is its value at the composition."""
    x = torch.zeros(3, 5, dtype=torch.float64)
    x[0, [0, 1, 2]] = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    x[1, [1, 4]] = torch.tensor([0.6, 0.4], dtype=torch.float64)
    x[2, [0, 3, 4]] = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    xs, owner = neighbours(x, 1.0)
    assert np.bincount(owner).tolist() == [7, 3, 7]
    assert torch.allclose(xs.sum(1), torch.ones(len(xs), dtype=torch.float64))
    for i in range(3):
        own = xs[torch.as_tensor(owner == i)]
        assert ((own > 0) == (x[i] > 0)).all()
        l1 = (own - x[i]).abs().sum(1)
        assert torch.allclose(l1[1:], torch.full_like(l1[1:], 0.02))
    w = np.array([1.0, -2.0, 3.0, 0.5, 4.0])
    assert np.allclose(average(xs.numpy() @ w, owner, 3), x.numpy() @ w)


def test_a_donor_thinner_than_the_step_gives_what_it_has():
    x = torch.tensor([[0.995, 0.005]], dtype=torch.float64)
    xs, _ = neighbours(x, 1.0)
    assert (xs >= 0).all() and sorted(xs[:, 1].tolist()) == [0.0, 0.005, 0.015]
