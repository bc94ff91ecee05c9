import dataclasses

import pytest

from sidrec_lib.artifacts import open_run
from sidrec_lib.presets import PRESETS, Preset, TrainConfig, check_codes_for_catalog, get_preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid(name):
    assert PRESETS[name].problems() == []
    assert get_preset(name) == PRESETS[name]


def test_the_overrides_used_in_the_repo_still_work(tmp_path):
    cases = [
        ("ci", {"prepare.kcore": 1}),
        ("ci", {"prepare.kcore": 3, "semantic_ids.codes": 32}),
        ("ci", {"stage2.max_steps": 60, "stage2.save_steps": 10, "stage2.logging_steps": 5}),
        ("cpu", {"dataset": str(tmp_path), "prepare.kcore": 1}),
        ("cpu", {"dataset": "amazon2023:Video_Games"}),
        ("gpu", {"model.base": "Qwen/Qwen3-8B", "stage2.lora": True}),
        ("gpu", {"model.base": str(tmp_path), "embed.prompt": None}),
        ("ci", {"embed.prompt": "query: ", "evaluate.history_choices": [5, 20], "stage2.epochs": 2}),
    ]
    for name, overrides in cases:
        preset = get_preset(name, overrides)
        assert preset.problems() == []
    assert get_preset("gpu", {"embed.prompt": None}).embed.prompt is None


@pytest.mark.parametrize(
    "key",
    ["stage1.batch_size", "evaluate.beams", "model.base", "semantic_ids.codes", "dataset", "stage2.lora"],
)
def test_null_is_refused_where_the_default_is_not_null(key):
    with pytest.raises(ValueError, match=rf"'{key}' expects \w+ \(like .*\), not null"):
        get_preset("ci", {key: None})


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("builtin.n_items", 5, "must be >= 10"),
        ("builtin.n_users", -1, "must be >= 10"),
        ("prepare.kcore", 0, "must be >= 1"),
        ("prepare.max_user_interactions", 2, "must be >= 3"),
        ("embed.batch_size", -4, "must be >= 1"),
        ("embed.encoder", "", "must not be empty"),
        ("embed.template", "Title: {title", "str.format template"),
        ("embed.description_chars", -1, "must be >= 0"),
        ("semantic_ids.levels", 0, "must be from 1 to 8"),
        ("semantic_ids.levels", 9, "must be from 1 to 8"),
        ("semantic_ids.codes", 1, "must be 0 (sized to the catalog) or from 2 to 65536"),
        ("semantic_ids.codes", 70000, "must be 0 (sized to the catalog) or from 2 to 65536"),
        ("semantic_ids.codes", -3, "must be 0 (sized to the catalog) or from 2 to 65536"),
        ("semantic_ids.iters", 0, "must be >= 1"),
        ("semantic_ids.cooccurrence_weight", 1.5, "must be from 0 to 1"),
        ("model.hidden_size", -64, "must be >= 2"),
        ("model.heads", 3, "must divide hidden_size (64)"),
        ("model.heads", 64, "heads of an even size"),
        ("model.kv_heads", 3, "must divide heads (2)"),
        ("model.kv_heads", 0, "must be >= 1"),
        ("model.dtype", "float64", "must be one of float32, bfloat16, float16"),
        ("model.tokenizer_vocab", 100, "must be >= 300"),
        ("tasks.steer_pool", 0, "must be >= 1"),
        ("tasks.explanations", -1, "must be >= 0"),
        ("corpus.sequence_length", 0, "must be >= 1"),
        ("corpus.listing_repeats", -1, "must be >= 0"),
        ("stage1.batch_size", 0, "must be >= 1"),
        ("stage1.grad_accum", 0, "must be >= 1"),
        ("stage1.max_steps", 0, "must be -1 (train `epochs`) or >= 1"),
        ("stage2.epochs", -1.0, "must be >= 0"),
        ("stage1.learning_rate", 0.0, "must be > 0"),
        ("stage2.learning_rate", -1e-3, "must be > 0"),
        ("stage2.learning_rate", "nan", "must be a finite number"),
        ("stage1.lr_scheduler", "cosine_annealing", "must be one of linear, cosine, "),
        ("stage2.warmup", 1.0, "must be in [0, 1)"),
        ("stage2.warmup", -0.1, "must be in [0, 1)"),
        ("stage2.weight_decay", -0.01, "must be >= 0"),
        ("stage2.lora_r", 0, "must be >= 1"),
        ("stage1.save_steps", 0, "must be >= 1"),
        ("evaluate.beams", 0, "must be >= 20"),
        ("evaluate.beams", 10, "must be >= 20"),
        ("evaluate.history_choices", [], "must not be empty"),
        ("evaluate.history_choices", [10, 0], "every value must be >= 1"),
        ("evaluate.history_choices", [10, "x"], "must be a list of integers"),
        ("evaluate.cornac_dropouts", [0.2, 1.0], "every value must be in [0, 1)"),
        ("evaluate.cornac_dims", [], "must not be empty"),
        ("evaluate.sasrec_hidden", 63, "must be a multiple of 2"),
        ("evaluate.users", -1, "must be >= 0"),
        ("evaluate.bootstrap", 0, "must be >= 1"),
        ("dataset", "", "must not be empty"),
    ],
)
def test_out_of_range_values_name_the_field_the_value_and_the_range(key, value, allowed):
    with pytest.raises(ValueError, match="Invalid settings for preset 'ci'") as error:
        get_preset("ci", {key: value})
    converted = tuple(value) if isinstance(value, list) else value
    shown = repr(float(converted)) if value == "nan" else repr(converted)
    lines = [line for line in str(error.value).splitlines() if line.startswith(f"  - {key} = {shown}: ")]
    assert len(lines) == 1 and allowed in lines[0], error.value


