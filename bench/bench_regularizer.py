"""nn: GeometricRegularizer overhead per batch, and GeometryTracker cost per call.

Reference: a plain forward + cross-entropy + backward pass of the same MLP on the same
batch. cellgeom's figure is that pass plus the regularizer (all four penalties) in the loss,
so ``cellgeom_s / reference_s`` is the training-step slowdown. The tracker row times one
``GeometryTracker.step()`` against the same plain pass.
"""
from __future__ import annotations

import torch
from _measure import measure
from torch import nn

from cellgeom.nn.regularizer import GeometricRegularizer
from cellgeom.nn.tracker import GeometryTracker


def _net(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, n_out))


def _plain(net, X, y, reps):
    for _ in range(reps):
        net.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()


def _regularized(net, X, y, reg, reps):
    for _ in range(reps):
        net.zero_grad()
        logits = net(X)
        (nn.functional.cross_entropy(logits, y) + reg(net, X, logits).total).backward()


def _track(tracker, reps):
    for _ in range(reps):
        tracker.step()


def run(quick: bool = False) -> list[dict]:
    torch.set_num_threads(1)  # small nets: one thread is fastest on a shared machine
    rows = []
    cases = [(2, 32, 2, 128), (64, 32, 10, 128)] if quick else \
        [(2, 32, 2, 128), (2, 64, 2, 256), (64, 32, 10, 128), (64, 64, 10, 256)]
    reps = 3 if quick else 10
    for n_in, hidden, n_out, batch in cases:
        net = _net(n_in, hidden, n_out)
        X = torch.randn(batch, n_in, generator=torch.Generator().manual_seed(1))
        y = torch.randint(0, n_out, (batch,), generator=torch.Generator().manual_seed(2))
        reg = GeometricRegularizer(margin=0.1, small_cell=0.05, sharp_angle=30.0,
                                   face_disagreement=True)
        size = f"MLP {n_in}-{hidden}-{hidden}-{n_out}, batch {batch}"
        _, t_ref, mb_ref = measure(_plain, net, X, y, reps, repeat=3)
        _, t_ours, mb_ours = measure(_regularized, net, X, y, reg, reps, repeat=3)
        rows.append(dict(benchmark="nn.regularizer step (4 penalties)", size=size,
                         cellgeom_s=t_ours / reps, reference="plain forward+backward",
                         reference_s=t_ref / reps, cellgeom_mb=mb_ours, reference_mb=mb_ref,
                         notes=f"overhead x{t_ours / t_ref:.1f} per batch"))
        tracker = GeometryTracker(net, X)
        _, t_tr, mb_tr = measure(_track, tracker, reps, repeat=3)
        rows.append(dict(benchmark="nn.tracker step", size=size, cellgeom_s=t_tr / reps,
                         reference="plain forward+backward", reference_s=t_ref / reps,
                         cellgeom_mb=mb_tr, reference_mb=mb_ref,
                         notes=f"x{t_tr / t_ref:.1f} of one training step"))
    return rows


if __name__ == "__main__":
    for r in run(quick=True):
        print(r)
