"""End to end: every notebook on the `smoke` profile with papermill, twice from scratch.

One test runs the pipeline twice in separate output roots (SSB_OUTPUT_DIR) and checks
(a) the reports, index.html and the summary keys each issue asks for, and (b) that the two
summary.json files are byte-identical once the wall-clock keys (results.TIMING_KEYS:
tokens_per_second, wall_seconds, train_seconds) are removed -- those measure the machine,
not the model, and are the only values allowed to differ.  The runs start in the background
when pytest has collected the tests (tests/background_runs.py) and run beside the rest of the suite.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from notebook_outputs import EXPECTED, NOTEBOOKS
from ssb import schema
from ssb.results import strip_timings

import background_runs
from summaries import assert_schema_keys  # noqa: E402  (shared with the tests of hand-made summaries)

REPO = Path(__file__).resolve().parents[1]


def test_committed_notebooks_have_no_outputs():
    assert len(NOTEBOOKS) == 7, [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} is committed with outputs"


@background_runs.register("smoke-a", timeout=1800)
@background_runs.register("smoke-b", timeout=1800)
def smoke_run(root: Path, data_dir: Path) -> list[str]:
    return background_runs.runner_argv("--profile", "smoke")


@pytest.mark.slow
@pytest.mark.background("smoke-a", "smoke-b")
def test_smoke_pipeline_twice_is_reproducible(background):
    """Two runs from scratch, in separate output roots, side by side in the background."""
    summaries = []
    for name in ("smoke-a", "smoke-b"):
        root = background.root(name)
        proc = background.result(name)
        assert proc.returncode == 0, f"run {name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        reports = root / "reports" / "smoke"
        for nb in NOTEBOOKS:
            assert (reports / nb.name).is_file() and (reports / (nb.stem + ".html")).is_file(), nb.name
        index = (reports / "index.html").read_text()
        assert "C1" in index and "C5" in index and "01_pretrain.html" in index
        summary_path = root / "figures" / "smoke" / "summary.json"
        summary = json.loads(summary_path.read_text())
        assert summary["profile"] == "smoke"
        assert set(summary) == schema.TOP_LEVEL_KEYS           # every section written, none outside the schema
        assert_schema_keys(summary)
        assert summary["hull"]["violations"] == 0
        assert summary["ssb"]["gap_final"]["symmetric"] == 0.0
        assert summary["nodes_pretrain"]["symmetric_head_jaccard"] == 1.0
        assert summary["nodes_finetune"]["symmetric_head_jaccard"] == 1.0
        assert list((root / "figures" / "smoke").glob("*.png")), "no figures written"
        summaries.append(summary)
    a, b = (json.dumps(strip_timings(s), sort_keys=True, indent=1) for s in summaries)
    assert a == b, "two smoke runs from scratch gave different summary.json"


def write_small_fewrel(source: Path, target: Path, n_relations: int = 5, n_instances: int = 20) -> list[str]:
    """A FewRel-format file of ``n_relations`` relations x ``n_instances`` instances, taken from
    the end of each relation's list (instances the default split never starts from)."""
    data = json.loads(source.read_text())
    chosen = sorted(data)[-n_relations:]
    target.write_text(json.dumps({r: data[r][-n_instances:] for r in chosen}))
    return chosen


def write_other_checkpoint(directory: Path, texts: list[str]) -> None:
    """A BERT this project did not train: 4 blocks, 4 heads of 8, its own WordPiece vocabulary."""
    from transformers import BertConfig, BertModel
    from ssb.tokenizer import train_wordpiece

    tok = train_wordpiece(texts, 600)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    import torch
    torch.manual_seed(3)
    BertModel(cfg).save_pretrained(directory)
    tok.save_pretrained(directory)


@background_runs.register("smoke-other-inputs", timeout=1800)
def smoke_other_inputs(root: Path, data_dir: Path) -> list[str]:
    """Notebooks 04-07 on a five-relation FewRel file and a BERT this project did not train."""
    inputs = root / "inputs"
    inputs.mkdir()
    small = inputs / "five_relations.json"
    chosen = write_small_fewrel(data_dir / "fewrel" / "val_wiki.json", small)
    data = json.loads(small.read_text())
    texts = [" ".join(inst["tokens"]) for r in chosen for inst in data[r]]
    write_other_checkpoint(inputs / "other_bert", texts * 5)
    return background_runs.runner_argv("--profile", "smoke", "--only", "04,05,06,07", "-p", "fewrel_file", str(small),
                                       "-p", "checkpoint", str(inputs / "other_bert"), "-p", "block", "4")


