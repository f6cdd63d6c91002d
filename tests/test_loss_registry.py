"""Every registered loss: builds with its defaults, finite on random input, gradcheck, finite on degenerate maps."""
import pytest
import torch
from torch import nn

from lab.heatmaps import DECODERS, soft_argmax
from lab.losses import LOSSES, build_loss, get_loss_spec

D = torch.float64
NAMES = sorted(LOSSES)
SIZE = (7, 8)  # (h, w) small maps for gradcheck


def test_expected_losses_are_registered():
    assert {"heatmap_mse", "l1", "l2", "smooth_l1", "wing", "awing", "laplace_kl", "gaussian_kl"} <= set(LOSSES)


def test_unknown_loss_names_the_valid_ones():
    with pytest.raises(KeyError, match="laplace_kl"):
        get_loss_spec("no_such_loss")


def _inputs(name: str, seed: int = 0, b: int = 2, k: int = 3):
    """(prediction input, target, visible) for the loss's input kind, float64, prediction requires grad."""
    g = torch.Generator().manual_seed(seed)
    h, w = SIZE
    target = torch.rand(b, k, 2, generator=g, dtype=D) * torch.tensor([w - 1, h - 1], dtype=D)
    visible = torch.rand(b, k, generator=g) > 0.3
    visible[0, 0] = True
    if get_loss_spec(name).input == "heatmap":
        pred = torch.randn(b, k, h, w, generator=g, dtype=D)
    else:
        pred = target + torch.randn(b, k, 2, generator=g, dtype=D) * 2.0
    return pred.requires_grad_(True), target, visible


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_consistent_and_builds_with_defaults(name):
    spec = get_loss_spec(name)
    assert spec.name == name and spec.input in ("heatmap", "coords") and spec.decoder in DECODERS
    assert spec.paper and spec.equation
    assert isinstance(build_loss(name), nn.Module)
    assert isinstance(spec.build(**spec.defaults), nn.Module)


@pytest.mark.parametrize("name", NAMES)
def test_random_input_gives_finite_scalar_with_finite_grads(name):
    pred, target, visible = _inputs(name)
    loss = build_loss(name)(pred.float().detach().requires_grad_(True), target.float(), visible)
    assert loss.dim() == 0 and torch.isfinite(loss)
    pred, target, visible = _inputs(name)
    out = build_loss(name)(pred, target, visible)
    assert out.dtype == D and torch.isfinite(out)
    out.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name):
    pred, target, visible = _inputs(name, seed=1, b=1, k=2)
    loss = build_loss(name)
    # fast_mode checks a random directional derivative (v^T J u) against finite differences: one solve per side,
    # so iterative losses (Sinkhorn) stay cheap; the hand-value tests pin the formulas themselves.
    assert torch.autograd.gradcheck(lambda p: loss(p, target, visible), (pred,), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("name", NAMES)
def test_invisible_landmarks_change_nothing(name):
    pred, target, visible = _inputs(name, seed=2)
    visible[1, 1] = False
    loss = build_loss(name)
    base = loss(pred, target, visible).item()
    moved = pred.detach().clone()
    moved[1, 1] = moved[1, 1] * 3.0 + 5.0
    assert loss(moved, target, visible).item() == pytest.approx(base, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_no_visible_point_gives_zero_with_grad(name):
    pred, target, visible = _inputs(name, seed=3)
    out = build_loss(name)(pred, target, torch.zeros_like(visible))
    assert out.item() == 0.0 and out.grad_fn is not None
    out.backward()
    assert torch.isfinite(pred.grad).all()


def _degenerate_maps() -> dict[str, torch.Tensor]:
    h, w = SIZE
    one_hot = torch.zeros(1, 2, h, w, dtype=D)
    one_hot[:, :, 3, 4] = 1.0
    return {"all_zero": torch.zeros(1, 2, h, w, dtype=D), "one_hot": one_hot, "spike": 1e3 * one_hot,
            "constant": torch.full((1, 2, h, w), 0.5, dtype=D), "negative": torch.full((1, 2, h, w), -2.0, dtype=D)}


@pytest.mark.parametrize("kind", sorted(_degenerate_maps()))
@pytest.mark.parametrize("name", NAMES)
def test_degenerate_maps_give_finite_loss_and_grads(name, kind):
    maps = _degenerate_maps()[kind].requires_grad_(True)
    # one landmark exactly on the hot pixel (zero error), one off it
    target = torch.tensor([[[4.0, 3.0], [1.3, 5.6]]], dtype=D)
    loss = build_loss(name)
    pred = maps if get_loss_spec(name).input == "heatmap" else soft_argmax(maps)
    out = loss(pred, target, None)
    assert torch.isfinite(out), f"{name} on {kind} map: {out}"
    out.backward()
    assert torch.isfinite(maps.grad).all(), f"{name} on {kind} map: non-finite gradient"