def test_epochs_may_be_zero_only_when_max_steps_is_set():
    assert get_preset("ci", {"stage1.epochs": 0, "stage1.max_steps": 10}).stage1.epochs == 0
    with pytest.raises(ValueError, match=r"stage1.epochs = 0.0: must be > 0 when max_steps is -1"):
        get_preset("ci", {"stage1.epochs": 0, "stage1.max_steps": -1})


def test_every_problem_is_listed_in_one_error():
    overrides = {
        "stage1.batch_size": 0,
        "semantic_ids.levels": 0,
        "evaluate.beams": 0,
        "semantic_ids.kodes": 1,
        "stage2.learning_rate": "fast",
        "model.dtype": None,
    }
    with pytest.raises(ValueError) as error:
        get_preset("ci", overrides)
    text = str(error.value)
    assert text.startswith("Invalid settings for preset 'ci' (6 problems):")
    for expected in [
        "stage1.batch_size = 0: must be >= 1",
        "semantic_ids.levels = 0: must be from 1 to 8",
        "evaluate.beams = 0: must be >= 20",
        "Unknown preset field 'semantic_ids.kodes'",
        "Preset field 'stage2.learning_rate' expects float",
        "Preset field 'model.dtype' expects str",
    ]:
        assert expected in text


def test_codes_are_checked_against_the_builtin_store_and_any_catalog(tmp_path):
    with pytest.raises(ValueError, match=r"semantic_ids.codes = 5000: the builtin store .* only 400 items"):
        get_preset("ci", {"semantic_ids.codes": 5000})
    assert get_preset("ci", {"semantic_ids.codes": 400}).semantic_ids.codes == 400
    # A folder's catalog is unknown until notebook 01 has read it: only the generic range applies.
    folder = get_preset("ci", {"dataset": str(tmp_path), "semantic_ids.codes": 5000})
    with pytest.raises(ValueError, match=r"semantic_ids.codes = 5000: the catalog has only 350 items"):
        check_codes_for_catalog(folder, 350)
    check_codes_for_catalog(folder, 5000)
    check_codes_for_catalog(get_preset("ci"), 3)  # 0: sized to the catalog


def test_a_pretrained_base_needs_no_weight_decay_in_stage1():
    with pytest.raises(ValueError, match=r"stage1.weight_decay = 0.1: must be 0 for a pretrained base"):
        get_preset("gpu", {"stage1.weight_decay": 0.1})
    assert get_preset("ci", {"stage1.weight_decay": 0.1}).stage1.weight_decay == 0.1  # scratch: fine


def test_overrides_must_be_a_mapping_of_dotted_keys():
    with pytest.raises(ValueError, match="must map dotted keys to values .* not list"):
        get_preset("ci", ["prepare.kcore=3"])
    with pytest.raises(ValueError, match="override key 3 must be text"):
        get_preset("ci", {3: 1})


def test_open_run_fails_before_any_step_runs(tmp_path):
    with pytest.raises(ValueError, match="stage1.batch_size = 0"):
        open_run("ci", overrides={"stage1.batch_size": 0}, artifacts_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_preset_built_in_code_is_checked_too():
    preset = Preset(name="mine", stage1=TrainConfig(batch_size=0, lr_scheduler="nope"))
    problems = preset.problems()
    assert len(problems) == 2
    assert problems[0].startswith("stage1.batch_size = 0") and problems[1].startswith("stage1.lr_scheduler")
    broken = dataclasses.replace(PRESETS["ci"], semantic_ids=3)
    assert broken.problems() == ["semantic_ids = 3: must be a SemanticIdConfig section"]
    assert Preset(name="fine").problems() == []
