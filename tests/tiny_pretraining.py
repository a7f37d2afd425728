"""Tiny pre-training runs shared by the CPU and CUDA symmetry tests (test_pretrain.py,
test_cuda_symmetry.py): a 2-block BERT with d_head 4 on the ``data`` fixture's synthetic corpus
(conftest.py)."""
from __future__ import annotations

import torch

from ssb.pretrain import pretrain
from ssb.profiles import get_profile


def tiny_profile(**overrides):
    base = dict(n_blocks=2, block=2, n_heads=12, d_head=4, max_len=16, batch_size=8, steps=9, lr=2e-3,
                warmup_steps=2, eval_every=3, checkpoint_every=2, eval_batches=2)
    return get_profile("smoke", **{**base, **overrides})


def run(data, out_dir, **kwargs):
    """``pretrain`` of ``data`` = (tokenizer, train_sequences, eval_sequences) into ``out_dir``, with
    ``tiny_profile()`` unless ``profile=`` is given; other keywords go to ``pretrain``."""
    tok, train, held = data
    profile = kwargs.pop("profile", None) or tiny_profile()
    return pretrain(profile, out_dir, tok, train, held, progress=False, **kwargs)


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}
