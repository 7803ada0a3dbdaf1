"""Which device a training process uses, on a box with several GPUs.

Snakemake's ``--resources gpu=N`` (workflow/profiles/gpu) bounds how many training jobs hold a GPU
at once, but it does not say which card each one gets: every process would open ``cuda:0``. Each
training process therefore claims one card through an exclusive ``flock`` on a per-card lock file
and keeps it until the process exits (the kernel drops the lock even on SIGKILL). With at most N
concurrent claimants for N cards (the gpu profile), a free card always exists. Where more training
jobs run than there are cards (the default local run on a multi-GPU box, which does not bound GPU
use), the ones that find every card held share the least-numbered card, as all of them did before.

Under SLURM (``--gpus=1``) or with ``CUDA_VISIBLE_DEVICES`` naming one card, a single device is
visible and nothing is claimed. The lock directory is machine-local (the system temp dir), because
cards are, and per user.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

_HELD: dict[int, int] = {}  # card index -> open lock fd, held for the life of the process


def lock_dir() -> Path:
    default = Path(tempfile.gettempdir()) / f"emofusion-gpu-locks-{os.getuid()}"
    return Path(os.environ.get("EMOFUSION_GPU_LOCK_DIR", default))


def claim_device(n_devices: int, directory: str | Path | None = None) -> int:
    """Claim the lowest-numbered free card of ``n_devices`` and return its index.

    The claim is an exclusive, non-blocking ``flock`` on ``<directory>/gpu<i>.lock``; it lasts until
    the process exits or :func:`release_device` is called. Raises RuntimeError when every card is
    held (more concurrent training jobs than ``--resources gpu=N`` should ever allow).
    """
    if n_devices < 1:
        raise ValueError(f"n_devices must be >= 1, got {n_devices}")
    held = [i for i in _HELD if i < n_devices]
    if held:
        return held[0]
    d = Path(directory) if directory is not None else lock_dir()
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n_devices):
        fd = os.open(d / f"gpu{i}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _HELD[i] = fd
        return i
    raise RuntimeError(f"all {n_devices} GPUs are held by other training processes (locks in {d}); "
                       f"run with --resources gpu=N where N is at most {n_devices}")


def release_device(index: int) -> None:
    fd = _HELD.pop(index, None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def trainer_devices(accelerator: str):
    """The ``devices`` argument for Lightning's Trainer: ``[i]`` where the run goes to CUDA and
    several cards are visible (a claimed card, or card 0, shared, when every card is held), else
    ``1``."""
    if accelerator not in ("auto", "gpu", "cuda"):
        return 1
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n <= 1:
        return 1
    try:
        return [claim_device(n)]
    except RuntimeError:  # more training jobs than cards: share, never fail
        return [0]
