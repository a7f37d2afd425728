"""Pre-training seed replicates (issue 21, item 3): the main run again with other seeds, and C2's
headline numbers across them as context."""
import numpy as np
import pandas as pd
import pytest

from ssb import backbones, claims, profiles, seed_replication


def _table(trained, untrained, seeds=None):
    seeds = list(range(len(trained))) if seeds is None else seeds
    rows = []
    for s, t, u in zip(seeds, trained, untrained):
        for kind, f in (("trained", t), ("untrained", u)):
            rows.append({"seed": s, "backbone": kind, "fraction_beyond_null": f, "fraction_beyond_null_lo": f - 0.05,
                         "fraction_beyond_null_hi": f + 0.05, "median_recognized_node": 1.0, "node_jaccard": 0.2,
                         "accuracy_full": 0.4})
    return pd.DataFrame(rows)


def test_seed_variants_are_the_main_run_with_other_seeds():
    p = profiles.get_profile("quick", seed=5, backbone_seeds=3)
    assert backbones.seed_variants(p) == ["main_seed6", "main_seed7"]
    assert backbones.seed_variants(profiles.get_profile("quick", backbone_seeds=1)) == []
    name, args = backbones._variant_run(p, "main_seed7")
    main_args = backbones._variant_run(p, "main")[1]
    assert name == "main_seed7" and args["init"] == main_args["init"] and args["steps"] == main_args["steps"]
    assert args["dropout"] == main_args["dropout"] and args["snapshot_steps"] == ()
    assert backbones._run_profile(p, "main_seed7").seed == 7 and backbones._run_profile(p, "main") is p
    with pytest.raises(ValueError, match="needs a seed"):
        backbones._variant_run(p, "main_seedx")
    with pytest.raises(ValueError, match="backbone_seeds"):
        profiles.get_profile("quick", backbone_seeds=0)


def test_split_seed_replicates_keeps_them_out_of_the_c3_runs():
    runs = {"main": 1, "symmetric": 2, "main_seed1": 3, "symmetric_eps": 4, "main_seed2": 5}
    rest, replicates = backbones.split_seed_replicates(runs)
    assert list(rest) == ["main", "symmetric", "symmetric_eps"] and list(replicates) == ["main_seed1", "main_seed2"]


def test_the_across_seed_check_is_the_mean_difference_with_a_t_interval_over_seeds():
    from scipy import stats as sp
    table = _table([0.30, 0.25, 0.35], [0.10, 0.12, 0.08])
    rec = seed_replication.across_seed_check(table)
    d = np.array([0.20, 0.13, 0.27])
    half = sp.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert rec["value"] == pytest.approx(d.mean())
    assert rec["ci"] == pytest.approx([d.mean() - half, d.mean() + half])
    assert rec["passed"] is True and rec["seeds"] == [0, 1, 2]
    # seeds that disagree: the interval crosses 0 and the check does not pass
    assert seed_replication.across_seed_check(_table([0.30, 0.05, 0.30], [0.10, 0.20, 0.12]))["passed"] is False
    # one seed: a value, no interval, never "passed"
    one = seed_replication.across_seed_check(_table([0.3], [0.1]))
    assert one["value"] == pytest.approx(0.2) and one["ci"] == [None, None] and one["passed"] is None


def test_replicate_says_why_it_did_not_run():
    p = profiles.get_profile("quick", backbone_seeds=1)
    out = seed_replication.replicate(p, probe_for=None)
    assert out.table is None and "trains one seed" in out.skipped
    out = seed_replication.replicate(profiles.get_profile("quick"), probe_for=None, checkpoint=True)
    assert out.table is None and "checkpoint" in out.skipped


def test_the_across_seed_record_is_c2_context_and_never_moves_the_verdict():
    from summaries import holding_summary
    s = holding_summary()
    assert claims.claims_summary(s)["claims"]["C2"] == "holds"               # absent: nothing changes
    rec = seed_replication.across_seed_check(_table([0.30, 0.05, 0.30], [0.10, 0.20, 0.12]))
    s["nodes_finetune"]["stats"]["checks"][seed_replication.CHECK] = {**rec, "passed": False}
    out = claims.claims_summary(s)
    assert out["claims"]["C2"] == "holds" and seed_replication.CHECK in out["stats"]["C2"]["context"]


