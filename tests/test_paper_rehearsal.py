"""A `paper`-shape rehearsal on the CPU: all seven notebooks end to end with the `paper` profile
(d_h 64, hidden 768, 12 heads, 6 blocks, 128 tokens, a 30,522-entry vocabulary, corpus
"wikipedia", tokenizer "bert-base-uncased", FewRel train_wiki.json) on tiny data and few steps,
offline, from a staged data directory in the layout the README gives:

    D/wikipedia/*.txt                  one article per file (here: WikiText-103 articles)
    D/bert-base-uncased/               tokenizer files (here: a WordPiece padded to 30,522 with [unused*])
    D/fewrel/train_wiki.json           (here: 16 relations x 20 instances of val_wiki.json)

It checks every summary key the smoke run checks (tests/test_notebooks.py: EXPECTED) and the
exact-symmetry invariants.  Not in the default test run (marker ``rehearsal``; 11 min 42 s on the
2-core VM, all seven notebooks 671 s): ``./run_tests.sh -m rehearsal``.  Wall time: docs/benchmarks.md ("paper" section).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from notebook_outputs import EXPECTED, NOTEBOOKS
from paper_vocabulary import paper_tokenizer

REPO = Path(__file__).resolve().parents[1]

# tiny data and few steps at the paper's shape; every other field is the `paper` profile's
REHEARSAL = {
    "n_articles": 60, "eval_fraction": 0.2, "steps": 4, "ssb_steps": 4, "batch_size": 4, "warmup_steps": 1,
    "eval_every": 2, "eval_batches": 1, "checkpoint_every": 100, "token_examples": 1500, "head_epochs": 3,
    "token_head_epochs": 2, "head_patience": 2, "min_count": 2, "n_train_per_relation": 15,
    "n_test_per_relation": 5, "finetune_steps": 2, "finetune_batch": 4, "crossover_sets": 3,
    "crossover_points": 3, "hull_max_sets": 3, "hull_max_n": 3, "device": "cpu",
}

# the notebooks' own parameters, passed to the notebooks that declare them: few permutations and
# one probe seed (the shape, not the statistics, is rehearsed)
NOTEBOOK_PARAMETERS = {"n_permutations": 10, "n_seeds": 1}


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
    (root / "fewrel" / "train_wiki.json").write_text(json.dumps({rel: items[:20] for rel, items in val.items()}))
    return root


@pytest.mark.slow
@pytest.mark.rehearsal
def test_paper_shape_rehearsal_all_notebooks(tmp_path, data_dir):
    staged = stage_paper_data(tmp_path / "data", Path(data_dir))
    env = {**os.environ, "SSB_OUTPUT_DIR": str(tmp_path / "out"), "SSB_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("SSB_DATA_DIR", None)
    overrides = [arg for k, v in {**REHEARSAL, **NOTEBOOK_PARAMETERS}.items() for arg in ("-p", k, str(v))]
    proc = subprocess.run([sys.executable, "-m", "ssb.runner", "--profile", "paper", "--data-dir", str(staged),
                           "--no-html", *overrides], cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, f"rehearsal failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    (reports,) = (tmp_path / "out" / "reports").glob("paper*")        # paper-<overrides>: its own folder
    for nb in NOTEBOOKS:
        assert (reports / nb.name).is_file(), nb.name
    summary = json.loads((tmp_path / "out" / "figures" / reports.name / "summary.json").read_text())
    # a run with overrides is named after the profile and its overrides (paper-<overrides>)
    assert summary["profile"] == reports.name and summary["profile"].startswith("paper-")
    for section, keys in EXPECTED.items():
        assert keys <= set(summary.get(section, {})), f"{section}: missing {keys - set(summary.get(section, {}))}"
    corpus_stats = json.loads((tmp_path / "out" / "runs" / "paper" / "corpus" / "stats.json").read_text())
    assert corpus_stats["vocab_size"] == 30_522 and corpus_stats["articles"] == REHEARSAL["n_articles"]
    assert summary["hull"]["violations"] == 0
    assert summary["ssb"]["gap_final"]["symmetric"] == 0.0
    assert summary["nodes_pretrain"]["symmetric_head_jaccard"] == 1.0
    assert summary["nodes_finetune"]["symmetric_head_jaccard"] == 1.0
