"""``--option`` on ckpt_v1_to_v2: computation-only options reach both sides of the check."""

from __future__ import annotations

import dataclasses
import json

import pytest

from converters import ckpt_v1_to_v2, cli, verify
from converters import options as option_map
from converters.bundle import EXIT_USAGE, VerificationError
from converters.port import legacy_options, option_overrides
from legacy_tf1.train import TrainConfig, train

# Trained (0 steps: initial variables) with an option that leaves no trace in the checkpoint:
# cifar10_cnn's has another name on the port, resnet_mnist's changes its logits grossly.
TRAINED = {
    "cifar10_cnn": {"fix_norm2_depth_radius": True},
    "resnet_mnist": {"linear_last_conv": True},
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """model -> legacy checkpoint directory trained with TRAINED[model], made on first use."""
    root, made = tmp_path_factory.mktemp("legacy"), {}

    def get(model: str) -> str:
        if model not in made:
            made[model] = str(root / model)
            train(TrainConfig(model, made[model], steps=0, seed=1, options=TRAINED[model]))
        return made[model]

    return get


def test_option_is_translated_recorded_and_verified_against_the_matching_graph(
    sources, tmp_path, monkeypatch
):
    seen = []

    def spy(name, prefix, images, **options):
        seen.append(options)
        return verify.legacy_logits(name, prefix, images, **options)

    monkeypatch.setattr(ckpt_v1_to_v2, "legacy_logits", spy)
    output = tmp_path / "out"
    argv = [sources("cifar10_cnn"), "--output", str(output)]
    argv += ["--option", "fix_norm2_depth_radius=True"]
    assert ckpt_v1_to_v2.main(argv) == 0
    saved = json.loads((output / "port_config.json").read_text())
    manifest = json.loads((output / "manifest.json").read_text())
    assert saved["overrides"]["norm2_depth_radius"] == 4  # the port's name and value
    assert manifest["port_overrides"]["norm2_depth_radius"] == 4
    assert seen and seen[0]["fix_norm2_depth_radius"] is True  # the legacy graph had it too


def test_the_option_matters_so_the_default_graph_would_fail_verification(sources, tmp_path):
    model, options = "resnet_mnist", TRAINED["resnet_mnist"]
    output = str(tmp_path / "out")
    result = ckpt_v1_to_v2.convert(sources(model), model=model, output=output, options=options)
    assert options.items() <= result.overrides.items() and result.max_abs_diff is not None

    def default_graph(name, prefix, images, **options):
        return verify.legacy_logits(name, prefix, images)  # the option dropped

    with pytest.raises(VerificationError):
        verify.verify(
            model, result.source, output, result.overrides, legacy_logits_fn=default_graph
        )


def test_unknown_option_exits_2_naming_it_and_the_valid_ones(sources, tmp_path, capsys):
    argv = [
        sources("cifar10_cnn"),
        "--output",
        str(tmp_path / "out"),
        "--option",
        "norm3_depth_radius=4",
    ]
    assert ckpt_v1_to_v2.main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "norm3_depth_radius" in err and "fix_norm2_depth_radius" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("model", "option"),
    [("cifar10_cnn", "python2_division"), ("alexnet_cifar10", "fix_conv5_relu_before_bn")],
)
def test_legacy_only_option_is_refused_with_its_reason(model, option):
    with pytest.raises(option_map.OptionError, match=f"{option}.*legacy only"):
        option_overrides(model, {option: True})


def test_malformed_option_is_a_usage_error_before_tensorflow(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parser("ckpt_v1_to_v2").parse_args(["ckpt", "--option", "no_equals_sign"])
    assert exit_info.value.code == 2
    assert "NAME=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("model", option_map.OPTION_MAPS)
def test_every_carried_option_translates_to_the_port_and_back(model):
    from legacy_tf1 import registry

    defaults = dataclasses.asdict(registry.get(model).Options())
    carried = {
        name: value
        for name, value in defaults.items()
        if not isinstance(option_map.port_field(model, name), option_map.LegacyOnly)
    }
    overrides = option_overrides(model, carried)
    assert legacy_options(model, overrides) == carried
