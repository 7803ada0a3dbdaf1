"""GPU claiming on a multi-GPU box (workflow/profiles/gpu): concurrent training processes get
different cards, and a card is free again once its holder exits, even when killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from emofusion.training.devices import claim_device, release_device, trainer_devices

HOLD = """
import sys, time
from emofusion.training.devices import claim_device
print(claim_device(int(sys.argv[1]), sys.argv[2]), flush=True)
time.sleep(60)
"""


def _holder(n, d):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(n), str(d)], stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline())


def test_concurrent_processes_get_distinct_cards_and_kill_frees_one(tmp_path):
    a, ia = _holder(3, tmp_path)
    b, ib = _holder(3, tmp_path)
    try:
        assert (ia, ib) == (0, 1)
        assert claim_device(3, tmp_path) == 2           # this process takes the last free card
        c = subprocess.run([sys.executable, "-c", HOLD, "3", str(tmp_path)], capture_output=True, text=True,
                           timeout=60)
        assert c.returncode != 0 and "all 3 GPUs are held" in c.stderr
        os.kill(a.pid, signal.SIGKILL)                  # a killed holder's card is free again
        a.wait(timeout=30)
        deadline = time.monotonic() + 10
        while True:
            c, ic = _holder(3, tmp_path)
            c.kill()
            c.wait()
            if ic == 0 or time.monotonic() > deadline:
                break
        assert ic == 0
    finally:
        release_device(2)
        for p in (a, b):
            p.kill()
            p.wait()


def test_claim_is_stable_within_a_process_and_rejects_zero(tmp_path):
    assert claim_device(2, tmp_path) == 0
    assert claim_device(2, tmp_path) == 0
    assert claim_device(2, tmp_path / "other") == 0  # one card per process, whatever is asked again
    release_device(0)
    with pytest.raises(ValueError):
        claim_device(0, tmp_path)


def test_cpu_runs_claim_nothing(tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > 1:
        pytest.skip("several GPUs visible: 'auto' claims one here")
    monkeypatch.setenv("EMOFUSION_GPU_LOCK_DIR", str(tmp_path / "locks"))
    assert trainer_devices("cpu") == 1
    assert trainer_devices("auto") == 1               # no CUDA on the test machines
    assert not (tmp_path / "locks").exists()


def test_more_jobs_than_cards_share_instead_of_failing(tmp_path, monkeypatch):
    """The default local run on a 2-GPU box (no --resources gpu bound): jobs that find both cards
    held share card 0 rather than fail; with a card free, they take it."""
    import torch

    monkeypatch.setenv("EMOFUSION_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    a, ia = _holder(2, tmp_path)
    try:
        assert ia == 0
        assert trainer_devices("auto") == [1]          # the free card
        release_device(1)
        b, ib = _holder(2, tmp_path)
        try:
            assert ib == 1
            assert trainer_devices("gpu") == [0]       # both held by others: share card 0
        finally:
            b.kill()
            b.wait()
    finally:
        a.kill()
        a.wait()
