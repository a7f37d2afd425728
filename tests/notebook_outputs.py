"""What every run of the seven notebooks must leave behind, shared by the smoke run
(test_notebooks.py) and the paper-shape rehearsal (test_paper_rehearsal.py): the notebooks in
order and the summary.json keys each section must hold."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))

EXPECTED = {
    "pretrain": {"steps", "tokens_seen", "mlm_accuracy", "baseline_accuracy", "tokens_per_second"},
    "ssb": {"gap_final"},
    "apt": {"mean_by_layer", "spearman_freq"},
    "nodes_pretrain": {"median_tokens_recognized_node", "median_tokens_recognized_head", "mean_jaccard_nodes",
                       "random_head_jaccard", "symmetric_head_jaccard", "stats", "untrained",
                       "median_tokens_recognized_node_chance_rule", "along_blocks"},
    "finetune": {"n_labels", "accuracy_by_layer", "accuracy_full_finetune", "pooling", "stats"},
    "nodes_finetune": {"median_labels_recognized_node", "median_labels_recognized_head",
                       "mean_diagonal_confidence_node", "random_head_jaccard", "symmetric_head_jaccard", "stats",
                       "untrained", "median_labels_recognized_node_chance_rule", "along_blocks"},
    "crossover": {"n", "accuracy_mean", "accuracy_std", "recognized_mean", "union_individual_mean",
                  "sum_individual_gain_mean", "silent_accuracy", "has_dip", "n_min"},
    "hull": {"single_node_bound_median", "single_node_bound_observed_median", "single_node_realized_median",
             "efficiency_by_n", "violations"},
}
