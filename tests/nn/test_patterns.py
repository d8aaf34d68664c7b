"""Activation patterns: equal keys <=> equal patterns (oracle: the unpacked patterns),
grouping reconstructs the keys, and float32 networks give the patterns of their float64 copy."""
import numpy as np
import torch
from torch import nn

from cellgeom.nn import activation_patterns, group_by_pattern, pack_patterns


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 5), nn.Hardtanh(-0.2, 0.2),
                         nn.Linear(5, 2)).eval()


def test_points_with_equal_keys_have_equal_patterns_and_vice_versa():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(3000, 2))
    pats = activation_patterns(_net(), X)
    flat = pats.flat
    first, inverse = group_by_pattern(pats.keys)
    # oracle: grouping the unpacked patterns row by row
    _, inv_flat = np.unique(flat, axis=0, return_inverse=True)
    assert len(first) == len(np.unique(inv_flat))
    for g in range(len(first)):
        members = inverse == g
        assert (flat[members] == flat[first[g]]).all()
        assert len(np.unique(inv_flat[members])) == 1


def test_grouping_inverse_reconstructs_keys_in_order_of_first_appearance():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 3, size=(500, 4)).astype(np.uint8)
    first, inverse = group_by_pattern(keys)
    np.testing.assert_array_equal(keys[first][inverse], keys)
    assert inverse[0] == 0 and (np.diff(first) > 0).all()
    assert len(first) == len(np.unique(keys, axis=0))


def test_layer_patterns_are_pieces_of_the_forward_preactivations():
    """Oracle: the hooked pre-activations thresholded at each breakpoint."""
    net = _net().double()
    X = torch.randn(400, 2, dtype=torch.float64)
    pats = activation_patterns(net, X)
    z1 = net[0](X)
    z2 = net[2](torch.relu(z1))
    np.testing.assert_array_equal(pats.layers[0], (z1 > 0).numpy())
    np.testing.assert_array_equal(pats.layers[1], ((z2 > -0.2).long() + (z2 > 0.2).long()).numpy())
    assert pats.layers[0].dtype == bool and pats.layers[1].dtype == np.uint8
    assert pats.n_pieces == [2, 3]
    np.testing.assert_allclose(pats.output, net(X).detach().numpy(), atol=1e-12)


def test_packing_is_injective_for_multi_piece_layers():
    """Oracle: unpack the bits by hand and compare with the patterns."""
    rng = np.random.default_rng(2)
    layers = [rng.integers(0, 2, (50, 7)).astype(bool), rng.integers(0, 3, (50, 5)),
              rng.integers(0, 9, (50, 4))]
    keys = pack_patterns(layers, [2, 3, 9])
    bits = np.unpackbits(keys, axis=1)
    np.testing.assert_array_equal(bits[:, :7], layers[0])
    b2 = bits[:, 7:17].reshape(50, 5, 2)
    np.testing.assert_array_equal(b2[..., 0] + 2 * b2[..., 1], layers[1])
    b3 = bits[:, 17:33].reshape(50, 4, 4)
    np.testing.assert_array_equal((b3 * [1, 2, 4, 8]).sum(-1), layers[2])


def test_maxpool_pattern_is_position_of_window_maximum():
    """Oracle: torch's max_pool2d indices converted to positions inside each 2x2 window."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2)).eval()
    X = torch.randn(30, 1, 6, 6, dtype=torch.float64)
    pats = activation_patterns(net, X, pack=False)
    _, idx = nn.functional.max_pool2d(net.double()[0](X), 2, return_indices=True)
    row, col = idx // 4, idx % 4
    pos = (row % 2) * 2 + col % 2
    np.testing.assert_array_equal(pats.layers[0], pos.reshape(30, -1).numpy())
    assert pats.keys.shape == (30, 8)


def test_float32_network_works_and_matches_its_float64_copy():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(3, 20), nn.ReLU(), nn.Linear(20, 20), nn.LeakyReLU(0.1),
                        nn.Linear(20, 3)).eval()
    X = np.random.default_rng(4).normal(size=(800, 3)).astype(np.float32)
    p64, p32 = activation_patterns(net, X), activation_patterns(net, X, dtype=None)
    assert p32.output.dtype == np.float32
    # float32 rounding may flip a unit right at its boundary, nowhere else
    assert (p64.keys != p32.keys).any(axis=1).mean() < 0.01


def test_patterns_of_a_batch_in_chunks_equal_one_pass():
    X = np.random.default_rng(5).normal(size=(257, 2))
    a, b = activation_patterns(_net(), X), activation_patterns(_net(), X, batch_size=16)
    np.testing.assert_array_equal(a.keys, b.keys)


def test_affine_network_has_one_cell_with_empty_key():
    net = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.1), nn.Linear(2, 1)).eval()
    pats = activation_patterns(net, np.ones((5, 3)))
    assert pats.keys.shape == (5, 0) and pats.layers == []
    first, inverse = group_by_pattern(pats.keys)
    assert len(first) == 1 and (inverse == 0).all()
