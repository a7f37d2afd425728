"""A pre-training killed mid-run (SIGKILL, no clean-up) and started again finishes with the
same weights and the same log as an uninterrupted run of the same profile and seed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
OVERRIDES = ["-p", "steps", "60", "-p", "checkpoint_every", "10", "-p", "eval_every", "10"]


def cli(root: Path, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "ssb.pretrain_cli", "--profile", "smoke", "--data-dir", str(data_dir), *OVERRIDES]


def env_for(root: Path) -> dict:
    return {**os.environ, "SSB_OUTPUT_DIR": str(root), "SSB_OFFLINE": "1"}


def strip_elapsed(log: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "elapsed"} for row in log]


@pytest.mark.slow
def test_killed_pretraining_resumes_to_identical_result(tmp_path, data_dir):
    run_dir = lambda root: root / "runs" / "smoke" / "pretrain" / "main"

    whole = tmp_path / "whole"
    subprocess.run(cli(whole, data_dir), env=env_for(whole), check=True, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(cli(killed, data_dir), env=env_for(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = run_dir(killed) / "checkpoint" / "trainer_state.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed; lengthen it"
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir(killed) / "final").exists(), "the killed run must not have finished"

    subprocess.run(cli(killed, data_dir), env=env_for(killed), check=True, capture_output=True, timeout=600)
    a = load_file(run_dir(whole) / "final" / "model.safetensors")
    b = load_file(run_dir(killed) / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs after resuming"
    log_a = json.loads((run_dir(whole) / "final" / "train_log.json").read_text())
    log_b = json.loads((run_dir(killed) / "final" / "train_log.json").read_text())
    assert strip_elapsed(log_a) == strip_elapsed(log_b)