@background_runs.register("smoke-checkpoint-tokens", timeout=1800)
def smoke_checkpoint_tokens(root: Path, data_dir: Path) -> list[str]:
    """Notebooks 01-03 on a BERT this project did not train, with its own WordPiece tokenizer."""
    inputs = root / "inputs"
    inputs.mkdir()
    lines = (data_dir / "wikitext-103" / "wiki.valid.tokens").read_text().splitlines()
    write_other_checkpoint(inputs / "other_bert", [l for l in lines if len(l.split()) > 20][:400])
    return background_runs.runner_argv("--profile", "smoke", "--only", "01,02,03",
                                       "-p", "checkpoint", str(inputs / "other_bert"), "-p", "block", "4")


@pytest.mark.slow
@pytest.mark.background("smoke-checkpoint-tokens")
def test_checkpoint_token_analysis_runs_01_to_03(background):
    """Tokens of a checkpoint: the corpus in its own tokenizer (a cache entry of its own), its
    4 blocks from its config, K random-init controls of its config; 01 trains nothing; C3 says why
    it cannot be tested."""
    root = background.root("smoke-checkpoint-tokens")
    proc = background.result("smoke-checkpoint-tokens")
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    [summary_path] = list((root / "figures").glob("smoke-*/summary.json"))
    summary = json.loads(summary_path.read_text())
    assert_schema_keys(summary)
    assert "pretrain" not in summary and "ssb" not in summary                # 01 trained nothing
    assert not (root / "runs" / "smoke" / "pretrain").exists()
    assert len(list((root / "runs" / "smoke").glob("corpus-*"))) == 1        # cached under the tokenizer's key
    assert not (root / "runs" / "smoke" / "corpus").exists()
    assert len(summary["apt"]["accuracy_by_block"]) == 4                     # the checkpoint's own blocks
    along = summary["apt"]["stats"]["nulls"]["untrained_controls_by_block"]   # each block against 3 random inits
    assert along["block"] == [1, 2, 3, 4] and all(len(c) == 3 for c in along["controls"])
    node = summary["nodes_pretrain"]
    assert node["block"] == 4 and node["symmetric_head_jaccard"] is None
    untrained = node["stats"]["nulls"]["untrained"]
    assert untrained["controls"] == 3 and len(untrained["accuracy_full_by_control"]) == 3
    core = node["stats"]["checks"]["beyond_untrained"]
    assert "random initialisations" in core["statistic"] and core["controls"] == 3
    assert summary["claims"]["C3"] == "not testable"
    assert "symmetric variants" in summary["claims_stats"]["C3"]["reason"]
    assert summary["claims"]["C1"] in ("not testable", "inconclusive", "does not hold"), summary["claims"]


@pytest.mark.slow
@pytest.mark.background("smoke-other-inputs")
def test_other_fewrel_file_and_checkpoint_run_04_to_07(background):
    root = background.root("smoke-other-inputs")
    proc = background.result("smoke-other-inputs")
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    [summary_path] = list((root / "figures").glob("smoke-*/summary.json"))   # a run with overrides has its own folder
    assert not (root / "figures" / "smoke").exists()
    summary = json.loads(summary_path.read_text())
    assert summary["finetune"]["n_labels"] == 5
    assert len(summary["finetune"]["accuracy_by_block"]) == 4          # the other model's 4 blocks
    assert_schema_keys(summary)
    assert summary["nodes_finetune"]["n_labels"] == 5
    assert summary["nodes_finetune"]["symmetric_head_jaccard"] is None  # controls exist only for our BERT-6
    assert summary["hull"]["violations"] == 0 and summary["hull"]["n_labels"] == 5
    assert max(summary["crossover"]["n"]) == 32                       # all nodes of the other model
    assert max(summary["crossover"]["tokens"]["n"]) == 32             # the token half reads the checkpoint too
    # a checkpoint has no initialisation of its own: each core check compares it with 3 random
    # initialisations of its configuration (05, 06, 07 alike), and smoke never says "holds"
    for section, check in (("nodes_finetune", "beyond_untrained"), ("crossover", "cooperation_beyond_untrained"),
                           ("hull", "reach_beyond_untrained")):
        record = summary[section]["stats"]["checks"][check]
        assert not record.get("missing") and record["controls"] == 3, (section, record)
        assert "random initialisations" in record["statistic"], record["statistic"]
    assert summary["nodes_finetune"]["stats"]["nulls"]["untrained"]["controls"] == 3
    for claim in ("C2", "C4", "C5"):
        assert summary["claims"][claim] in ("not testable", "inconclusive", "does not hold"), summary["claims"]
