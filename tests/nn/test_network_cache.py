"""The per-module network cache of ``as_network`` follows every change of the weights.

Oracle everywhere: a freshly built copy of the mutated network (``copy.deepcopy``, a module
the cache has never seen) gives the same cells, pullbacks and slice regions.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from cellgeom.nn import activation_patterns, as_network, pullback, slice_partition


def _net(dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.LeakyReLU(0.1),
                         nn.Linear(8, 1)).to(dtype).eval()


def _double_in_place_data(net):
    with torch.no_grad():
        net[0].weight.data.mul_(2)


def _assign_data(net):
    net[2].weight.data = torch.randn_like(net[2].weight)


def _one_element_through_data(net):
    net[0].bias.data[3] += 0.75


def _load_state_dict(net):
    net.load_state_dict(_net(next(net.parameters()).dtype, seed=1).state_dict())


def _load_state_dict_assign(net):
    net.load_state_dict(_net(next(net.parameters()).dtype, seed=2).state_dict(), assign=True)


def _optimizer_steps(net):
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x = torch.randn(64, 2, dtype=next(net.parameters()).dtype)
    for _ in range(3):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()


def _new_parameter(net):
    net[0].weight = nn.Parameter(torch.randn_like(net[0].weight))


def _negative_slope(net):
    net[3].negative_slope = 0.5


MUTATIONS = [_double_in_place_data, _assign_data, _one_element_through_data, _load_state_dict,
             _load_state_dict_assign, _optimizer_steps, _new_parameter, _negative_slope]


def _cells(net, X):
    return activation_patterns(net, X).keys


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda f: f.__name__.strip("_"))
def test_cells_pullbacks_and_slices_follow_the_new_weights_like_a_fresh_copy(mutate, dtype):
    """Oracle: a deep copy of the mutated network, built from scratch."""
    net = _net(dtype)
    X = np.random.default_rng(0).normal(size=(300, 2))
    o, u, v = np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, 1.0])
    slice_partition(net, o, u, v, 3.0)  # fill the cache on every route
    _cells(net, X)
    before = pullback(net, torch.as_tensor(X[:5]))[-1].A
    mutate(net)
    fresh = copy.deepcopy(net)
    got, want = _cells(net, X), _cells(fresh, X)
    np.testing.assert_array_equal(got, want)
    maps = pullback(net, torch.as_tensor(X[:5]))
    assert not np.array_equal(maps[-1].A, before)  # the mutation changed the function
    for a, b in zip(maps, pullback(fresh, torch.as_tensor(X[:5]))):
        np.testing.assert_array_equal(a.A, b.A)
        np.testing.assert_array_equal(a.c, b.c)
    r, q = slice_partition(net, o, u, v, 3.0), slice_partition(fresh, o, u, v, 3.0)
    np.testing.assert_array_equal(r.keys, q.keys)
    np.testing.assert_array_equal(r.areas, q.areas)


def test_unchanged_weights_reuse_the_cached_network():
    """Oracle: identity of the returned object (no rebuild while nothing changed), and a
    rebuild after a change made through ``.data``, which bumps no version counter."""
    net = _net()
    first = as_network(net)
    assert as_network(net) is first
    version = net[0].weight._version
    _double_in_place_data(net)
    assert net[0].weight._version == version  # invisible to version counters
    assert as_network(net) is not first


def test_cache_does_not_keep_deleted_networks_alive():
    """Oracle: a weak reference to each network; the cache is bounded, so networks the
    user dropped (float64 nets are cached without a copy, referring to the module) are
    freed once newer ones pushed them out."""
    import gc
    import weakref

    from cellgeom.nn import layers

    refs = []
    for _ in range(3 * layers._CACHE_SIZE):
        net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).double()
        layers.as_network(net, torch.float64)
        refs.append(weakref.ref(net))
        del net
    gc.collect()
    assert sum(r() is not None for r in refs) <= layers._CACHE_SIZE
    assert len(layers._NETWORKS) <= layers._CACHE_SIZE
