"""Exact symmetry on CUDA (issue 14, item 4): the symmetric initialisations keep heads (and,
for node_symmetric, the nodes inside each head) bit-identical under deterministic CUDA training,
in float32 and under bf16 autocast, and two runs give the same weights.  Skipped without a GPU;
the CPU versions of these checks are in tests/test_pretrain.py."""
from __future__ import annotations

import pytest
import torch

from ssb.model import head_gap, node_gap
from tiny_pretraining import run, state, tiny_profile   # `data` is the conftest fixture

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_symmetric_init_bit_identical_heads_on_cuda(data, tmp_path, precision):  # noqa: F811
    profile = tiny_profile(device="cuda", mixed_precision=precision)
    sym = run(data, tmp_path / "sym", profile=profile, init="symmetric", steps=9)
    assert [row["gap"] for row in sym.log] == [0.0] * len(sym.log)
    assert head_gap(sym.model) == 0.0
    assert sym.log[-1]["eval_loss"] < sym.log[0]["eval_loss"]        # it did train
    again = run(data, tmp_path / "again", profile=profile, init="symmetric", steps=9)
    for name, tensor in state(sym.model).items():                     # deterministic CUDA training
        assert torch.equal(tensor, state(again.model)[name]), name


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_node_symmetric_bit_identical_nodes_on_cuda(data, tmp_path, precision):  # noqa: F811
    profile = tiny_profile(device="cuda", mixed_precision=precision)
    sym = run(data, tmp_path / "node", profile=profile, init="node_symmetric", steps=6)
    assert [row["node_gap"] for row in sym.log] == [0.0] * len(sym.log)
    assert node_gap(sym.model) == 0.0 and sym.log[-1]["gap"] > 0.0


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_symmetric_eps_still_breaks_on_cuda(data, tmp_path, precision):  # noqa: F811
    """The control against a test that cannot fail: a perturbation of eps grows on CUDA too."""
    profile = tiny_profile(device="cuda", mixed_precision=precision)
    pert = run(data, tmp_path / "eps", profile=profile, init="symmetric_eps", steps=30)
    assert pert.log[-1]["gap"] > 2 * profile.ssb_eps
