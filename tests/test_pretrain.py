"""MLM pre-training (ssb.pretrain): determinism, the symmetric-initialisation control,
resume-exactness, reuse of finished runs, and what a finished run leaves on disk.

Everything runs on a tiny synthetic corpus with a fixed-vocabulary tokenizer (no
training, so the same ids in every process) and a 2-block BERT with d_head 4.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ssb.pretrain as pretrain_mod
from ssb.mlm import MaskingSpec
from ssb.model import build_bert6, head_gap
from ssb.pretrain import Interrupted, global_batch, pretrain
from ssb import heldout, symmetry_runs
from tiny_pretraining import run, state, tiny_profile

pytestmark = pytest.mark.usefixtures("one_thread")      # conftest.py


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def without_elapsed(log: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "elapsed"} for row in log]


# ---------------------------------------------------------------------------- (a) determinism

def test_same_seed_same_weights_other_seed_differs(data, tmp_path):
    a = run(data, tmp_path / "a")
    b = run(data, tmp_path / "b")
    assert_same_weights(state(a.model), state(b.model))
    assert without_elapsed(a.log) == without_elapsed(b.log)
    c = run(data, tmp_path / "c", profile=tiny_profile(seed=1))
    differing = [k for k, v in state(a.model).items() if not torch.equal(v, state(c.model)[k])]
    assert len(differing) > 10
    # training moved the weights away from the initialisation
    init = state(build_bert6(len(data[0]), seed=0, n_blocks=2, n_heads=12, d_head=4, max_len=16))
    assert not torch.equal(init["bert.encoder.layer.1.attention.self.query.weight"],
                           state(a.model)["bert.encoder.layer.1.attention.self.query.weight"])


def test_global_batch_is_a_function_of_seed_and_step(data):
    tok, train, _ = data
    spec = MaskingSpec.from_tokenizer(tok)
    a = global_batch(train, spec, batch_size=8, step=5, seed=0)
    b = global_batch(train, spec, batch_size=8, step=5, seed=0)
    c = global_batch(train, spec, batch_size=8, step=6, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    inputs, attention_mask, labels = a
    assert inputs.shape == attention_mask.shape == labels.shape == (8, 16)
    assert ((labels != -100).sum() > 0) and (labels[inputs == tok.cls_token_id] == -100).all()


# ---------------------------------------------------------------------------- (b) symmetric control

def test_symmetric_init_stays_exactly_symmetric(data, tmp_path):
    sym = run(data, tmp_path / "sym", init="symmetric")
    assert [row["gap"] for row in sym.log] == [0.0] * len(sym.log)
    assert head_gap(sym.model) == 0.0
    assert sym.log[-1]["eval_loss"] < sym.log[0]["eval_loss"]       # it did train


def test_symmetric_eps_gap_grows_and_random_is_order_one(data, tmp_path):
    eps = tiny_profile().ssb_eps
    pert = run(data, tmp_path / "eps", init="symmetric_eps", steps=30)
    gaps = [row["gap"] for row in pert.log]
    assert gaps[0] == pytest.approx(eps, rel=1e-3)
    assert gaps[-1] > 2 * eps                                        # the perturbation is amplified
    rand = run(data, tmp_path / "rand", init="random", steps=3)
    assert all(0.5 < row["gap"] < 5 for row in rand.log)


def test_symmetric_init_with_dropout_breaks(data, tmp_path):
    """Stochastic dynamics (dropout 0.1) break the symmetry without any perturbation."""
    noisy = run(data, tmp_path / "noisy", init="symmetric", dropout=0.1, steps=3)
    assert noisy.log[0]["gap"] == 0.0 and noisy.log[-1]["gap"] > 0.0


def test_node_symmetric_stays_bit_identical_and_eps_breaks_it(data, tmp_path):
    """The single-nodal control: identical nodes inside each head stay identical under
    deterministic training (exact per-node gradients); a perturbation of size eps grows."""
    from ssb.model import node_gap
    sym = run(data, tmp_path / "node", init="node_symmetric", steps=6)
    assert [row["node_gap"] for row in sym.log] == [0.0] * len(sym.log)
    assert node_gap(sym.model) == 0.0 and sym.log[-1]["gap"] > 0.1      # heads differ, nodes do not
    assert sym.log[-1]["eval_loss"] < sym.log[0]["eval_loss"]          # it did train
    eps = tiny_profile().ssb_eps
    pert = run(data, tmp_path / "node_eps", init="node_symmetric_eps", steps=30)
    assert pert.log[0]["node_gap"] == pytest.approx(eps, rel=1e-3)
    assert pert.log[-1]["node_gap"] > 2 * eps


def test_symmetric_dropout_variant_runs_and_is_gated(data, tmp_path, monkeypatch):
    """backbones.pretrained("symmetric_dropout"): symmetric init, dropout ssb_dropout, ssb_steps."""
    from ssb import backbones
    from ssb.corpus import Corpus
    profile = tiny_profile(ssb_steps=4, ssb_dropout=0.1)
    monkeypatch.setattr(backbones, "runs_dir", lambda p: tmp_path)
    tok, train, held = data
    c = Corpus(tok, train, held)
    r = backbones.pretrained(profile, "symmetric_dropout", corpus_=c, progress=False)
    assert r.out_dir == tmp_path / "pretrain" / "symmetric_dropout"
    assert r.config["init"] == "symmetric" and r.config["dropout"] == 0.1 and r.config["steps"] == 4
    assert r.log[0]["gap"] == 0.0 and r.log[-1]["gap"] > 0.0
    rec = symmetry_runs.variant_record(r)
    assert rec["steps"] == 4 and rec["gate"]["name"] == "backbone learned"
    # "random" is the main run: same directory, same configuration, nothing retrained
    main = backbones.pretrained(profile, "main", corpus_=c, progress=False)
    alias = backbones.pretrained(profile, "random", corpus_=c, progress=False)
    assert alias.out_dir == main.out_dir == tmp_path / "pretrain" / "main"
    assert alias.config == main.config and alias.log == main.log


def test_profile_snapshots_keep_the_main_runs_weights_on_the_study_grid(data, tmp_path, monkeypatch):
    """profile.snapshots: the main run (only) keeps snapshots at 25, 50, ... and its last step."""
    from ssb import backbones
    from ssb.corpus import Corpus
    from ssb.bench import learning
    monkeypatch.setattr(backbones, "runs_dir", lambda p: tmp_path)
    tok, train, held = data
    c = Corpus(tok, train, held)
    profile = tiny_profile(steps=60, ssb_steps=3, snapshots=True)
    main = backbones.pretrained(profile, "main", corpus_=c, progress=False)
    assert sorted(learning.snapshot_dirs(main.out_dir / "snapshots")) == [25, 50, 60]
    sym = backbones.pretrained(profile, "symmetric", corpus_=c, progress=False)
    assert not (sym.out_dir / "snapshots").exists()
    # the field does not enter the run's configuration: switching it on later reuses the run
    again = backbones.pretrained(profile.replace(snapshots=False), "main", corpus_=c, progress=False)
    assert again.config == main.config


# ---------------------------------------------------------------------------- backbone gate

def test_backbone_evaluation_covers_every_heldout_block(data, tmp_path):
    tok, train, held = data
    result = run(data, tmp_path / "gate", profile=tiny_profile(steps=80, lr=5e-3, eval_every=40, eval_batches=4))
    ev = result.backbone
    assert json.loads((result.final_dir / "backbone_eval.json").read_text()) == ev
    spec = MaskingSpec.from_tokenizer(tok)
    pred = heldout.heldout_predictions(result.model, held, spec, seed=0, baseline_token=ev["baseline_token"],
                                            batch_size=5)
    assert ev["n_positions"] == len(pred["labels"]) > 0
    # fixed masks: every selected position of every held-out sequence, whatever the batch size
    pred2 = heldout.heldout_predictions(result.model, held, spec, seed=0, baseline_token=ev["baseline_token"],
                                             batch_size=64)
    assert np.array_equal(pred["labels"], pred2["labels"])
    assert np.array_equal(pred["model_correct"], pred2["model_correct"])
    assert ev["mlm_accuracy"] == pytest.approx(pred["model_correct"].mean())
    assert ev["baseline_accuracy"] == pytest.approx((pred["labels"] == ev["baseline_token"]).mean())
    g = ev["gate"]
    assert g["passed"] is True and g["p"] < 0.05 and g["value"] > g["null"]      # this model learned


def test_backbone_gate_fails_at_the_baseline():
    baseline = np.array([True] * 50 + [False] * 950)
    g = heldout.backbone_gate(baseline.copy(), baseline)           # predicts exactly what the baseline does
    assert g["passed"] is False and g["p"] == 1.0
    worse = baseline.copy()
    worse[:10] = False
    assert heldout.backbone_gate(worse, baseline)["passed"] is False


def test_ssb_section_checks(data, tmp_path):
    runs = {"main": run(data, tmp_path / "m", steps=3),
            "symmetric": run(data, tmp_path / "s", init="symmetric", steps=3),
            "node_symmetric": run(data, tmp_path / "n", init="node_symmetric", steps=3),
            "symmetric_eps": run(data, tmp_path / "e", init="symmetric_eps", steps=30)}
    sec = symmetry_runs.ssb_section(runs, eps=1e-4, ssb_steps=3)
    assert set(sec["gap_final"]) == {"random", "symmetric", "node_symmetric", "symmetric_eps"}
    checks = sec["stats"]["checks"]
    assert checks["symmetric_exact"]["passed"] is True and checks["symmetric_exact"]["direction"] == "equal"
    assert checks["node_symmetric_exact"]["passed"] is True and sec["node_gap_final"] == 0.0
    amp = checks["eps_amplified"]
    assert amp["value"] > 0 and amp["ci"][0] > 0 and amp["passed"] is True and amp["points"] >= 3
    assert set(sec["stats"]["gates"]) == set(runs)
    # a symmetric run that drifted fails its invariant
    runs["symmetric"].log[-1]["gap"] = 1e-9
    assert symmetry_runs.ssb_section(runs, eps=1e-4, ssb_steps=3)["stats"]["checks"]["symmetric_exact"]["passed"] is False
    with pytest.raises(ValueError, match="main"):
        symmetry_runs.ssb_section({"symmetric": runs["symmetric"]}, eps=1e-4, ssb_steps=3)


# ---------------------------------------------------------------------------- (c) resume

@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_interrupted_then_resumed_equals_uninterrupted(data, tmp_path, dropout):
    whole = run(data, tmp_path / "whole", dropout=dropout)
    with pytest.raises(Interrupted):
        # checkpoints every 2 steps: the last one (step 4) lies inside the log window 3..6
        run(data, tmp_path / "cut", dropout=dropout, stop_after=5)
    assert not (tmp_path / "cut" / "final").exists()
    saved = torch.load(tmp_path / "cut" / "checkpoint" / "trainer_state.pt", weights_only=False)
    assert saved["step"] == 4
    resumed = run(data, tmp_path / "cut", dropout=dropout)
    assert_same_weights(state(whole.model), state(resumed.model))
    assert without_elapsed(whole.log) == without_elapsed(resumed.log)
    assert not (tmp_path / "cut" / "checkpoint").exists()


# ---------------------------------------------------------------------------- (d) reuse

@pytest.fixture
def counted_steps(monkeypatch):
    """Counts calls of ssb.pretrain.train_step (still training for real)."""
    calls = []
    original = pretrain_mod.train_step

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pretrain_mod, "train_step", counting)
    return calls


def test_finished_run_is_reused_force_and_changes_retrain(data, tmp_path, counted_steps):
    first = run(data, tmp_path / "r", steps=4)
    assert len(counted_steps) == 4
    again = run(data, tmp_path / "r", steps=4)
    assert len(counted_steps) == 4                                  # not one more step
    assert again.log == first.log
    assert_same_weights(state(first.model), state(again.model))
    assert not again.model.training

    run(data, tmp_path / "r", steps=4, force=True)
    assert len(counted_steps) == 8
    run(data, tmp_path / "r", steps=4, profile=tiny_profile(lr=1e-3))   # another configuration
    assert len(counted_steps) == 12
    run(data, tmp_path / "r", steps=5, profile=tiny_profile(lr=1e-3))
    assert len(counted_steps) == 17
    tok, train, held = data
    pretrain(tiny_profile(lr=1e-3), tmp_path / "r", tok, train[:-1], held, steps=5, progress=False)   # other data
    assert len(counted_steps) == 22


def test_a_run_whose_configuration_names_a_renamed_field_is_still_reused(data, tmp_path, counted_steps):
    """run_config.json written before n_layers became n_blocks (pretrain.RUN_CONFIG_RENAMED) still
    names this configuration's run: reused, not retrained; another value of the field is not."""
    import json
    run(data, tmp_path / "r", steps=3)
    saved = tmp_path / "r" / "final" / "run_config.json"
    cfg = json.loads(saved.read_text())
    cfg["n_layers"] = cfg.pop("n_blocks")
    saved.write_text(json.dumps(cfg))
    run(data, tmp_path / "r", steps=3)
    assert len(counted_steps) == 3                                  # reused: not one more step
    cfg["n_layers"] = cfg["n_layers"] + 1
    saved.write_text(json.dumps(cfg))
    run(data, tmp_path / "r", steps=3)
    assert len(counted_steps) == 6                                  # another architecture: retrained


