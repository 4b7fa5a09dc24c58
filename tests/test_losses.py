"""Losses against hand-computed values, gradcheck, and the documented conventions.

Tensors here are a few elements (C ≤ 4, H·W ≤ 12) so values can be checked by hand
and float64 gradcheck stays instant on a shared 2-core CPU.
"""

from __future__ import annotations

import itertools

import pytest
import torch

import stlib
from stlib import StlibError
from stlib.losses import LossTerms, style_layer_loss, style_weight_factor

# The lecture's example: 3 feature maps (rows) of 4 positions each.
V = torch.tensor([[4.0, 0, 3, 1], [3, 0, 1, 2], [4, 5, 0, 3]])
V_GRAM = torch.tensor([[26.0, 17, 19], [17, 14, 18], [19, 18, 50]])


def naive_gram(features: torch.Tensor) -> torch.Tensor:
    """Raw Gram of (C, H, W) by explicit loops over positions, in float64."""
    f = features.double().reshape(features.shape[0], -1)
    c, k = f.shape
    g = torch.zeros(c, c, dtype=torch.float64)
    for i, j in itertools.product(range(c), range(c)):
        g[i, j] = sum(float(f[i, p]) * float(f[j, p]) for p in range(k))
    return g


# ---------------------------------------------------------------- Gram matrix


def test_gram_lecture_example_raw():
    assert torch.equal(stlib.gram_matrix(V, normalize=False), V_GRAM)
    assert torch.equal(stlib.gram_matrix(V, normalize="none"), V_GRAM)


def test_gram_lecture_example_normalised():
    # hw: ÷ K = 4 positions; chw: ÷ C·K = 3·4 = 12
    torch.testing.assert_close(stlib.gram_matrix(V, normalize="hw"), V_GRAM / 4)
    torch.testing.assert_close(stlib.gram_matrix(V, normalize="chw"), V_GRAM / 12)
    torch.testing.assert_close(stlib.gram_matrix(V, normalize=True), V_GRAM / 12)
    torch.testing.assert_close(stlib.gram_matrix(V), V_GRAM / 12)  # default is chw
    assert stlib.gram_matrix(V, normalize="hw")[2, 2].item() == pytest.approx(12.5)
    assert stlib.gram_matrix(V, normalize="chw")[0, 1].item() == pytest.approx(17 / 12)


def test_gram_of_feature_maps_matches_matrix_form():
    # the same V laid out as 3 maps of 2×2 pixels, with and without a batch dimension
    maps = V.reshape(3, 2, 2)
    assert torch.equal(stlib.gram_matrix(maps, normalize=False), V_GRAM)
    batched = stlib.gram_matrix(maps.unsqueeze(0), normalize=False)
    assert batched.shape == (1, 3, 3)
    assert torch.equal(batched[0], V_GRAM)
    # hw for (C, H, W) divides by H·W = 4, the same as K for the matrix
    torch.testing.assert_close(stlib.gram_matrix(maps, normalize="hw"), V_GRAM / 4)


def test_gram_batched_equals_per_item():
    torch.manual_seed(0)
    feats = torch.randn(3, 4, 3, 5)
    for norm in ("none", "hw", "chw"):
        batched = stlib.gram_matrix(feats, normalize=norm)
        assert batched.shape == (3, 4, 4)
        for b in range(3):
            torch.testing.assert_close(batched[b], stlib.gram_matrix(feats[b], normalize=norm))


def test_gram_matches_naive_loops():
    torch.manual_seed(1)
    feats = torch.randn(3, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(stlib.gram_matrix(feats, normalize="none"), naive_gram(feats))
    g = stlib.gram_matrix(feats, normalize="none")
    torch.testing.assert_close(g, g.T)  # symmetric


@pytest.mark.parametrize("bad", ["sum", "mean", "CHW", None])
def test_gram_unknown_normalisation(bad, one_line):
    with pytest.raises(StlibError) as err:
        stlib.gram_matrix(V, normalize=bad)
    assert "normalisation" in one_line(err.value)


@pytest.mark.parametrize("shape", [(4,), (1, 1, 2, 2, 2)])
def test_gram_bad_rank(shape, one_line):
    with pytest.raises(StlibError) as err:
        stlib.gram_matrix(torch.ones(shape))
    assert str(tuple(shape)) in one_line(err.value)


# ------------------------------------------------------------ content loss

F_ = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2)
P_ = torch.tensor([[[[1.0, 0.0], [0.0, 2.0]]]])  # differences 0, 2, 3, 2 → squares 0, 4, 9, 4


@pytest.mark.parametrize("reduction, expected", [("sum", 17.0), ("mean", 17.0 / 4), ("half_sum", 8.5)])
def test_content_loss_reductions(reduction, expected):
    assert stlib.content_loss(F_, P_, reduction=reduction).item() == pytest.approx(expected)


def test_content_loss_default_is_mean_and_docstring_example():
    assert stlib.content_loss(F_, P_).item() == pytest.approx(17.0 / 4)
    ones, zeros = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    assert stlib.content_loss(ones, zeros, reduction="half_sum").item() == pytest.approx(2.0)
    assert stlib.content_loss(F_, F_).item() == 0.0


