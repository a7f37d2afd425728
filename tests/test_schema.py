"""The schema of summary.json (ssb.schema): described keys, checked paths, renamed keys, writing
through it, and the committed summaries having exactly its keys."""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from ssb import results, schema

from summaries import assert_schema_keys  # noqa: E402  (shared builders)

REPO = Path(__file__).resolve().parents[1]


def test_every_key_is_described_and_every_section_named_once():
    assert list(schema.NOTEBOOK_SECTIONS) == ["pretrain", "ssb", "apt", "nodes_pretrain", "finetune",
                                              "nodes_finetune", "crossover", "hull"]
    for cls in [*schema.SECTIONS.values(), schema.CrossoverTokens]:
        assert cls.__doc__ and cls.keys(), cls
        for f in dataclasses.fields(cls):
            assert len(cls.doc(f.name)) > 10, f"{cls.__name__}.{f.name} needs a description"
    assert not any("layer" in key for cls in schema.SECTIONS.values() for key in cls.keys())   # 'block' throughout
    assert set(schema.RUN_KEYS).isdisjoint(schema.SECTIONS) and set(schema.RUNNER_KEYS).isdisjoint(schema.SECTIONS)


def test_paths_are_checked_against_the_definition():
    assert schema.Finetune.path("checkpoint") == "finetune.checkpoint"
    assert schema.Pretrain.path("variants", "main", "gate") == "pretrain.variants.main.gate"
    with pytest.raises(KeyError, match="accuracy_by_layer"):
        schema.Finetune.path("accuracy_by_layer")
    with pytest.raises(KeyError):
        schema.Apt.doc("mean_by_layer")


def test_old_key_names_are_read_under_their_new_names():
    old = {"profile": "quick", "apt": {"mean_by_layer": [0.1], "mean_by_layer_ci": [[0.0, 0.2]], "accuracy_by_layer": [0.3],
                                       "spearman_freq": 0.5},
           "finetune": {"accuracy_by_layer": [0.4], "accuracy_by_layer_other_pooling": [0.35], "n_labels": 16}}
    before = copy.deepcopy(old)
    new = schema.with_current_keys(old)
    assert old == before                                                   # the input is left as it was
    assert new["apt"] == {"mean_by_block": [0.1], "mean_by_block_ci": [[0.0, 0.2]], "accuracy_by_block": [0.3],
                          "spearman_freq": 0.5}
    assert new["finetune"] == {"accuracy_by_block": [0.4], "accuracy_by_block_other_pooling": [0.35], "n_labels": 16}
    both = {"apt": {"mean_by_layer": [1.0], "mean_by_block": [2.0]}}
    assert schema.with_current_keys(both)["apt"] == {"mean_by_block": [2.0]}   # the current key wins
    for section, renamed in schema.RENAMED_KEYS.items():
        assert set(renamed.values()) <= set(schema.SECTIONS[section].keys())


@pytest.mark.parametrize("profile", ["quick", "standard"])
def test_committed_summaries_have_exactly_the_schema_keys(profile):
    summary = schema.with_current_keys(json.loads((REPO / "figures" / profile / "summary.json").read_text()))
    assert set(summary) == schema.TOP_LEVEL_KEYS
    assert_schema_keys(summary)


def test_notebooks_write_through_the_schema(out_root):
    section = schema.Finetune(n_labels=16, pooling="cls", block=6, accuracy_by_block=[0.5, 0.6],
                              accuracy_by_block_other_pooling=[0.4, 0.5], accuracy_full_finetune=0.7, checkpoint="ours",
                              fewrel_file="val_wiki.json", stats={"gates": {}})
    summary = results.update_summary("smoke", "finetune", section)
    assert summary["finetune"].pop(results.STAMP_KEY)
    assert summary["finetune"] == section.as_dict()
    with pytest.raises(ValueError, match="finetune"):
        results.update_summary("smoke", "apt", section)
    with pytest.raises(TypeError):
        schema.Finetune(n_labels=16)                                        # every key is required
    (out_root / "figures" / "smoke" / "summary.json").write_text(json.dumps({"apt": {"mean_by_layer": [0.1]}}))
    assert results.load_summary("smoke") == {"apt": {"mean_by_block": [0.1]}}


def test_builders_turn_computed_objects_into_sections():
    recognised = {"median_recognized_node": 1.0, "median_recognized_head": 2.0, "median_predicted_node": 3.0,
             "recognized_full": 9, "accuracy_full": 0.5, "silent_accuracy": 0.1, "mean_jaccard_nodes": 0.2,
             "mean_diagonal_confidence_node": 0.3, "head_jaccard": 0.4, "n_classes": 16,
             "median_recognized_node_chance_rule": 4.0, "median_recognized_head_chance_rule": 5.0,
             "recognized_full_chance_rule": 10}
    rest = dict(random_head_jaccard=0.2, symmetric_head_jaccard=1.0, block=6, untrained=None, along_blocks={}, stats={})
    tokens = schema.NodesPretrain.from_recognition_summary(recognised, vocab_size=256, **rest).as_dict()
    assert tokens["median_tokens_recognized_node"] == 1.0 and tokens["tokens_recognized_full_chance_rule"] == 10
    labels = schema.NodesFinetune.from_recognition_summary(recognised, n_labels=16, stochastic_head_jaccard=None, **rest).as_dict()
    assert labels["median_labels_predicted_node"] == 3.0 and labels["labels_recognized_full"] == 9

    curve = pd.DataFrame({"n": [1, 4], "accuracy_mean": [0.2, 0.3], "accuracy_std": [0.01, 0.02],
                          "predicted_mean": [2.0, 5.0], "recognized_mean": [1.0, 3.0], "union_individual_mean": [1.0, 2.5],
                          "kappa_R_mean": [1.0, 1.2], "gain_mean": [0.01, 0.1], "sum_individual_gain_mean": [0.01, 0.05],
                          "sets": [3, 3]})
    band = pd.DataFrame({"n": [1, 4], "accuracy": [0.2, 0.3], "accuracy_lo": [0.1, 0.2], "accuracy_hi": [0.3, 0.4]})
    flags = dict(silent_accuracy=0.0625, has_dip=False, n_min=None, stats={})
    crossover = schema.Crossover.from_curves(
        curve, curve, bands={"across the block": band}, kappa_A_undefined_sets=0,
        tokens=schema.CrossoverTokens.from_curve(curve, bands={"across the block": band}, **flags), **flags).as_dict()
    assert crossover["kappa_R_mean"] == [1.0, 1.2] and "sets" not in crossover
    assert crossover["inside_head"] == {"n": [1, 4], "accuracy_mean": [0.2, 0.3]}
    assert crossover["bands"] == {"across the block": {"n": [1, 4], "accuracy": [0.2, 0.3], "lo": [0.1, 0.2],
                                                       "hi": [0.3, 0.4]}}
    assert set(crossover["tokens"]) == set(schema.CrossoverTokens.keys()) and crossover["tokens"]["n"] == [1, 4]

    stats = {"steps": 3, "tokens_seen": 96, "train_seconds": 1.0, "tokens_per_second": 96.0, "mlm_accuracy": 0.1,
             "baseline_accuracy": 0.05, "heldout_positions": 10, "gate": {"passed": True}}
    pretrain = schema.Pretrain.from_stats(stats, variants={}).as_dict()
    assert set(pretrain) == set(schema.Pretrain.keys()) and pretrain["tokens_per_second"] == 96.0