# ---------------------------------------------------------------------------- (e) log and final dir

def test_log_and_final_directory(data, tmp_path):
    from transformers import BertForMaskedLM

    result = run(data, tmp_path / "e")
    assert [row["step"] for row in result.log] == [0, 3, 6, 9]
    for row in result.log:
        assert 0.0 <= row["eval_accuracy"] <= 1.0 and 0.0 < row["baseline_accuracy"] < 1.0
        assert row["eval_loss"] > 0 and row["gap"] > 0
    assert result.log[0]["loss"] is None and all(row["loss"] > 0 for row in result.log[1:])
    assert result.log[-1]["lr"] == 0.0                               # the linear schedule ends at 0
    assert result.last("eval_accuracy") == result.log[-1]["eval_accuracy"]

    final = tmp_path / "e" / "final"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                 "run_config.json", "train_log.json", "backbone_eval.json"):
        assert (final / name).is_file(), name
    assert not (tmp_path / "e" / "checkpoint").exists()
    assert json.loads((final / "train_log.json").read_text()) == result.log
    cfg = json.loads((final / "run_config.json").read_text())
    assert cfg["steps"] == 9 and cfg["init"] == "random" and cfg["tokens_seen"] == 9 * 8 * 16
    loaded = BertForMaskedLM.from_pretrained(final)
    assert_same_weights(state(result.model), state(loaded))
    from ssb.tokenizer import load_tokenizer
    assert load_tokenizer(final).get_vocab() == data[0].get_vocab()