def test_the_seed_figure_draws_every_seed_even_at_the_ends_of_the_wilson_interval():
    from ssb import plots
    table = _table([0.0, 0.25, 1.0], [0.0, 0.1, 0.2])
    table.loc[0, "fraction_beyond_null_lo"] = 1e-17               # float noise above the value
    table.loc[table.index[-2], "fraction_beyond_null_hi"] = 1.0 - 1e-17
    fig = plots.plot_seed_replication(table, "labels", seed_replication.across_seed_check(table))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["seed 0", "seed 1", "seed 2"]


def test_replicate_reads_the_main_seed_from_the_results_it_is_given(tmp_path, monkeypatch):
    from types import SimpleNamespace
    from ssb import readouts, recognition
    from test_analysis import noise_probe, synthetic_probe
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    p = profiles.get_profile("smoke", readout_epochs=30, readout_batch=64, min_hits=2, backbone_seeds=2)
    # each backbone a name; its probe synthetic: trained backbones read planted labels, untrained ones noise
    probes_of = {"main": synthetic_probe(0), f"main_seed{p.seed + 1}": synthetic_probe(1),
                 ("untrained", p.seed): noise_probe(), ("untrained", p.seed + 1): noise_probe(2)}
    monkeypatch.setattr(backbones, "backbone", lambda prof, variant, *a, **k: SimpleNamespace(
        key=variant, gate={"passed": True}))
    corpus_seeds = []                 # the profile each control's corpus comes from: always the main run's
    monkeypatch.setattr(backbones, "untrained_backbone", lambda prof, *a, seed=None, **k: corpus_seeds.append(
        prof.seed) or SimpleNamespace(key=("untrained", prof.seed if seed is None else seed), gate=None))
    read = []
    probe_for = lambda bb: read.append(bb.key) or probes_of[bb.key]
    table = seed_replication.replicate(p, probe_for, n_permutations=40, progress=False).table
    assert read == ["main", ("untrained", p.seed), f"main_seed{p.seed + 1}", ("untrained", p.seed + 1)]
    assert corpus_seeds == [p.seed, p.seed]       # seed p.seed + 1's control: the main corpus, its own weights

    def result(probe):
        return recognition.recognize(readouts.fit_readout(p, probe, 6, progress=False), probe, 6, p)

    main = seed_replication.MainSeed(backbones.backbone(p, "main"), result(probes_of["main"]),
                                     result(probes_of[("untrained", p.seed)]))
    read.clear()
    again = seed_replication.replicate(p, probe_for, n_permutations=40, progress=False, main=main).table
    assert read == [f"main_seed{p.seed + 1}", ("untrained", p.seed + 1)]      # the main seed's probes not read again
    pd.testing.assert_frame_equal(again, table)
    swapped = (main.backbone, main.untrained, main.trained)     # the rows come from the results given (a plain tuple)
    other = seed_replication.replicate(p, probe_for, n_permutations=40, progress=False, main=swapped).table
    assert table.loc[0, "fraction_beyond_null"] != table.loc[1, "fraction_beyond_null"]
    assert other.loc[0, "fraction_beyond_null"] == table.loc[1, "fraction_beyond_null"]


def test_a_seed_replicates_control_reads_the_main_corpus_with_its_own_weights(monkeypatch):
    """backbones.untrained_backbone(profile, seed=s): the initialisation of main_seed<s>, which reads
    the profile's corpus and tokenizer (``backbones.pretrained``) and takes its weights from s --
    not the corpus of profile.replace(seed=s), whose preparation would split (and, for a seeded
    article sample, tokenise) anew and replace the main run's corpus cache."""
    from conftest import word_tokenizer
    from ssb.cache_keys import weights_fingerprint
    from ssb.corpus import Corpus
    from ssb.model import build_bert6, profile_shape
    p = profiles.get_profile("smoke", seed=3)
    tok = word_tokenizer(["alpha", "beta", "gamma"])
    asked = []
    monkeypatch.setattr(backbones, "prepare_corpus", lambda prof, *a, **k: asked.append(prof) or Corpus(
        tok, np.zeros((1, 4), np.int64), np.zeros((1, 4), np.int64)))
    own = backbones.untrained_backbone(p)
    other = backbones.untrained_backbone(p, seed=p.seed + 1)
    assert asked == [p, p] and other.tokenizer is tok
    arch = profile_shape(p, dropout=0.0, pad_token_id=tok.pad_token_id)
    assert weights_fingerprint(own.model) == weights_fingerprint(build_bert6(len(tok), seed=p.seed, **arch).bert)
    assert weights_fingerprint(other.model) == weights_fingerprint(build_bert6(len(tok), seed=p.seed + 1, **arch).bert)
    assert weights_fingerprint(own.model) != weights_fingerprint(other.model)
