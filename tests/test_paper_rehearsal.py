"""A `paper`-shape rehearsal on the CPU: all seven notebooks end to end with the `paper` profile
(d_h 64, hidden 768, 12 heads, 6 blocks, 128 tokens, a 30,522-entry vocabulary, corpus
"wikipedia", tokenizer "bert-base-uncased", FewRel train_wiki.json) on tiny data and few steps,
offline, from a staged data directory in the layout the README gives:

    D/wikipedia/*.txt                  one article per file (here: WikiText-103 articles)
    D/bert-base-uncased/               tokenizer files (here: a WordPiece padded to 30,522 with [unused*])
    D/fewrel/train_wiki.json           (here: 8 relations x 20 instances of val_wiki.json)

It checks every summary key the smoke run checks (tests/test_notebooks.py: EXPECTED) and the
exact-symmetry invariants.  Part of the default test run: it starts in the background when
pytest has collected the tests (tests/background_runs.py), beside the smoke runs and the unit
tests; alone it takes 193 s on the idle 2-core VM (docs/benchmarks.md, "The paper-shape rehearsal").
The paper's token readouts keep their 30,522 classes (``token_classes`` 0): the aperture engine's
work per node is what the rehearsal is for, so the data, steps and seeds are cut instead.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import background_runs
from notebook_outputs import EXPECTED, NOTEBOOKS
from paper_vocabulary import paper_tokenizer

REPO = Path(__file__).resolve().parents[1]

# tiny data and few steps at the paper's shape; every other field is the `paper` profile's
REHEARSAL = {
    "n_articles": 20, "eval_fraction": 0.2, "steps": 2, "ssb_steps": 2, "batch_size": 2, "warmup_steps": 1,
    "eval_every": 2, "eval_batches": 1, "checkpoint_every": 100, "token_examples": 300, "token_mask_draws": 1,
    "readout_epochs": 2, "token_readout_epochs": 2, "readout_patience": 2, "min_count": 2, "n_train_per_relation": 4,
    "n_test_per_relation": 2, "finetune_steps": 2, "finetune_batch": 4, "crossover_sets": 2,
    "crossover_points": 3, "hull_max_sets": 2, "hull_max_n": 3, "device": "cpu",
}
FEWREL_RELATIONS = 8        # of val_wiki.json's 16, 20 instances each, staged as train_wiki.json

# the notebooks' own parameters, passed to the notebooks that declare them: few permutations, one
# probe seed and SSB along the analysed block only (the shape, not the statistics, is rehearsed)
NOTEBOOK_PARAMETERS = {"n_permutations": 20, "n_seeds": 1, "blocks_along": "[6]"}


def stage_paper_data(root: Path, shared: Path) -> Path:
    """The staged directory D (see the module docstring), built from the offline copies."""
    from ssb.data import load_corpus

    articles = load_corpus("wikitext103", shared, n_articles=REHEARSAL["n_articles"])
    (root / "wikipedia").mkdir(parents=True)
    for i, text in enumerate(articles):
        (root / "wikipedia" / f"{i:05d}.txt").write_text(text, encoding="utf-8")
    paper_tokenizer(root).save_pretrained(str(root / "bert-base-uncased"))
    val = json.loads((shared / "fewrel" / "val_wiki.json").read_text())
    (root / "fewrel").mkdir()
    chosen = sorted(val)[:FEWREL_RELATIONS]
    (root / "fewrel" / "train_wiki.json").write_text(json.dumps({rel: val[rel][:20] for rel in chosen}))
    return root


@background_runs.register("paper-rehearsal", timeout=3600, unset=("SSB_DATA_DIR",))
def paper_rehearsal(root: Path, data_dir: Path) -> list[str]:
    staged = stage_paper_data(root / "data", data_dir)
    overrides = [arg for k, v in {**REHEARSAL, **NOTEBOOK_PARAMETERS}.items() for arg in ("-p", k, str(v))]
    return background_runs.runner_argv("--profile", "paper", "--data-dir", str(staged), "--no-html", *overrides)


@pytest.mark.slow
@pytest.mark.background("paper-rehearsal")
def test_paper_shape_rehearsal_all_notebooks(background):
    proc = background.result("paper-rehearsal")
    out = background.root("paper-rehearsal")
    assert proc.returncode == 0, f"rehearsal failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    (reports,) = (out / "reports").glob("paper*")        # paper-<overrides>: its own folder
    for nb in NOTEBOOKS:
        assert (reports / nb.name).is_file(), nb.name
    summary = json.loads((out / "figures" / reports.name / "summary.json").read_text())
    # a run with overrides is named after the profile and its overrides (paper-<overrides>)
    assert summary["profile"] == reports.name and summary["profile"].startswith("paper-")
    for section, keys in EXPECTED.items():
        assert keys <= set(summary.get(section, {})), f"{section}: missing {keys - set(summary.get(section, {}))}"
    corpus_stats = json.loads((out / "runs" / "paper" / "corpus" / "stats.json").read_text())
    assert corpus_stats["vocab_size"] == 30_522 and corpus_stats["articles"] == REHEARSAL["n_articles"]
    assert summary["hull"]["violations"] == 0
    assert summary["ssb"]["gap_final"]["symmetric"] == 0.0
    assert summary["nodes_pretrain"]["symmetric_head_jaccard"] == 1.0
    assert summary["nodes_finetune"]["symmetric_head_jaccard"] == 1.0