def test_model_learns_beyond_the_baseline(data, tmp_path):
    result = run(data, tmp_path / "learn", profile=tiny_profile(steps=80, lr=5e-3, eval_every=40, eval_batches=4))
    first, last = result.log[0], result.log[-1]
    assert last["eval_loss"] < 0.6 * first["eval_loss"]
    assert last["eval_accuracy"] > last["baseline_accuracy"] + 0.1


def test_bad_arguments(data, tmp_path):
    with pytest.raises(ValueError, match="steps"):
        run(data, tmp_path / "bad", steps=0)
    with pytest.raises(ValueError, match="init"):
        run(data, tmp_path / "bad", init="mirror")


# ---------------------------------------------------------------------------- learning-budget study

def test_learning_study_evaluates_snapshots_and_caches(data, tmp_path, monkeypatch):
    from ssb import corpus
    from ssb.bench import learning
    tok, train, held = data
    profile = tiny_profile(steps=40, lr=5e-3, eval_every=20)
    pretrain(profile, tmp_path / "study", tok, train, held, progress=False, snapshot_steps=(5, 40))
    snaps = learning.snapshot_dirs(tmp_path / "study" / "snapshots")
    assert sorted(snaps) == [5, 40]
    monkeypatch.setattr(corpus, "prepare", lambda *a, **k: corpus.Corpus(tok, train, held))
    calls = []
    real = learning.evaluate_snapshot
    monkeypatch.setattr(learning, "evaluate_snapshot", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    stem = tmp_path / "docs" / "learning_budget"
    firsts = learning.evaluate(profile, tmp_path / "study" / "snapshots", tmp_path / "cache", stem, fewrel=False,
                               progress=False)
    assert len(calls) == 2
    df = __import__("pandas").read_csv(stem.with_suffix(".csv"))
    assert list(df["step"]) == [5, 40] and list(df["tokens"]) == [5 * 8 * 16, 40 * 8 * 16]
    assert (df["heldout_positions"] > 0).all() and df["head_gap"].gt(0).all()
    assert bool(df["backbone_gate"].iloc[-1]) and firsts["backbone_gate"]["step"] in (5, 40)
    assert stem.with_suffix(".png").stat().st_size > 0 and "First step" in stem.with_suffix(".md").read_text()
    # re-running evaluates nothing again (cached per snapshot)
    learning.evaluate(profile, tmp_path / "study" / "snapshots", tmp_path / "cache", stem, fewrel=False, progress=False)
    assert len(calls) == 2
    # with the token probes: the profile's K at every block, the other K at the analysed block
    profile = profile.replace(token_classes=8, token_examples=600, token_readout_epochs=3)
    learning.evaluate(profile, tmp_path / "study" / "snapshots", tmp_path / "cache", stem, fewrel=False,
                      token_probe=True, progress=False)
    df = __import__("pandas").read_csv(stem.with_suffix(".csv"))
    assert len(calls) == 4
    for b in range(1, profile.n_blocks + 1):
        assert {f"token8_b{b}_accuracy", f"token8_b{b}_constant", f"token8_b{b}_gate"} <= set(df.columns)
    # the grid's 64 and 256 exceed this test vocabulary: they are the whole vocabulary ("all")
    assert {"tokenall_b2_accuracy", "token_accuracy", "token_gate"} <= set(df.columns)
    assert not any(c.startswith(("token64_", "token256_")) for c in df.columns)
    assert list(df["token_accuracy"]) == list(df["token8_b2_accuracy"])
    md = stem.with_suffix(".md").read_text()
    assert "Token probe by block and class count" in md and "token probe > constant predictor" in md


def test_first_passing_needs_the_gate_to_stay_passed():
    from ssb.bench.learning import first_passing
    from ssb.pretrain import snapshot_grid
    rows = [{"step": s, "tokens": 10 * s, "g": p} for s, p in ((25, False), (50, True), (100, False), (200, True), (400, True))]
    assert first_passing(rows, "g") == {"step": 200, "tokens": 2000}
    assert first_passing([{"step": 1, "tokens": 1, "g": False}], "g") is None
    assert snapshot_grid(200) == [25, 50, 100, 200]


# ---------------------------------------------------------------------------- runs in parallel processes

def test_runs_trained_in_parallel_processes_equal_runs_trained_alone(data, tmp_path, monkeypatch, capsys):
    """backbones.pretrained_runs on 2 worker processes (1 thread each) gives bit-identical weights
    and logs to the same runs trained one by one in this process, and reuses finished runs."""
    from ssb import backbones
    from ssb.corpus import Corpus
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "parallel"))   # the spawned workers see it too
    tok, train, held = data
    c = Corpus(tok, train, held)
    profile = tiny_profile(ssb_steps=5)
    names = ["main", "symmetric", "node_symmetric"]
    par = backbones.pretrained_runs(profile, names, corpus_=c, progress=True, workers=2)
    assert list(par) == names
    said = capsys.readouterr().out                       # what a saved notebook keeps of the progress
    assert "pre-trained main, symmetric, node_symmetric: 19 steps" in said and "2 processes x 1 thread(s)" in said
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "alone"))
    for v in names:
        alone = backbones.pretrained(profile, v, corpus_=c, progress=False)
        assert alone.out_dir != par[v].out_dir
        assert_same_weights(state(par[v].model), state(alone.model))
        assert without_elapsed(par[v].log) == without_elapsed(alone.log)
    assert par["symmetric"].log[-1]["gap"] == 0.0 and par["node_symmetric"].log[-1]["node_gap"] == 0.0
    # finished runs are loaded, not retrained: no worker is started
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "parallel"))
    monkeypatch.setattr(backbones, "train_in_parallel", lambda *a, **k: pytest.fail("retrained a finished run"))
    again = backbones.pretrained_runs(profile, ["random", "symmetric"], corpus_=c, progress=False, workers=2)
    assert again["random"].out_dir == par["main"].out_dir
    with pytest.raises(ValueError, match=r"workers must be >= 0 \(0: one per core\), got -1"):
        backbones.pretrained_runs(profile, ["random"], corpus_=c, progress=False, workers=-1)   # nothing pending


