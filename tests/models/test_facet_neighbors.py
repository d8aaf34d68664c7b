"""The vectorised keys across facets equal the per-facet route (key_across per facet, one
dict lookup each), the oracle, on 0/1 keys with coincident rows, box rows and redirects."""
import numpy as np
import pandas as pd
import pytest

from cellgeom.models import facet_neighbors as fn
from cellgeom.models.coincident import key_across


def _per_facet(keys, groups, redirect):
    """The oracle: the per-facet loop the tables used before the vectorised route."""
    index = {k: i for i, k in enumerate(keys)}
    neighbor, names = [], []
    for key, cell_groups in zip(keys, groups):
        for f, grp in enumerate(cell_groups):
            nk = redirect.get((key, f), key_across(key, grp, fn.flip_bit))
            if nk is None:
                neighbor.append(-1)
                names.append("")
            else:
                neighbor.append(index.get(nk, -2))
                names.append(nk if neighbor[-1] == -2 else "")
    return np.array(neighbor, dtype=np.int64), names


def _random_cells(rng, m, width, n_box=6):
    keys = sorted({"".join(map(str, rng.integers(0, 2, width))) for _ in range(m)})
    groups = []
    for _ in keys:
        labels = rng.permutation(np.arange(-n_box, width))[:rng.integers(1, width + n_box)]
        cell = []
        for lab in labels:
            if rng.random() < 0.15:  # coincident rows: one facet, several labels
                rest = rng.choice(np.arange(-n_box, width), rng.integers(1, 4), replace=False)
                rest = sorted(set(int(r) for r in rest) - {int(lab)})
                cell.append((int(lab),) + tuple(rest))
            else:
                cell.append((int(lab),))
        groups.append(cell)
    return keys, groups


@pytest.mark.parametrize("width", [5, 8, 9, 70])
def test_flip_bit_route_equals_per_facet_keys(width):
    rng = np.random.default_rng(width)
    keys, groups = _random_cells(rng, 40, width)
    # neighbours inside the partition: add every cell one bit away from the first cell
    first = keys[0]
    keys = sorted(set(keys) | {fn.flip_bit(first, k) for k in range(width)})
    groups = [groups[i % len(groups)] for i in range(len(keys))]
    redirect = {(keys[-1], 0): keys[0], (keys[0], 0): "1" * width}
    expected_neighbor, expected_key = _per_facet(keys, groups, redirect)
    neighbor, names = fn.facet_neighbors(keys, groups, fn.flip_bit, redirect)
    np.testing.assert_array_equal(neighbor, expected_neighbor)
    assert list(names) == expected_key
    assert (expected_neighbor >= 0).any() and (expected_neighbor == -2).any()
    # the generic route (any other callable) gives the same columns
    generic = fn.facet_neighbors(keys, groups, lambda k, lab: fn.flip_bit(k, lab), redirect)
    np.testing.assert_array_equal(generic[0], expected_neighbor)
    assert list(generic[1]) == expected_key


def test_keys_not_0_1_take_the_per_facet_route():
    """Keys that are not equal-length 0/1 strings (or labels beyond the key) are left to
    the per-facet route, which raises or answers as before."""
    keys, groups = ["0a1", "011"], [[(0,), (-1,)], [(2,)]]
    assert fn._flip_bit_route(keys, groups, fn.flip_bit, {}) is None
    assert fn._flip_bit_route(["01", "011"], [[(0,)], [(1,)]], fn.flip_bit, {}) is None
    assert fn._flip_bit_route(["01", "11"], [[(5,)], [(1,)]], fn.flip_bit, {}) is None
    neighbor, names = fn.facet_neighbors(["01", "11"], [[(0,)], [(1,), (-1,)]], fn.flip_bit,
                                         {})
    np.testing.assert_array_equal(neighbor, [1, -2, -1])
    assert list(names) == ["", "10", ""]


def test_string_column_without_arrow_equals_arrow_column():
    """Both ways of writing the key column (one Arrow buffer, or Python strings) hold the
    same strings in a column pandas stores like a column of str."""
    text = (np.array([[0, 1, 1], [1, 0, 0]], dtype=np.uint8) + 48)
    lengths = np.array([0, 3, 0, 3, 0])
    column = fn.string_column(text, lengths)
    expected = ["", "011", "", "100", ""]
    frame = pd.DataFrame({"a": np.zeros(5)})
    frame.insert(0, "key", column)
    reference = pd.DataFrame({"key": np.array(expected, dtype=object)})
    assert frame["key"].dtype == reference["key"].dtype
    assert list(frame["key"]) == expected
    assert list(fn.string_column(text[:0], np.zeros(2, dtype=np.int64))) == ["", ""]
    assert list(fn._object_strings(text, lengths)) == expected
    assert list(fn._object_strings(text[:0], np.zeros(2, dtype=np.int64))) == ["", ""]


def test_small_page_block_is_a_writable_float_array_that_pickles():
    """The facets block on an anonymous mapping (above 64 MB) behaves as np.empty: the
    frame built on it without a copy holds what was written, and pickles."""
    import pickle

    from cellgeom.models.polytope_tables import _small_page_empty

    for shape in [(3, 5), (2, (1 << 22) + 3)]:
        block = _small_page_empty(shape)
        assert block.shape == shape and block.dtype == np.float64 and block.flags.writeable
        block[:] = np.arange(shape[1])
        frame = pd.DataFrame(block.T, columns=["a", "b", "c"][:shape[0]], copy=False)
        back = pickle.loads(pickle.dumps(frame))
        np.testing.assert_array_equal(back.to_numpy(), np.tile(np.arange(shape[1]),
                                                               (shape[0], 1)).T)
