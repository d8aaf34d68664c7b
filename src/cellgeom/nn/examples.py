"""Small networks trained on scikit-learn's bundled data, for the demo, docs and tests."""
from __future__ import annotations

__all__ = ["train_moons_network", "train_digits_cnn"]


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


def train_digits_cnn(epochs: int = 15, seed: int = 0, channels: int = 6):
    """A small ResNet-style CNN on scikit-learn's 8x8 digits, as users write one.

    ``forward`` in plain PyTorch: a conv-batchnorm-ReLU stem, 2x2 max pooling, one basic
    residual block (conv-BN-ReLU-conv-BN, identity add, ReLU), adaptive average pooling to
    2x2 and a linear head; trained with Adam on mini-batches (deterministic on CPU), then
    put in eval mode. Returns ``(net, X, y, accuracy)`` with ``X`` of shape (1797, 1, 8, 8)
    scaled to [0, 1].
    """
    import numpy as np
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
            self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(out)) + x)

    class DigitsResNet(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.stem, self.bn = nn.Conv2d(1, c, 3, padding=1), nn.BatchNorm2d(c)
            self.block = Block(c)
            self.fc = nn.Linear(c * 4, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.bn(self.stem(x))), 2)
            x = F.adaptive_avg_pool2d(self.block(x), 2)
            return self.fc(torch.flatten(x, 1))

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    torch.manual_seed(seed)
    net = DigitsResNet(channels)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(Xt).argmax(1) == yt).float().mean())
    return net, X, np.asarray(y), acc
