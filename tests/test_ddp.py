"""Data-parallel pre-training (DDP): every process takes the slice rank::world of the same
global batch and the loss is normalised by the global masked count, so the update is the
single-process one.

- ``test_sliced_gradients_average_to_the_global_gradient`` checks that normalisation in
  one process (what DDP's gradient averaging does, emulated), on raw gradients: AdamW is
  nearly invariant to a constant gradient factor, so weights alone would not catch one.
- ``test_two_process_gloo_run_matches_single_process`` launches two CPU processes with
  ``torch.distributed.run`` (gloo) and compares with one process on the same global batch.
  The weights are *allclose*, not equal: each process sums its half batch's gradient
  contributions and gloo adds the two halves, whereas one process sums the whole batch in
  one kernel call; a different summation order rounds differently (~1e-7 relative per
  step), and a few AdamW steps carry that along without amplifying it.
"""
from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.distributed as dist

from ssb.mlm import MaskingSpec
from ssb.model import build_bert6
from ssb.pretrain import MaskedLMObjective, global_batch, join_process_group, pretrain, train_step
from ssb.profiles import get_profile

OVERRIDES = dict(n_blocks=2, block=2, n_heads=12, d_head=4, max_len=16, batch_size=8, steps=6, lr=2e-3,
                 warmup_steps=2, eval_every=3, checkpoint_every=2, eval_batches=2)


pytestmark = pytest.mark.usefixtures("one_thread")      # conftest.py


def test_sliced_gradients_average_to_the_global_gradient(data):
    tok, train, _ = data
    spec = MaskingSpec.from_tokenizer(tok)
    model = build_bert6(len(tok), seed=0, n_blocks=2, n_heads=12, d_head=4, max_len=16)
    objective = MaskedLMObjective(model)
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)             # keeps the weights fixed
    inputs, attention_mask, labels = global_batch(train, spec, batch_size=8, step=0, seed=0)
    n_masked = int((labels != -100).sum())

    def grads(rank: int, world: int) -> dict[str, torch.Tensor]:
        sl = slice(rank, None, world)
        train_step(objective, model, frozen, inputs[sl], attention_mask[sl], labels[sl],
                   n_masked_global=n_masked, world=world, max_grad_norm=math.inf)
        return {k: p.grad.clone() for k, p in model.named_parameters()}

    whole = grads(0, 1)
    halves = [grads(r, 2) for r in range(2)]
    local_counts = [int((labels[r::2] != -100).sum()) for r in range(2)]
    assert local_counts[0] != local_counts[1]        # unequal slices: a per-slice normalisation would show
    scale = torch.cat([g.ravel() for g in whole.values()]).norm()
    for name, g in whole.items():
        averaged = (halves[0][name] + halves[1][name]) / 2            # DDP's all-reduce mean
        # relative to the tensor's gradient, with a floor for the key biases, whose true
        # gradient is 0 (softmax ignores a shift of every score) and whose computed one is noise
        error = (averaged - g).norm()
        assert error <= 1e-5 * g.norm() + 1e-7 * scale, f"{name}: error {error:.1e}, norm {g.norm():.1e}"


def test_one_process_joins_no_process_group(monkeypatch):
    """join_process_group: world 1, rank 0 and no process group outside torchrun (pretrain and
    pretrain_cli both set DDP up through it)."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert join_process_group() == (1, 0)
    assert not (dist.is_available() and dist.is_initialized())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WORKER = textwrap.dedent('''
    import json, os, sys
    import numpy as np
    import torch.distributed as dist
    from ssb.pretrain import pretrain
    from ssb.profiles import get_profile
    from ssb.tokenizer import load_tokenizer

    root = sys.argv[1]
    overrides = json.load(open(os.path.join(root, "overrides.json")))
    tok = load_tokenizer(os.path.join(root, "tokenizer"))
    with np.load(os.path.join(root, "blocks.npz")) as f:
        train, held = f["train"], f["eval"]
    run = pretrain(get_profile("smoke", **overrides), os.path.join(root, "ddp"), tok, train, held, progress=False)
    rank, world = dist.get_rank(), dist.get_world_size()
    with open(os.path.join(root, f"rank{rank}.json"), "w") as f:
        json.dump({"rank": rank, "world": world, "log_rows": len(run.log)}, f)
    dist.destroy_process_group()
''')


@pytest.mark.slow
@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                    reason="torch.distributed with the gloo backend is not available in this build")
def test_two_process_gloo_run_matches_single_process(data, tmp_path):
    from safetensors.torch import load_file

    tok, train, held = data
    tok.save_pretrained(tmp_path / "tokenizer")
    np.savez(tmp_path / "blocks.npz", train=train, eval=held)
    (tmp_path / "overrides.json").write_text(json.dumps(OVERRIDES))
    (tmp_path / "worker.py").write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), str(tmp_path / "worker.py"), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [(r["rank"], r["world"]) for r in ranks] == [(0, 2), (1, 2)]
    assert ranks[0]["log_rows"] == 3 and ranks[1]["log_rows"] == 0   # only rank 0 evaluates and logs
    final = tmp_path / "ddp" / "final"
    assert (final / "model.safetensors").is_file() and (final / "train_log.json").is_file()
    assert not (tmp_path / "ddp" / "checkpoint").exists()
    assert not list((tmp_path / "ddp").glob(".final.*"))              # no half-written copy left
    ddp_weights = load_file(final / "model.safetensors")
    ddp_log = json.loads((final / "train_log.json").read_text())

    profile = get_profile("smoke", **OVERRIDES)
    single = pretrain(profile, tmp_path / "single", tok, train, held, progress=False)
    single_weights = load_file(tmp_path / "single" / "final" / "model.safetensors")
    other_seed = load_file(pretrain(profile.replace(seed=1), tmp_path / "seed1", tok, train, held,
                                    progress=False).final_dir / "model.safetensors")
    assert ddp_weights.keys() == single_weights.keys()
    init = build_bert6(len(tok), seed=0, n_blocks=2, n_heads=12, d_head=4, max_len=16).state_dict()
    for name, w in single_weights.items():
        moved = (w - init[name]).abs().max()                          # how far training moved it
        diff = (ddp_weights[name] - w).abs().max()
        assert diff <= 1e-5 + 1e-3 * moved, f"{name}: DDP differs by {diff:.2e} (training moved it {moved:.2e})"
    assert any(not torch.allclose(other_seed[k], single_weights[k], atol=1e-3) for k in single_weights)

    # the log: the same steps; held-out numbers and the all-reduced training loss agree
    assert [r["step"] for r in ddp_log] == [r["step"] for r in single.log] == [0, 3, 6]
    for a, b in zip(ddp_log, single.log):
        for key in ("eval_loss", "eval_accuracy", "baseline_accuracy", "gap", "lr", "loss", "train_accuracy"):
            if b[key] is None:
                assert a[key] is None
            else:
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
