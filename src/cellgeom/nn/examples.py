"""Small networks trained on scikit-learn's bundled data, for the demo, docs and tests."""
from __future__ import annotations

__all__ = ["train_moons_network"]


def train_moons_network(X, y, hidden: int = 16, epochs: int = 400, seed: int = 0):
    """A small ReLU classifier trained full-batch with Adam (deterministic)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                        nn.Linear(hidden, 2))
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(net(Xt), yt)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(Xt).argmax(1) == yt).float().mean())
    return net, acc
