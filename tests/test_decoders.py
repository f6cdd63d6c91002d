"""The decoder registry (lab/heatmaps.py) and the one function that says how a run is decoded (run_decoding)."""
from __future__ import annotations

import inspect

import pytest
import torch

from lab.config import RunConfig
from lab.heatmaps import DECODERS, DISTRIBUTIONS, decode, encode_gaussian, register_decoder
from lab.losses import LOSSES
from lab.moments import normalize
from lab.runner.evaluate import Decoding, run_decoding


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_each_decoder_declares_its_distribution_and_parameters(name):
    dec = DECODERS[name]
    assert dec.distribution in DISTRIBUTIONS and dec.summary
    sig = inspect.signature(dec.fn).parameters
    assert {k: sig[k].default for k in dec.params} == dec.params  # the declared defaults are the function's
    maps = 30 * encode_gaussian(torch.tensor([[[5.3, 7.6]]]), (16, 16), 1.5)  # peaked enough for softmax too
    assert torch.allclose(decode(maps, name), torch.tensor([[[5.3, 7.6]]]), atol=0.3)


def test_unknown_decoder_and_parameter_are_named():
    maps = torch.rand(1, 2, 8, 8)
    with pytest.raises(ValueError, match="unknown decoder 'nope'.*barycenter"):
        decode(maps, "nope")
    with pytest.raises(ValueError, match="'argmax' has no parameter.*window"):
        decode(maps, "argmax", window=3)


def test_registering_a_decoder_makes_it_a_cli_choice():
    import lab.__main__ as cli

    @register_decoder("toy_centre", "relu", "the map's centre, whatever it holds")
    def toy(heatmaps):
        h, w = heatmaps.shape[-2:]
        return torch.tensor([(w - 1) / 2, (h - 1) / 2]).expand(*heatmaps.shape[:-2], 2)

    try:
        assert decode(torch.rand(2, 3, 8, 8), "toy_centre").shape == (2, 3, 2)
        parser = cli.build_parser()
        args = parser.parse_args(["train", "--decoder", "toy_centre"])
        assert args.decoder == "toy_centre"
        with pytest.raises(ValueError, match="registered twice"):
            register_decoder("toy_centre", "relu", "again")(toy)
    finally:
        DECODERS.pop("toy_centre")


def test_a_run_is_decoded_at_the_temperature_it_trained_with():
    # LaplaceKL's softmax temperature is its own hyper-parameter: decoded at T=2, not at the runner's T=1
    d = run_decoding(RunConfig(loss="laplace_kl", loss_kw={"temperature": 2.0}))
    assert d == Decoding("soft_argmax", {}, 2.0)
    maps = torch.randn(1, 3, 8, 8)
    assert torch.allclose(d.distribution(maps), normalize(maps, "softmax", 2.0))
    assert not torch.allclose(d.distribution(maps), normalize(maps, "softmax", 1.0))
    # a coordinate loss on heatmaps trains through the runner's soft-argmax temperature
    assert run_decoding(RunConfig(loss="l1", softargmax_temperature=0.5)).temperature == 0.5
    # relu-normalised losses read relu maps; the config's decoder and its parameters win over the loss's
    star = run_decoding(RunConfig(loss="star"))
    assert star.decoder == "relu_mean" and torch.allclose(star.distribution(maps), normalize(maps, "relu"))
    # a version-1 STAR config keeps the decoder it was evaluated with: barycenter, window 5
    old = run_decoding(RunConfig.from_dict({"loss": "star"}))
    assert old.decoder == "barycenter" and old.kwargs_for("barycenter") == {"window": 5}
    own = run_decoding(RunConfig(loss="star", decoder="barycenter", decoder_kw={"window": 3}))
    assert own.kwargs_for("barycenter") == {"window": 3} and own.kwargs_for("argmax") == {}
    assert own.kwargs_for("soft_argmax") == {"temperature": 1.0}


def test_every_loss_names_a_registered_decoder_and_a_real_temperature_knob():
    for spec in LOSSES.values():
        assert spec.decoder in DECODERS
        assert spec.temperature is None or spec.temperature in spec.defaults


def test_relu_mean_is_the_official_star_decoder_by_hand():
    """STAR's decoder_default: sum(grid * H) / sum H over the whole (non-negative) map; relu first for raw maps."""
    from lab.heatmaps import decode

    maps = torch.zeros(1, 2, 5, 7)
    maps[0, 0, 1, 2], maps[0, 0, 3, 6] = 3.0, 1.0  # mass 3 at (x 2, y 1), 1 at (x 6, y 3)
    maps[0, 1, 4, 0], maps[0, 1, 0, 0] = 2.0, -5.0  # a negative pixel counts as zero
    out = decode(maps, "relu_mean")
    assert torch.allclose(out[0, 0], torch.tensor([(3 * 2 + 6) / 4, (3 * 1 + 3) / 4]), atol=1e-6)
    assert torch.allclose(out[0, 1], torch.tensor([0.0, 4.0]), atol=1e-6)
    # unlike the barycenter, a second mode far from the peak moves it
    assert not torch.allclose(out[0, 0], decode(maps, "barycenter", window=3)[0, 0])
    assert torch.allclose(decode(torch.zeros(1, 1, 5, 7), "relu_mean"), torch.tensor([[[3.0, 2.0]]]), atol=1e-4)
