"""docs/options.md is generated from the code and must match it."""

from __future__ import annotations

import dataclasses
import re

import pytest

from converters import options as option_map
from parity import options_doc
from tf2_port import MODEL_NAMES


@pytest.fixture(scope="module")
def rendered() -> str:
    return options_doc.render()


def test_committed_doc_is_current(rendered):
    committed = options_doc.DOC.read_text(encoding="utf-8")
    assert committed == rendered, f"{options_doc.DOC} is stale: run python -m parity.options_doc"


def _listed(rendered: str, model: str) -> list[str]:
    return re.findall(rf"^\| {model} \| `(\w+)` \|", rendered, flags=re.MULTILINE)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_legacy_and_port_option_has_one_row(model, rendered):
    from legacy_tf1 import registry as legacy_registry
    from tf2_port import registry as port_registry

    legacy = [f.name for f in dataclasses.fields(legacy_registry.get(model).Options)]
    port_only = list(option_map.PORT_ONLY_OPTIONS[model])
    assert _listed(rendered, model) == legacy + port_only
    # Every port field is reachable from a row: mapped from a legacy option or port-only.
    reachable = {
        m[0]
        for name in legacy
        if not isinstance(m := option_map.port_field(model, name), option_map.LegacyOnly)
    }
    port_fields = {f.name for f in dataclasses.fields(port_registry.get(model).config_class)}
    assert port_fields == reachable | set(port_only)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_shape_detected_options_are_the_converters_variants(model):
    from converters import maps

    detected = options_doc._shape_options(model)
    variants = {key for v in maps.get(model).variants for key in v.overrides}
    assert variants <= detected
    # Computation-only options are never claimed to be read from a checkpoint.
    assert not detected & {"linear_last_conv", "fix_double_softmax", "fix_fc8_relu"}


def test_defects_are_the_ones_the_originals_catalogue_names():
    catalogue = (options_doc.DOC.parent / "originals.md").read_text(encoding="utf-8")
    for model, defects in options_doc.DEFECTS.items():
        for option in defects:
            assert f"`{option}" in catalogue, f"{model}.{option} is not in docs/originals.md"


@dataclasses.dataclass(frozen=True)
class _Sample:
    """A dataclass whose comments field_comments must read."""

    # First line of a,
    # second line of a.
    a: int = 1
    b: int = 2

    # Only c's.
    c: bool = False


def test_field_comments_reads_the_lines_above_each_field():
    assert options_doc.field_comments(_Sample) == {
        "a": "First line of a, second line of a.",
        "c": "Only c's.",
    }


def test_check_flags_a_stale_file_and_the_script_rewrites_it(tmp_path, capsys):
    target = tmp_path / "options.md"
    target.write_text("old\n", encoding="utf-8")
    assert options_doc.main(["--check", "--output", str(target)]) == 1
    assert "run python -m parity.options_doc" in capsys.readouterr().err
    assert options_doc.main(["--output", str(target)]) == 0
    assert options_doc.main(["--check", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == options_doc.DOC.read_text(encoding="utf-8")