def test_pretrain_threads_fix_the_weights_whatever_torchs_thread_setting(data, tmp_path):
    """profile.pretrain_threads, not the caller's torch setting, decides the intra-op threads
    (rounding depends on them), and the caller's setting is restored."""
    profile = tiny_profile(steps=4, pretrain_threads=1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = run(data, tmp_path / "a", profile=profile)
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        b = run(data, tmp_path / "b", profile=profile)
    finally:
        torch.set_num_threads(before)
    assert_same_weights(state(a.model), state(b.model))
    assert a.config["pretrain_threads"] == 1


def test_worker_plan_balances_the_busiest_worker():
    """pretrain_workers.worker_plan: the least possible load on the busiest worker, every run once."""
    from ssb.pretrain_workers import worker_plan
    costs = {"main": 300, "node_symmetric": 320, "symmetric": 230, "symmetric_eps": 230, "symmetric_dropout": 230}
    plan = worker_plan(costs, 2)
    assert sorted(n for b in plan for n in b) == sorted(costs)
    assert max(sum(costs[n] for n in b) for b in plan) == 690          # {main, node_symmetric} | the rest
    assert worker_plan(costs, 1) == [sorted(costs, key=lambda n: (-costs[n], n))]
    assert len(worker_plan(costs, 9)) == 5                              # never an idle worker
    many = {str(i): float(i) for i in range(40)}                       # too many to try: longest first
    loads = [sum(many[n] for n in b) for b in worker_plan(many, 4)]
    assert max(loads) - min(loads) <= 39 and sum(loads) == sum(many.values())
    with pytest.raises(ValueError, match="n_workers"):
        worker_plan(costs, 0)


# ----------------------------------------------------------------------------- exact symmetry: guard and fallback

def _break_symmetry_in(monkeypatch, precisions: tuple[str, ...]):
    """Make the training step of the given precisions do what a kernel that rounds one head
    differently would do (nudge one weight of head 0), and let bf16 "autocast" on the CPU
    (the step itself still runs in float32).  Returns the list of steps taken, as (use_bf16,)."""
    real_step = pretrain_mod.train_step
    taken = []

    def step(net, model, optimizer, *args, use_bf16=False, **kwargs):
        out = real_step(net, model, optimizer, *args, use_bf16=False, **kwargs)
        taken.append(use_bf16)
        if ("bf16" if use_bf16 else "no") in precisions:
            with torch.no_grad():
                model.bert.encoder.layer[0].attention.self.query.weight[0, 0] += 1e-3
        return out

    monkeypatch.setattr(pretrain_mod, "train_step", step)
    monkeypatch.setattr(pretrain_mod, "bf16_autocast", lambda profile, device: profile.mixed_precision == "bf16")
    return taken


def test_symmetry_broken_by_bf16_is_retrained_in_float32(data, tmp_path, monkeypatch):
    taken = _break_symmetry_in(monkeypatch, ("bf16",))
    bf16 = tiny_profile(mixed_precision="bf16", steps=6)
    with pytest.warns(UserWarning, match=r"stopped being bit-identical at step 3 .* trained again from step 0 in float32"):
        sym = run(data, tmp_path / "sym", profile=bf16, init="symmetric")
    assert taken[:3] == [True] * 3 and taken[3:] == [False] * 6         # 3 bf16 steps, then 6 in float32
    assert [row["gap"] for row in sym.log] == [0.0] * len(sym.log) and head_gap(sym.model) == 0.0
    saved = json.loads((tmp_path / "sym" / "final" / "run_config.json").read_text())
    assert saved["mixed_precision"] == "no" and saved["precision_fallback"] == "bf16"
    assert not (tmp_path / "sym" / "checkpoint").exists()
    # the same weights as a run asked for in float32
    direct = run(data, tmp_path / "fp32", profile=tiny_profile(mixed_precision="no", steps=6), init="symmetric")
    for name, tensor in state(direct.model).items():
        assert torch.equal(tensor, state(sym.model)[name]), name
    # a bf16 profile reuses the fallback run: no step is taken again
    taken.clear()
    tok, train, held = data
    assert pretrain_mod.pretrain_finished(bf16, tmp_path / "sym", tok, train, held, init="symmetric")
    again = run(data, tmp_path / "sym", profile=bf16, init="symmetric")
    assert taken == [] and again.config["precision_fallback"] == "bf16"


def test_symmetry_broken_in_float32_stops_with_the_way_out(data, tmp_path, monkeypatch):
    _break_symmetry_in(monkeypatch, ("no", "bf16"))
    with pytest.raises(pretrain_mod.SymmetryBroken, match=r"heads stopped being bit-identical at step 3.*on the CPU this is a bug"):
        run(data, tmp_path / "sym", profile=tiny_profile(mixed_precision="no", steps=6), init="symmetric")
    assert not (tmp_path / "sym" / "final").exists()
    # node_symmetric is guarded on its node gap; random and the eps/dropout variants are not guarded
    with pytest.warns(UserWarning, match="node_symmetric variant's nodes stopped"):
        with pytest.raises(pretrain_mod.SymmetryBroken, match="nodes stopped being bit-identical"):
            run(data, tmp_path / "node", profile=tiny_profile(mixed_precision="bf16", steps=6), init="node_symmetric")
    assert run(data, tmp_path / "eps", profile=tiny_profile(steps=6), init="symmetric_eps").log[-1]["gap"] > 0


def test_the_corpus_is_hashed_once(tmp_path, monkeypatch):
    """A run's configuration records its data's fingerprints: a Corpus hashes its blocks once,
    and the check for a finished run and the run itself reuse them."""
    from types import SimpleNamespace
    from ssb.corpus import Corpus
    hashed = []
    fingerprint = pretrain_mod.array_fingerprint
    monkeypatch.setattr(pretrain_mod, "array_fingerprint", lambda *a: hashed.append(1) or fingerprint(*a))
    tok = SimpleNamespace(get_vocab=lambda: {"[PAD]": 0, "a": 1})
    blocks = np.arange(40).reshape(5, 8)
    c = Corpus(tok, blocks[:4], blocks[4:])
    assert c.fingerprints == c.fingerprints and len(hashed) == 1
    profile = tiny_profile()
    for _ in range(2):
        assert not pretrain_mod.pretrain_finished(profile, tmp_path / "run", tok, c.train_sequences, c.eval_sequences,
                                                  fingerprints=c.fingerprints)
    assert len(hashed) == 1
    assert pretrain_mod.data_fingerprints(tok, c.train_sequences, c.eval_sequences) == c.fingerprints


# ---------------------------------------------------------------------------- (b') C3's eps grid and divergence

def test_eps_grid_variants_train_with_their_own_eps_and_keep_the_core_cache(data, tmp_path, monkeypatch):
    """One symmetric + eps variant per eps of the grid: the core eps is symmetric_eps itself (its
    run configuration -- the cache key -- unchanged), the others symmetric_eps_<eps>, each started
    at g(0) = its eps; ssb_section records one growth check per eps."""
    from ssb import backbones, profiles
    from ssb.corpus import Corpus
    profile = tiny_profile(ssb_steps=6, ssb_eps_grid="1e-6,1e-4,1e-2")
    assert backbones.ssb_variants(profile) == ["symmetric", "symmetric_eps", "symmetric_dropout", "node_symmetric",
                                              "symmetric_eps_1e-06", "symmetric_eps_1e-02"]
    monkeypatch.setattr(backbones, "runs_dir", lambda p: tmp_path)
    tok, train, held = data
    c = Corpus(tok, train, held)
    core = backbones.pretrained(profile, "symmetric_eps", corpus_=c, progress=False)
    before = pretrain_mod._data_run_config(profile, tok, train, held, init="symmetric_eps", steps=6, dropout=0.0)
    assert core.config == before and core.config["eps"] == profile.ssb_eps     # the key the core run always had
    runs = {"main": backbones.pretrained(profile, "main", corpus_=c, progress=False), "symmetric_eps": core}
    for eps in (1e-6, 1e-2):
        v = profiles.eps_variant(profile, eps)
        r = backbones.pretrained(profile, v, corpus_=c, progress=False)
        assert r.out_dir == tmp_path / "pretrain" / v and r.config["eps"] == eps
        assert r.log[0]["gap"] == pytest.approx(eps, rel=1e-2)
        assert profiles.variant_eps(profile, v) == eps
        runs[v] = r
    section = symmetry_runs.ssb_section(runs, eps=profile.ssb_eps, ssb_steps=6)
    checks = section["stats"]["checks"]
    assert set(checks) == {"eps_amplified", "eps_amplified_1e-06", "eps_amplified_1e-02"}
    assert checks["eps_amplified_1e-02"]["eps"] == 1e-2 and checks["eps_amplified"]["eps"] == 1e-4
    with pytest.raises(ValueError, match="unknown variant"):
        backbones.pretrained(profile, "symmetric_epsilon", corpus_=c, progress=False)


def test_eps_grid_is_validated_and_overridable():
    from ssb import profiles
    assert profiles.eps_grid(profiles.get_profile("quick")) == (1e-6, 1e-4, 1e-2)
    assert profiles.eps_grid(profiles.get_profile("smoke")) == (1e-4, 1e-2)
    assert profiles.eps_grid(profiles.get_profile("quick", ssb_eps_grid="1e-3")) == (1e-3,)
    for bad in ("", "0", "1e-4,1e-4", "2", "1e-4;1e-2", "small"):
        with pytest.raises(ValueError, match="ssb_eps_grid"):
            profiles.get_profile("quick", ssb_eps_grid=bad)
    assert profiles.eps_tag(1e-6) == "1e-06" and profiles.eps_tag(2.5e-5) == "2p5e-05"
    p = profiles.get_profile("quick")
    assert profiles.variant_eps(p, profiles.eps_variant(p, 2.5e-5)) == 2.5e-5


def test_divergence_fails_for_identical_models_and_passes_for_a_model_that_left(data, tmp_path):
    """eps_diverges: two identical models are no closer or further than -- in fact closer than -- the
    unamplified perturbation, so the check must fail (interval below 0); a model trained apart
    (the random run against the symmetric one) passes."""
    tok, train, held = data
    spec = MaskingSpec.from_tokenizer(tok)
    sym = run(data, tmp_path / "sym", init="symmetric", steps=6)
    same, _ = symmetry_runs.divergence_check(sym.model, sym.model, held, spec, eps=1e-4, seed=0, n_boot=200)
    assert same["value"] < 0 and same["passed"] is False and same["ci"][1] < 0
    assert same["tv_eps"] == 0.0 and same["disagree_eps"] == 0.0 and same["tv_unamplified"] > 0
    other = run(data, tmp_path / "rand", init="random", steps=6)
    init = tuple(build_bert6(len(tok), seed=0, init=i, eps=1e-4, n_blocks=2, n_heads=12, d_head=4, max_len=16).eval()
                 for i in ("symmetric", "symmetric_eps"))
    far, table = symmetry_runs.divergence_check(sym.model, other.model, held, spec, eps=1e-4, seed=0, n_boot=200,
                                               initial=init)
    assert far["passed"] is True and far["ci"][0] > 0 and far["sequences"] <= len(held)
    assert 0 < far["tv_step0"] < 1e-2                                    # step 0: of order eps
    assert list(table["comparison"].str.contains("unamplified")) == [False, True, False]
    # the unamplified null: the trained symmetric model moved by eps, relative, per head
    assert head_gap(symmetry_runs.unamplified(sym.model, 1e-4, 0)) == pytest.approx(1e-4, rel=1e-2)


def test_gap_table_has_one_row_per_run_with_its_gaps_accuracy_and_gate():
    """Notebook 01's table of the runs (symmetry_runs.gap_table): the variants in order, g at the
    first and last logged step, the final node gap where logged, held-out accuracy and the gate."""
    from types import SimpleNamespace
    runs = {"main": SimpleNamespace(log=[{"step": 0, "gap": 0.5}, {"step": 10, "gap": 0.7, "node_gap": 0.2}]),
            "symmetric": SimpleNamespace(log=[{"step": 0, "gap": 0.0}, {"step": 10, "gap": 0.0}])}
    records = {"main": {"steps": 10, "mlm_accuracy": 0.12, "baseline_accuracy": 0.08, "gate": {"p": 0.001, "passed": True}},
               "symmetric": {"steps": 10, "mlm_accuracy": 0.07, "baseline_accuracy": 0.08,
                             "gate": {"p": 0.9, "passed": False}}}
    table = symmetry_runs.gap_table(runs, records)
    assert list(table.index) == ["main", "symmetric"]
    assert table.loc["main", "g(0)"] == 0.5 and table.loc["main", "g(final)"] == 0.7
    assert table.loc["main", "node gap (final)"] == 0.2 and table.loc["symmetric", "node gap (final)"] is None
    assert table.loc["main", "held-out accuracy"] == 0.12 and table.loc["symmetric", "baseline"] == 0.08
    assert table.loc["main", "gate passed"] is True and table.loc["symmetric", "gate p"] == 0.9
