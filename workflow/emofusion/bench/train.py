"""`python -m emofusion.bench train [--dims 100 4096] [--frames 1768] [--recordings 34] [--epochs 1]`

Training speed of the paper's network (LSTM 256-128-64, batch 34) on random full-length batches,
one thread unless ``--threads`` says otherwise. Prints, from one run:

(a) Lightning vs a plain PyTorch loop over the same batches, model and optimiser: epoch-time ratio
    (goal <= 1.05);
(b) per input dim D: epoch time of the configuration the runs use (padded + masked, fp32, oneDNN
    as ``emofusion.training.trainer`` sets it) and of the alternatives that keep the model's function
    (packed sequences, oneDNN on/off, bf16 autocast with its output error against fp32),
    with the achieved GFLOP/s (LSTM forward + backward = 3 x the forward's 8 h (in + h) FLOPs per
    frame and layer) beside this machine's measured single-thread sgemm GFLOP/s. ``--vary`` gives
    the recordings random lengths in [frames/2, frames] (packing vs masking matters there);
    the paper-scale epoch (68 Train recordings) is the measured time scaled by 68/recordings.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

PAPER_TRAIN_RECORDINGS = 68


def lstm_train_flops(dim: int, hidden: list[int], frames: int) -> float:
    """FLOPs of one training pass (forward + backward ~ 3 x forward) over ``frames`` frames."""
    sizes = [dim, *hidden]
    fwd = sum(8 * h * (i + h) for i, h in zip(sizes[:-1], sizes[1:], strict=True))
    return 3.0 * fwd * frames


def sgemm_gflops(n: int = 2048, reps: int = 3) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def make_batches(dim: int, frames: int, recordings: int, batch: int, vary: bool, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    if vary:
        lengths = torch.randint(frames // 2, frames + 1, (recordings,), generator=g)
        lengths[0] = frames
    else:
        lengths = torch.full((recordings,), frames)
    out = []
    for s in range(0, recordings, batch):
        ln = lengths[s:s + batch]
        t = int(ln.max())
        x = torch.randn(len(ln), t, dim, generator=g)
        y = torch.rand(len(ln), t, 3, generator=g) * 2 - 1
        mask = torch.arange(t)[None, :] < ln[:, None]
        x[~mask] = 0
        out.append({"x": x, "y": y, "mask": mask, "lengths": ln.to(torch.int64), "idx": torch.arange(len(ln))})
    return out


def plain_epoch(model, opt, batches, weights, autocast: bool = False) -> float:
    """One epoch of a plain PyTorch loop; returns seconds."""
    import torch

    from ..training.loss import weighted_ccc_loss

    model.train()
    t = time.perf_counter()
    for b in batches:
        opt.zero_grad(set_to_none=True)
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else nullcontext()
        with ctx:
            out = model(b["x"], b["lengths"])
        loss, _ = weighted_ccc_loss(out.float(), b["y"], b["mask"], weights)
        loss.backward()
        opt.step()
    return time.perf_counter() - t


def _identity(batch):
    return batch


def _task_and_opt(dim, hidden, pack, seed=0):
    import torch

    from ..spec import TrainSpec
    from ..training.task import EmotionTask

    torch.manual_seed(seed)
    task = EmotionTask.from_spec(dim, TrainSpec(hidden=tuple(hidden)), pack=pack)
    return task, task.configure_optimizers()


def lightning_vs_plain(dim, hidden, batches, epochs) -> tuple[float, float]:
    """Best epoch seconds (Lightning fit, plain loop) over ``epochs`` interleaved pairs: same
    batches, model init and optimiser; interleaving keeps a busy machine's drift out of the ratio."""
    import logging
    import warnings

    import pytorch_lightning as pl
    import torch

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    class Timer(pl.Callback):
        def __init__(self):
            self.times = []

        def on_train_epoch_start(self, trainer, pl_module):
            self.t = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            self.times.append(time.perf_counter() - self.t)

    plain_task, plain_opt = _task_and_opt(dim, hidden, False)
    task, _ = _task_and_opt(dim, hidden, False)
    warm = _warmup_batches(batches)
    plain_epoch(plain_task.net, plain_opt, warm, plain_task.weights)
    plain_epoch(task.net, task.configure_optimizers(), warm, task.weights)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False, collate_fn=_identity)
    timer = Timer()
    plain = []
    for _ in range(epochs):
        plain.append(plain_epoch(plain_task.net, plain_opt, batches, plain_task.weights))
        trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, callbacks=[timer],
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                             num_sanity_val_steps=0, limit_val_batches=0)
        trainer.fit(task, train_dataloaders=loader)
    return min(timer.times), min(plain)


def variant_epoch(dim, hidden, batches, *, pack=True, mkldnn=True, autocast=False) -> tuple[float, float]:
    """(epoch seconds, max |output - fp32 output| on the first batch) for one variant."""
    import torch

    prev = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = mkldnn
    try:
        task, opt = _task_and_opt(dim, hidden, pack)
        net = task.net
        err = 0.0
        if autocast:
            net.eval()
            b = batches[0]
            with torch.no_grad():
                ref = net(b["x"], b["lengths"])
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    low = net(b["x"], b["lengths"]).float()
            err = float((low - ref)[b["mask"]].abs().max())
        return plain_epoch(net, opt, batches, task.weights, autocast), err
    finally:
        torch.backends.mkldnn.enabled = prev


