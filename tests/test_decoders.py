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
    assert star.decoder == "barycenter" and torch.allclose(star.distribution(maps), normalize(maps, "relu"))
    own = run_decoding(RunConfig(loss="star", decoder="barycenter", decoder_kw={"window": 3}))
    assert own.kwargs_for("barycenter") == {"window": 3} and own.kwargs_for("argmax") == {}
    assert own.kwargs_for("soft_argmax") == {"temperature": 1.0}


def test_every_loss_names_a_registered_decoder_and_a_real_temperature_knob():
    for spec in LOSSES.values():
        assert spec.decoder in DECODERS
        assert spec.temperature is None or spec.temperature in spec.defaults