def test_content_loss_errors(one_line):
    with pytest.raises(StlibError) as err:
        stlib.content_loss(F_, P_, reduction="max")
    assert "max" in one_line(err.value)
    with pytest.raises(StlibError) as err:
        stlib.content_loss(torch.ones(1, 2, 4, 4), torch.ones(1, 2, 8, 8))
    assert "(1, 2, 8, 8)" in one_line(err.value)


# ----------------------------------------------------------- total variation

# 1 image, 1 channel, 2×3:  [[0, 1, 3],
#                             [2, 2, 2]]
TV_IMAGE = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]]])
# along W: (1−0)² + (3−1)² + 0 + 0 = 5;  along H: (2−0)² + (2−1)² + (2−3)² = 6;  total 11


def test_total_variation_by_hand():
    assert stlib.total_variation(TV_IMAGE, reduction="sum").item() == pytest.approx(11.0)
    assert stlib.total_variation(TV_IMAGE).item() == pytest.approx(11.0 / 6)  # ÷ numel = 6


def test_total_variation_properties(one_line):
    assert stlib.total_variation(torch.full((1, 3, 5, 4), 0.7)).item() == 0.0
    # the mean reduction does not grow with the image: a tiled stripe pattern gives the same value
    stripes = torch.tensor([0.0, 1.0]).repeat(8).view(1, 1, 1, 16).expand(1, 3, 16, 16)
    big = stlib.total_variation(stripes)
    small = stlib.total_variation(stripes[..., :8, :8])
    assert big.item() == pytest.approx(small.item(), rel=0.1)
    with pytest.raises(StlibError) as err:
        stlib.total_variation(TV_IMAGE, reduction="half_sum")
    assert "half_sum" in one_line(err.value)


# ------------------------------------------------------------- style losses


@pytest.mark.parametrize("n, m", [(3, 4), (64, 1024), (512, 16)])
def test_style_weight_factor_conventions(n, m):
    assert style_weight_factor("sum", n, m) == 1.0
    assert style_weight_factor("paper", n, m) == pytest.approx(1 / (4 * n**2 * m**2))
    assert style_weight_factor("udacity", n, m) == pytest.approx(1 / (n**3 * m))
    assert style_weight_factor("mean", n, m) == pytest.approx(1 / (n**4 * m**2))
    # "mean" vs "paper": (1/N⁴M²) / (1/4N²M²) = 4/N²
    ratio = style_weight_factor("mean", n, m) / style_weight_factor("paper", n, m)
    assert ratio == pytest.approx(4 / n**2)


def test_style_weight_factor_unknown(one_line):
    with pytest.raises(StlibError) as err:
        style_weight_factor("gatys", 3, 4)
    assert "gatys" in one_line(err.value)


def _style_case():
    torch.manual_seed(2)
    feats = torch.randn(1, 3, 2, 3, dtype=torch.float64)  # N = 3, M = 6
    target_feats = torch.randn(1, 3, 2, 3, dtype=torch.float64)
    return feats, target_feats


def test_style_layer_loss_sum_is_raw_squared_gram_difference():
    feats, target_feats = _style_case()
    g, a = naive_gram(feats[0]), naive_gram(target_feats[0])
    expected = float(((g - a) ** 2).sum())
    target = stlib.gram_matrix(target_feats, normalize="chw")
    assert style_layer_loss(feats, target, convention="sum").item() == pytest.approx(expected, rel=1e-10)


def test_style_layer_loss_conventions_follow_the_table():
    feats, target_feats = _style_case()
    n, m = 3, 6
    g, a = naive_gram(feats[0]), naive_gram(target_feats[0])
    target = stlib.gram_matrix(target_feats, normalize="chw")
    expected = {
        "paper": float(((g - a) ** 2).sum()) / (4 * n**2 * m**2),  # Gatys eq. 4
        "udacity": float(((g - a) ** 2).mean()) / (n * m),
        "mean": float(((g / (n * m) - a / (n * m)) ** 2).mean()),  # PyTorch tutorial
        "sum": float(((g - a) ** 2).sum()),
    }
    got = {c: style_layer_loss(feats, target, convention=c).item() for c in expected}
    for convention, value in expected.items():
        assert got[convention] == pytest.approx(value, rel=1e-10), convention
    # converting a weight with style_weight_factor keeps w·E_l unchanged
    for old, new in itertools.permutations(expected, 2):
        w_new = style_weight_factor(old, n, m) / style_weight_factor(new, n, m)
        assert w_new * got[new] == pytest.approx(got[old], rel=1e-9)


def test_style_layer_loss_zero_at_target_and_batch_mean():
    feats, target_feats = _style_case()
    assert style_layer_loss(feats, stlib.gram_matrix(feats)).item() == pytest.approx(0.0, abs=1e-20)
    # a batch of two identical items has the same loss as one (mean over the batch)
    target = stlib.gram_matrix(target_feats)
    one = style_layer_loss(feats, target)
    two = style_layer_loss(feats.repeat(2, 1, 1, 1), target)
    assert two.item() == pytest.approx(one.item(), rel=1e-12)


