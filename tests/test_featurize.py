import numpy as np
import pandas as pd
import pytest
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize import OPImageFeaturizer, Vocabulary

VOCAB = Vocabulary.from_elements(["Zr", "Al", "Co", "La", "Cu"])


def test_vocabulary_is_ordered_by_atomic_number():
    assert VOCAB.elements == ("Al", "Co", "Cu", "Zr", "La")


def test_mendeleev_order_differs_and_is_chemical():
    v = Vocabulary.from_elements(["Zr", "Al", "Co", "La", "Cu"], order="mendeleev")
    assert set(v.elements) == set(VOCAB.elements)
    assert v.elements != VOCAB.elements
    assert v.elements.index("La") < v.elements.index("Zr")  # La (group 3) before Zr (4)


def test_vocabulary_from_table_applies_min_count():
    t = pd.DataFrame({"composition": ["a", "b", "c"], "Al": [50, 50, 0.0],
                      "Co": [50, 0, 0.0], "Zr": [0, 50, 100.0]})
    assert Vocabulary.from_table(t, min_count=2).elements == ("Al", "Zr")


def test_op_image_maths():
    f = OPImageFeaturizer(VOCAB)
    img = f.transform(["Al25Co20La55", "Zr55Co29Al16"])
    assert img.shape == (2, 1, 5, 5)
    x = f.fractions(["Al25Co20La55"])[0].numpy().astype(float)
    np.testing.assert_allclose(img[0, 0].numpy(), np.outer(x, x), atol=1e-7)
    for im in img[:, 0]:
        assert torch.allclose(im, im.T)
        assert im.sum().item() == pytest.approx(1.0, abs=1e-6)
    xs = f.fractions(["Al25Co20La55", "Zr55Co29Al16"])
    traces = img[:, 0].diagonal(dim1=1, dim2=2).sum(1)
    assert torch.allclose(traces, (xs**2).sum(1))


def test_vocabulary_order_is_respected():
    f = OPImageFeaturizer(VOCAB)
    img = f.transform({"Al": 100})
    assert img[0, 0, 0, 0] == 1.0 and img.sum() == 1.0
    img = f.transform({"La": 100})
    assert img[0, 0, 4, 4] == 1.0


def test_inputs_agree_strings_dicts_tensors():
    f = OPImageFeaturizer(VOCAB)
    a = f.transform("Al25Co20La55")
    b = f.transform({"La": 55, "Al": 25, "Co": 20})
    c = f.transform(torch.tensor([[0.25, 0.20, 0.0, 0.0, 0.55]]))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)


def test_channels_and_coords():
    f = OPImageFeaturizer(VOCAB, channels=3, coords=True)
    img = f.transform("Al50Zr50")
    assert img.shape == (1, 5, 5, 5) and f.out_channels == 5
    assert torch.equal(img[0, 0], img[0, 2])
    assert img[0, 3, 4, 0] == 1.0 and img[0, 4, 0, 4] == 1.0


def test_pair_matrices_and_physics_channels():
    from gfascreen.featurize.pairs import pair_matrix, parse_pairs

    els = VOCAB.elements
    for name in ("hmix", "size", "chi"):
        f = pair_matrix(name, els)
        assert f.shape == (5, 5) and np.allclose(f, f.T) and np.all(np.diag(f) == 0)
        assert np.abs(f).max() == pytest.approx(1.0)
    h = pair_matrix("hmix", els)
    i, j = els.index("Al"), els.index("Zr")
    assert h[i, j] < 0  # Al-Zr mixes exothermically (-44 kJ/mol, Takeuchi & Inoue)
    feat = OPImageFeaturizer(VOCAB, pairs={"hmix": h, "size": pair_matrix("size", els)})
    img = feat.transform("Al50Zr50")
    assert img.shape == (1, 3, 5, 5) and feat.out_channels == 3
    assert img[0, 1, i, j].item() == pytest.approx(0.25 * h[i, j], abs=1e-6)
    assert torch.all(img[0, 1].diagonal() == 0)
    assert parse_pairs("hmix, chi") == ["hmix", "chi"] and parse_pairs("") == []
    with pytest.raises(GfaError, match="unknown pair quantity"):
        parse_pairs("hmix,vec")
    with pytest.raises(GfaError, match="5x5"):
        OPImageFeaturizer(VOCAB, pairs={"hmix": np.zeros((4, 4))})


def test_unknown_element_is_named():
    with pytest.raises(GfaError, match="'Pd'"):
        OPImageFeaturizer(VOCAB).transform("Pd40Ni40P20")


@pytest.mark.parametrize("bad", [torch.zeros(2, 4), torch.tensor([[-1.0, 2, 0, 0, 0]]),
                                 torch.zeros(1, 5)])
def test_bad_tensors_rejected(bad):
    with pytest.raises(GfaError):
        OPImageFeaturizer(VOCAB).transform(bad)


def test_million_compositions_render_in_one_batch():
    """A million compositions in one call (the batched path; its speed is measured in
    scripts/benchmark.py, not asserted here)."""
    f = OPImageFeaturizer(VOCAB)
    x = torch.rand(1_000_000, 5)
    img = f.transform(x)
    assert img.shape == (1_000_000, 1, 5, 5)
    frac = x[123] / x[123].sum()
    assert torch.allclose(img[123, 0], torch.outer(frac, frac), atol=1e-6)
