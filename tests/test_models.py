"""Models: shapes, RCN architecture pinned by a closed-form parameter count, config round trip, checked checkpoint
loading, dropout/noise only in training, and the exact fast-inference rewrite."""
from __future__ import annotations

import pytest
import torch
from torch import nn
import torch.nn.functional as F

from lab.models import (MODELS, build_discriminator, build_model, contract_violations, load_model_state,
                        model_from_state, model_summary, register_model)
from lab.models.fast import (RCNInference, default_modes, keep_freed_memory, optimize_for_inference, phase_major,
                             polyphase_weight, space_to_depth_weight, strided_stem_weight)

WIDTHS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
PAPER_MB = (0.076, 0.162, 0.507, 1.919, 7.496)  # Laplace paper Table 3, widths 1/16 .. 1
SMALL = {"rcn": {}, "hourglass": dict(channels=16, stacks=2, depth=2, input_size=64), "regressor": {},
         "ert": dict(input_size=64)}
NO_PARAMETERS = {"ert"}  # dlib's regression trees: nothing for the width to scale (tests/test_ert.py)


@pytest.fixture(autouse=True)
def _seed_one_thread():
    """Seeded, and one intra-op thread: these tiny ops run ~100x slower with 2 OpenMP threads on a busy 2-core box."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rcn_params(c: int, k: int, bottom_convs: int = 0) -> int:
    """Table 1 by hand: 4 encoder 3x3 convs, bottom 1x1, four 5x5 2C->2C, three 1x1 2C->C, head 1x1 2C->K (+ biases)."""
    encoder = (27 * c + c) + 3 * (9 * c * c + c)
    bottom = bottom_convs * (9 * c * c + c) + (c * c + c)
    decoder = 4 * (25 * 4 * c * c + 2 * c) + 3 * (2 * c * c + c)
    return encoder + bottom + decoder + (2 * c * k + k)


def x_for(model: nn.Module, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, model.input_size, model.input_size)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("k", (68, 5))
def test_rcn_shapes_and_closed_form_param_count(width, k):
    m = build_model("rcn", num_points=k, width=width, head="linear").eval()  # Table 1's head
    c = round(64 * width)
    assert m.channels == c and (m.input_size, m.stride, m.num_points, m.output) == (80, 1, k, "heatmap")
    assert model_summary(m)["params"] == rcn_params(c, k)
    assert model_summary(m)["bytes_fp32"] == 4 * rcn_params(c, k)
    with torch.no_grad():
        out = m(x_for(m))
    assert isinstance(out, list) and len(out) == 1 and out[0].shape == (2, k, 80, 80)


def test_rcn_size_vs_paper():
    """Table 1 as printed is within 5 % at full width; with two 3x3 bottom convs the gap is a flat ~0.045 MB."""
    for width, paper in zip(WIDTHS, PAPER_MB):
        plain = model_summary(build_model("rcn", width=width, head="linear"))["bytes_fp32"] / 1e6
        matched = model_summary(build_model("rcn", width=width, bottom_convs=2, head="linear"))["bytes_fp32"] / 1e6
        assert plain < paper and 0.0 < paper - matched < 0.05, (width, plain, matched, paper)
    full = model_summary(build_model("rcn", head="linear"))["bytes_fp32"] / 1e6
    assert abs(full - 7.496) / 7.496 < 0.05


def test_rcn_layer_order_dropout_and_activations():
    m = build_model("rcn", dropout=0.3, head="linear")
    acts = [mod for mod in m.modules() if isinstance(mod, (nn.LeakyReLU, nn.Dropout))]
    kinds = "".join("A" if isinstance(a, nn.LeakyReLU) else "d" for a in acts)
    # module order: 4 encoder stages, bottom, 4 fuse 5x5, 3 reduce 1x1 -> 12 activations; no dropout after the
    # first (encoder 1) and the last (5x5 at 80 px); LeakyReLU slope 0.2; head has no activation
    assert kinds.count("A") == 12 and kinds.count("d") == 10
    assert not isinstance(m.encoder[0][-1], nn.Dropout) and not isinstance(m.fuse[3][-1], nn.Dropout)
    assert all(a.negative_slope == 0.2 for a in acts if isinstance(a, nn.LeakyReLU))
    assert all(d.p == 0.3 for d in acts if isinstance(d, nn.Dropout))
    assert [f[0].kernel_size for f in m.fuse] == [(5, 5)] * 4 and [r[0].kernel_size for r in m.reduce] == [(1, 1)] * 3
    assert m.head.kernel_size == (1, 1) and m.head.in_channels == 128 and m.fuse[0][0].in_channels == 128
    with torch.no_grad():
        assert (m.eval()(x_for(m))[0] < 0).any()  # raw head output, no LeakyReLU/ReLU clipping to >= -0.2x


@pytest.mark.parametrize("stacks,size", [(1, 128), (2, 128), (2, 256)])
def test_hourglass_shapes_one_output_per_stack(stacks, size):
    m = build_model("hourglass", num_points=7, channels=16, stacks=stacks, depth=3, input_size=size).eval()
    assert (m.stride, m.output) == (4, "heatmap")
    with torch.no_grad():
        out = m(x_for(m, 1))
    assert len(out) == stacks and all(o.shape == (1, 7, size // 4, size // 4) for o in out)


def test_regressor_outputs_coords_starting_at_centre():
    m = build_model("regressor", num_points=19, input_size=64, stride=4).eval()
    assert m.output == "coords"
    with torch.no_grad():
        (out,) = m(x_for(m, 3))
    assert out.shape == (3, 19, 2)
    assert torch.allclose(out, torch.full_like(out, 7.5), atol=0.1)  # 16 px map: centre (16 - 1) / 2


@pytest.mark.parametrize("name", sorted(MODELS))
def test_config_round_trip_rebuilds_same_model(name):
    m = build_model(name, num_points=9, width=0.5, **SMALL[name]).eval()
    assert m.config["name"] == name
    rebuilt = build_model(**m.config).eval()
    state = {"config": m.config, "model": m.state_dict()}
    load_model_state(rebuilt, state, "mem.pt")
    x = x_for(m)
    with torch.no_grad():
        for a, b in zip(m(x), rebuilt(x)):
            assert torch.equal(a, b)
    assert model_from_state(state, "mem.pt").config == m.config


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_honours_the_contract(name):
    """lab/models/registry.py: K, S, output kind, stride, config and the output shapes forward returns."""
    m = build_model(name, num_points=7, width=0.25, **SMALL[name])
    assert contract_violations(m) == []
    assert m.num_points == 7 and m.output in ("heatmap", "coords")


def test_contract_check_catches_a_model_that_breaks_it():
    """The check can fail: a model whose map is the wrong size, and a class registered without `output`."""
    m = build_model("hourglass", num_points=5, width=0.25, stacks=1, depth=2, input_size=64)
    m.stride = 2  # claims 32 px maps, returns 16 px
    assert any("expected (2, 5, 32, 32)" in p for p in contract_violations(m))
    with pytest.raises(TypeError, match="output"):
        register_model("no-output")(type("NoOutput", (torch.nn.Module,), {"__init__": lambda self, num_points=1,
                                                                            width=1.0: None}))
    assert "no-output" not in MODELS


@pytest.mark.parametrize("name", sorted(set(MODELS) - NO_PARAMETERS))
def test_params_increase_with_width(name):
    counts = [model_summary(build_model(name, width=w, **SMALL[name]))["params"] for w in (0.25, 0.5, 1.0)]
    assert counts[0] < counts[1] < counts[2]


def test_load_model_state_names_k_and_source():
    m = build_model("rcn", num_points=68, width=0.125)
    other = build_model("rcn", num_points=98, width=0.125)
    with pytest.raises(ValueError, match=r"runs/a/checkpoint\.pt.*K \(num_points\): checkpoint=98, model=68"):
        load_model_state(m, {"config": other.config, "model": other.state_dict()}, "runs/a/checkpoint.pt")
    with pytest.raises(ValueError, match=r"b\.pt.*width: checkpoint=0\.25, model=0\.125"):
        wide = build_model("rcn", width=0.25)
        load_model_state(m, {"config": wide.config, "state_dict": wide.state_dict()}, "b.pt")
    with pytest.raises(ValueError, match=r"c\.pt.*name: checkpoint='hourglass', model='rcn'"):
        load_model_state(m, {"config": {**m.config, "name": "hourglass"}, "model": m.state_dict()}, "c.pt")
    with pytest.raises(ValueError, match=r"raw\.pt.*head\.2\.weight \(98, 128, 1, 1\) vs \(68, 128, 1, 1\)"):
        load_model_state(m, other.state_dict(), "raw.pt")  # bare state dict: shapes are checked
    # a dropout change is not a different model
    load_model_state(m, {"config": {**m.config, "dropout": 0.5}, "model": m.state_dict()}, "d.pt")
    with pytest.raises(ValueError, match="unknown model 'resnet'; valid: ert, hourglass, rcn, regressor"):
        build_model("resnet")


@pytest.mark.parametrize("bad", [dict(width=0), dict(width=-1), dict(input_size=70), dict(num_points=0)])
def test_bad_arguments_raise(bad):
    with pytest.raises(ValueError):
        build_model("rcn", **bad)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_eval_deterministic_train_stochastic(name):
    kw = dict(SMALL[name], **({"dropout": 0.5} if name == "rcn" else {}))
    m = build_model(name, num_points=4, width=0.25, **kw)
    x = x_for(m)
    with torch.no_grad():
        m.eval()
        assert torch.equal(m(x)[-1], m(x)[-1])
        if name == "rcn":
            m.train()
            assert not torch.equal(m(x)[-1], m(x)[-1])


def test_discriminator_noise_only_in_training():
    d = build_discriminator(num_points=5, width=0.25, noise_std=0.5)
    img, hm = torch.randn(4, 3, 80, 80), torch.rand(4, 5, 80, 80)
    with torch.no_grad():
        assert d(img, hm).shape == (4, 1, 9, 9)
        d.train()
        assert not torch.equal(d(img, hm), d(img, hm))  # BN in train mode is deterministic: noise differs
        d.noise_std = 0.0
        assert torch.equal(d(img, hm), d(img, hm))
        d.noise_std = 0.5
        d.eval()
        assert torch.equal(d(img, hm), d(img, hm))


def test_discriminator_structure_and_resizing():
    d = build_discriminator(num_points=68).eval()
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == 4 and convs[0].in_channels == 71 and convs[-1].out_channels == 1 and len(bns) == 2
    img, hm = torch.randn(2, 3, 128, 128), torch.rand(2, 68, 32, 32)
    small = F.interpolate(img, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        assert d(img, hm).shape == (2, 1, 3, 3)
        assert torch.equal(d(img, hm), d(small, hm))
    with pytest.raises(ValueError, match="K=68"):
        d(img, hm[:, :5])


def test_polyphase_and_space_to_depth_identities():
    """conv5x5(up2x(a)) == pixel_shuffle(conv3x3(a, W')) and conv5x5(s) == pixel_shuffle(conv3x3(unshuffle(s), W''))."""
    w = torch.randn(3, 2, 5, 5, dtype=torch.float64)
    a = torch.randn(1, 2, 6, 7, dtype=torch.float64)
    direct = F.conv2d(F.interpolate(a, scale_factor=2.0, mode="nearest"), w, padding=2)
    assert torch.allclose(F.pixel_shuffle(F.conv2d(a, polyphase_weight(w), padding=1), 2), direct)
    s = torch.randn(1, 2, 12, 14, dtype=torch.float64)
    for k in (1, 3, 5):
        wk = torch.randn(3, 2, k, k, dtype=torch.float64)
        direct = F.conv2d(s, wk, padding=k // 2)
        via = F.pixel_shuffle(F.conv2d(F.pixel_unshuffle(s, 2), space_to_depth_weight(wk), padding=1), 2)
        assert torch.allclose(via, direct)
    with pytest.raises(ValueError):
        polyphase_weight(torch.randn(1, 1, 7, 7))
    # stride-2 4x4 conv = the 4 phases of a full-resolution 3x3 conv, phase-major (ph * O + o)
    w3 = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    full = F.conv2d(s, w3, padding=1)
    phases = F.conv2d(s, strided_stem_weight(w3), stride=2, padding=1).unflatten(1, (4, 3))
    for ph, (p, q) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert torch.allclose(phases[:, ph], full[:, :, p::2, q::2])
    assert torch.equal(phase_major(torch.arange(8.0).view(1, 8)), torch.tensor([[0.0, 4, 1, 5, 2, 6, 3, 7]]))


@pytest.mark.parametrize("width,bottom", [(1 / 16, 0), (0.5, 2)])
@pytest.mark.parametrize("mode", ("direct", "polyphase", "s2d"))
def test_fast_rcn_matches_eval(width, bottom, mode):
    m = build_model("rcn", num_points=5, width=width, bottom_convs=bottom).eval()
    x = x_for(m)
    with torch.no_grad():
        ref = m(x)[0]
    fast = optimize_for_inference(m, compile=False, modes=(mode,) * 4)
    assert isinstance(fast.module, RCNInference)
    out = fast(x)
    assert len(out) == 1 and out[0].shape == ref.shape
    assert torch.allclose(out[0], ref, atol=1e-5 * ref.abs().max().item())
    assert m.training is False and all(p.requires_grad for p in m.parameters())  # original untouched
    assert out[0].is_contiguous()  # plain NCHW heatmaps, whatever the internal layout


def test_fast_defaults():
    assert default_modes(8) == ("s2d",) * 4 and default_modes(64) == ("polyphase",) * 4
    assert isinstance(keep_freed_memory(), bool)
    m = build_model("rcn", width=1 / 16).eval()
    assert optimize_for_inference(m).module.modes == default_modes(4)
    with pytest.raises(ValueError, match="4 decoder levels"):
        optimize_for_inference(m, modes=("s2d",))
    with pytest.raises(ValueError, match="unknown level mode"):
        optimize_for_inference(m, modes=("fast",) * 4)


def test_fast_generic_model_matches_eval():
    m = build_model("hourglass", num_points=4, **SMALL["hourglass"]).eval()
    x = x_for(m)
    with torch.no_grad():
        ref = m(x)
    out = optimize_for_inference(m, compile=False)(x)
    assert len(out) == 2 and all(torch.allclose(a, b, atol=1e-5) for a, b in zip(out, ref))


def test_unknown_model_argument_is_named():
    import pytest

    from lab.models import build_model

    with pytest.raises(ValueError, match=r"'rcn' has no argument\(s\) stacks; valid: .*input_size"):
        build_model("rcn", stacks=1)


@pytest.mark.parametrize("name,kw", [("rcn", {"width": 0.125}), ("hourglass", {"width": 0.25, "stacks": 2})])
def test_mlp_head_adds_exactly_its_layers(name, kw):
    """The default "mlp" head replaces each conv1x1 C -> K by conv1x1 C -> M (+ BN on the hourglass), an activation
    and conv1x1 M -> K, M = 128: the parameter difference is exactly those layers'."""
    linear = build_model(name, head="linear", **kw)
    mlp = build_model(name, **kw)
    heads = mlp.heads if name == "hourglass" else [mlp.head]
    cin = heads[0][0].in_channels
    per_head = cin * 128 + 128 + 128 * 68 + 68 - (cin * 68 + 68) + (2 * 128 if name == "hourglass" else 0)
    assert model_summary(mlp)["params"] - model_summary(linear)["params"] == len(heads) * per_head
    assert mlp.config["head"] == "mlp" and linear.config["head"] == "linear"
    with pytest.raises(ValueError, match="unknown head"):
        build_model(name, head="deep", **kw)


def test_checkpoint_saved_before_heads_loads_with_the_linear_head():
    """A model config without "head" (every model saved before heads existed) means the linear head."""
    old = build_model("hourglass", num_points=5, width=0.25, head="linear", stacks=1)
    config = {k: v for k, v in old.config.items() if k not in ("head", "head_channels")}
    rebuilt = model_from_state({"config": config, "model": old.state_dict()})
    assert isinstance(rebuilt.heads[0], torch.nn.Conv2d)
    with pytest.raises(ValueError, match="head"):
        load_model_state(build_model("hourglass", num_points=5, width=0.25, stacks=1),
                         {"config": config, "model": old.state_dict()})


@pytest.mark.parametrize("name,kw", [("rcn", {"width": 0.125}), ("hourglass", {"width": 0.25, "stacks": 2})])
def test_in_relu_maps_are_non_negative_and_never_all_dead(name, kw):
    """"in+relu" (the official STAR network's map activation): each map of each image is instance-normalised, then
    relu'd, so it is >= 0 and keeps pixels above its own mean even when the raw head output is negative everywhere."""
    torch.manual_seed(0)
    model = build_model(name, head_act="in+relu", **kw).eval()
    for h in (model.heads if name == "hourglass" else [model.head]):
        torch.nn.init.constant_(h[0][-1].bias, -100.0)  # the raw maps: negative everywhere (dead under a plain relu)
    maps = model(torch.randn(2, 3, model.input_size, model.input_size))[-1]
    assert maps.min() >= 0 and (maps.flatten(2).amax(-1) > 0).all()
    assert model.config["head_act"] == "in+relu" and build_model(name, **kw).config["head_act"] == "none"
    rebuilt = model_from_state({"config": model.config, "model": model.state_dict()})
    assert torch.equal(rebuilt.eval()(torch.ones(1, 3, model.input_size, model.input_size))[-1],
                       model(torch.ones(1, 3, model.input_size, model.input_size))[-1])
    with pytest.raises(ValueError, match="unknown map activation"):
        build_model(name, head_act="softmax", **kw)