def test_style_layer_loss_shape_mismatch(one_line):
    with pytest.raises(StlibError) as err:
        style_layer_loss(torch.ones(1, 3, 2, 2), torch.ones(1, 4, 4))
    assert "3 channels" in one_line(err.value)


def test_style_loss_weighted_sum_and_default_weights(one_line):
    torch.manual_seed(3)
    feats = {"a": torch.randn(1, 2, 3, 3), "b": torch.randn(1, 4, 2, 2)}
    targets = {k: stlib.gram_matrix(torch.randn_like(v)) for k, v in feats.items()}
    e = {k: style_layer_loss(feats[k], targets[k]).item() for k in feats}
    assert stlib.style_loss(feats, targets).item() == pytest.approx((e["a"] + e["b"]) / 2, rel=1e-6)
    weighted = stlib.style_loss(feats, targets, {"a": 2.0, "b": 0.5}, convention="paper")
    assert weighted.item() == pytest.approx(2 * e["a"] + 0.5 * e["b"], rel=1e-6)
    only_a = stlib.style_loss(feats, targets, {"a": 1.0})
    assert only_a.item() == pytest.approx(e["a"], rel=1e-6)
    with pytest.raises(StlibError) as err:
        stlib.style_loss(feats, targets, {"c": 1.0})
    assert "c" in one_line(err.value)
    with pytest.raises(StlibError):
        stlib.style_loss(feats, {})


# --------------------------------------------------------------- total loss


def test_total_loss_reports_terms_and_weighted_total():
    c = torch.tensor(2.0, requires_grad=True)
    s = torch.tensor(3.0, requires_grad=True)
    t = torch.tensor(5.0, requires_grad=True)
    terms = stlib.total_loss(c, s, t, content_weight=0.5, style_weight=10.0, tv_weight=0.1)
    assert isinstance(terms, LossTerms)
    assert terms.total.item() == pytest.approx(0.5 * 2 + 10 * 3 + 0.1 * 5)
    assert terms.items() == pytest.approx({"total": 31.5, "content": 2.0, "style": 3.0, "tv": 5.0})
    assert all(isinstance(v, float) for v in terms.items().values())
    # the total carries gradients (α, β, γ); the reported terms are detached
    terms.total.backward()
    assert (c.grad.item(), s.grad.item(), t.grad.item()) == pytest.approx((0.5, 10.0, 0.1))
    assert not terms.content.requires_grad and not terms.style.requires_grad


def test_total_loss_defaults_and_plain_numbers():
    terms = stlib.total_loss(1.5, 4.0)
    assert terms.items() == pytest.approx({"total": 5.5, "content": 1.5, "style": 4.0, "tv": 0.0})
    assert stlib.total_loss(1.0, 1.0, 7.0).total.item() == pytest.approx(2.0)  # tv_weight 0 by default


# ------------------------------------------------------------------ gradients


def _rand64(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("reduction", ["mean", "sum", "half_sum"])
def test_gradcheck_content_loss(reduction):
    f = _rand64(1, 2, 3, 3).requires_grad_()
    p = _rand64(1, 2, 3, 3, seed=1)
    assert torch.autograd.gradcheck(lambda x: stlib.content_loss(x, p, reduction=reduction), (f,))


@pytest.mark.parametrize("normalize", ["none", "hw", "chw"])
def test_gradcheck_gram_matrix(normalize):
    f = _rand64(2, 3, 2, 2).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: stlib.gram_matrix(x, normalize=normalize), (f,))


@pytest.mark.parametrize("convention", ["paper", "udacity", "mean", "sum"])
def test_gradcheck_style_layer_loss(convention):
    f = _rand64(1, 3, 2, 2).requires_grad_()
    a = stlib.gram_matrix(_rand64(1, 3, 2, 2, seed=1)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, g: style_layer_loss(x, g, convention=convention), (f, a))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradcheck_total_variation(reduction):
    img = _rand64(1, 3, 4, 5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: stlib.total_variation(x, reduction=reduction), (img,))


def test_gradient_of_content_loss_by_hand():
    # d/dF ½ Σ (F − P)² = F − P
    f = F_.clone().requires_grad_()
    stlib.content_loss(f, P_, reduction="half_sum").backward()
    assert torch.equal(f.grad, F_ - P_)


# ------------------------------------------------------- inputs as variables


def test_inputs_as_variables_lecture_example():
    # lecture: x = ones(2, 2), z = (Σx)² → dz/dx = 2·Σx = 8 everywhere; SGD lr 0.1 → 1 − 0.8 = 0.2
    x = torch.ones(2, 2, requires_grad=True)
    z = x.sum() ** 2
    z.backward()
    assert torch.equal(x.grad, torch.full((2, 2), 8.0))
    opt = torch.optim.SGD([x], lr=0.1)
    opt.step()
    torch.testing.assert_close(x.detach(), torch.full((2, 2), 0.2))
