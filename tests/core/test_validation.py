"""Input validation shared by every adapter: DataFrames by feature name, sparse matrices."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.tree import DecisionTreeClassifier

import cellgeom
from cellgeom.core import check_data


def _frame(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] > 0.2).astype(int) + (X[:, 2] > 0.5)
    return pd.DataFrame(X, columns=["length", "width", "depth"]), y


def test_check_data_reorders_columns_by_feature_name():
    """Oracle: the DataFrame's columns taken in the order of the names given."""
    df, _ = _frame()
    shuffled = df[["depth", "length", "width"]]
    got = check_data(shuffled, 3, feature_names=["length", "width", "depth"])
    np.testing.assert_array_equal(got, df.to_numpy())


def test_check_data_refuses_unknown_or_missing_names_naming_them():
    """Oracle: the message names the missing and the unexpected columns (scikit-learn's
    rule: feature names must match those seen in fit)."""
    df, _ = _frame()
    other = df.rename(columns={"width": "breadth"})
    with pytest.raises(ValueError, match=r"(?s)breadth.*width|width.*breadth"):
        check_data(other, 3, feature_names=["length", "width", "depth"])


def test_dataframe_in_another_column_order_gives_the_cells_of_the_fit_order():
    """Oracle: the partition of the same data in the model's column order (the columns
    were silently taken by position before)."""
    df, y = _frame()
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(df, y)
    ref = cellgeom.partition(tree, data=df, cells="data", progress=False)
    part = cellgeom.partition(tree, data=df[["width", "depth", "length"]], cells="data",
                              progress=False)
    assert part.keys == ref.keys
    np.testing.assert_array_equal(part.cells["n_points"], ref.cells["n_points"])
    np.testing.assert_array_equal(part.domain.lo, ref.domain.lo)
    np.testing.assert_array_equal(part.locate(df[["depth", "width", "length"]]),
                                  ref.locate(df))


def test_dataframe_with_a_foreign_column_is_refused_naming_it():
    """Oracle: the message names the unexpected column and the missing one."""
    df, y = _frame()
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(df, y)
    with pytest.raises(ValueError, match=r"(?s)height.*depth|depth.*height"):
        cellgeom.partition(tree, data=df.rename(columns={"depth": "height"}), progress=False)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_data_gives_the_cells_of_the_dense_array(fmt):
    """Oracle: the same partition from the dense array (it failed with 'setting an array
    element with a sequence')."""
    df, y = _frame()
    X = df.to_numpy().copy()
    X[np.abs(X) < 0.5] = 0.0
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    ref = cellgeom.partition(tree, data=X, cells="data", progress=False)
    part = cellgeom.partition(tree, data=sp.coo_matrix(X).asformat(fmt), cells="data",
                              progress=False)
    assert part.keys == ref.keys
    np.testing.assert_array_equal(part.cells["n_points"], ref.cells["n_points"])
    np.testing.assert_array_equal(check_data(sp.csr_matrix(X), 3), X)


def test_sparse_data_for_an_arrangement_is_densified():
    """Oracle: the dense array's partition (every adapter goes through check_data)."""
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [-0.3, -0.6])
    X = np.array([[0.1, 0.0], [0.0, 0.9], [0.5, 0.7]])
    box = cellgeom.Box([0, 0], [1, 1])
    a = cellgeom.partition(arr, domain=box, data=sp.csr_matrix(X), progress=False)
    b = cellgeom.partition(arr, domain=box, data=X, progress=False)
    assert a.keys == b.keys


def test_non_finite_data_is_refused_naming_the_rows_and_columns():
    X = np.zeros((6, 3))
    X[1, 2], X[4, 0] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"2 entries in 2 rows.*row 1 column 2 \(nan\), "
                                         r"row 4 column 0 \(inf\)"):
        check_data(X, 3)
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"8 entries in 6 rows.*and 5 more"):
        check_data(X, 3)