def _warmup_batches(batches):
    """A small slice of the first batch: warms the allocator and oneDNN primitives cheaply."""
    b = batches[0]
    n = min(2, b["x"].shape[0])
    t = min(100, b["x"].shape[1])
    return [{"x": b["x"][:n, :t], "y": b["y"][:n, :t], "mask": b["mask"][:n, :t],
             "lengths": b["lengths"][:n].clamp(max=t), "idx": b["idx"][:n]}]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emofusion.bench train", description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[100, 4096])
    ap.add_argument("--frames", type=int, default=1768)
    ap.add_argument("--recordings", type=int, default=34,
                    help="Train recordings per epoch for (a) and the default configuration (paper: 68)")
    ap.add_argument("--variant-recordings", type=int, default=4,
                    help="recordings per epoch for the alternative configurations (scaled to 68)")
    ap.add_argument("--epochs", type=int, default=2, help="(a): interleaved Lightning/plain epoch pairs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hidden", type=int, nargs="+", default=[256, 128, 64])
    ap.add_argument("--vary", action="store_true", help="random lengths in [frames/2, frames]")
    ap.add_argument("--skip-variants", action="store_true", help="only (a) and the default configuration")
    args = ap.parse_args(argv)

    import torch

    from ..training.trainer import cpu_backend_settings

    torch.set_num_threads(args.threads)
    mk = cpu_backend_settings()["mkldnn"]
    peak = sgemm_gflops()
    print(f"train bench: torch {torch.__version__}, {args.threads} thread(s), frames {args.frames}"
          f"{' (varying)' if args.vary else ''}, batch 34, hidden {args.hidden}, epochs {args.epochs}; "
          f"s/epoch measured on R recordings, 'x68' = scaled to the paper's 68 Train recordings")
    print(f"sgemm 2048^3, {args.threads} thread(s): {peak:.1f} GFLOP/s")

    d0 = min(args.dims)
    batches = make_batches(d0, args.frames, args.recordings, 34, args.vary)
    lt, pt = lightning_vs_plain(d0, args.hidden, batches, args.epochs)
    print(f"(a) D={d0}, R={args.recordings}: Lightning {lt:.2f} s/epoch, plain loop {pt:.2f} s/epoch, "
          f"ratio {lt / pt:.3f} (goal <= 1.05)")
    print(f"(b) {'configuration':<30} {'D':>5} {'R':>3} {'s/epoch':>8} {'x68':>7} {'GFLOP/s':>8} "
          f"{'%sgemm':>7}  max|out-fp32|")
    on_off = "on" if mk else "off"
    flip = "off" if mk else "on"
    variants = [(f"mask, oneDNN {on_off} (default)", {"pack": False, "mkldnn": mk}),
                (f"pack, oneDNN {on_off}", {"pack": True, "mkldnn": mk}),
                (f"pack, oneDNN {flip}", {"pack": True, "mkldnn": not mk}),
                (f"mask, oneDNN {flip}", {"pack": False, "mkldnn": not mk}),
                (f"bf16 autocast, oneDNN {on_off}", {"pack": False, "mkldnn": mk, "autocast": True})]
    if args.skip_variants:
        variants = variants[:1]
    rows = [(name, kw, args.variant_recordings) for name, kw in variants[1:]]
    rows = [(variants[0][0], variants[0][1], args.recordings)] + \
        ([(variants[0][0], variants[0][1], args.variant_recordings)] + rows if rows else [])
    slow_at_d0: dict[str, float] = {}
    for d in args.dims:
        for name, kw, r in rows:
            key = (name, r)
            if slow_at_d0.get(key, 1.0) > 4.0:
                print(f"    {name:<30} {d:>5} {r:>3}  skipped: {slow_at_d0[key]:.0f}x the default's time at D={d0}")
                continue
            if not (d == d0 and r == args.recordings):
                batches = make_batches(d, args.frames, r, 34, args.vary)
            frames = int(sum(int(b["lengths"].sum()) for b in batches))
            flops = lstm_train_flops(d, args.hidden, frames)
            variant_epoch(d, args.hidden, _warmup_batches(batches), **kw)
            sec, err = variant_epoch(d, args.hidden, batches, **kw)
            if d == d0 and r == args.variant_recordings:
                if "default" in name:
                    base = sec
                slow_at_d0[key] = sec / base
            gf = flops / sec / 1e9
            e = f"{err:.1e}" if kw.get("autocast") else "-"
            print(f"    {name:<30} {d:>5} {r:>3} {sec:>8.2f} {sec / r * PAPER_TRAIN_RECORDINGS:>7.1f} {gf:>8.1f} "
                  f"{100 * gf / peak:>6.0f}%  {e}", flush=True)
    return 0
