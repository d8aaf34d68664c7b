"""Bad input gives a ValueError that names the problem, never a wrong number."""
import numpy as np
import pytest

import cellgeom


def test_box_validation_names_the_problem():
    with pytest.raises(ValueError, match="lo < hi"):
        cellgeom.Box([0, 1], [1, 1])
    # plain numbers in the message, not NumPy scalar reprs
    with pytest.raises(ValueError, match=r"coordinate 1 has lo=1\.0 >= hi=1\.0\.$"):
        cellgeom.Box(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="different dimensions"):
        cellgeom.Box([0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="finite"):
        cellgeom.Box([0, -np.inf], [1, 1])
    with pytest.raises(ValueError, match="finite"):
        cellgeom.Box([0, np.nan], [1, 1])


def test_arrangement_validation_names_the_problem():
    with pytest.raises(ValueError, match="NaN"):
        cellgeom.HyperplaneArrangement([[1.0, np.nan]], [0.0])
    with pytest.raises(ValueError, match="one offset per hyperplane"):
        cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [0.0])
    with pytest.raises(ValueError, match="2-D"):
        cellgeom.HyperplaneArrangement([1.0, 0.0], [0.0])
    with pytest.raises(ValueError, match="zero normal"):
        cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 0.0]], [0.0, 1.0])


ARR = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [-0.3, -0.6])
BOX = cellgeom.Box([0, 0], [1, 1])


def test_partition_input_errors():
    with pytest.raises(ValueError, match="empty"):
        cellgeom.partition(ARR, domain=BOX, data=np.zeros((0, 2)), progress=False)
    with pytest.raises(ValueError, match="needs data"):
        cellgeom.partition(ARR, domain=BOX, cells="data", progress=False)
    with pytest.raises(ValueError, match="dimension 3"):
        cellgeom.partition(ARR, domain=cellgeom.Box([0, 0, 0], [1, 1, 1]), cells="all",
                           progress=False)
    with pytest.raises(ValueError, match="3 features"):
        cellgeom.partition(ARR, domain=BOX, data=np.zeros((4, 3)), progress=False)
    with pytest.raises(ValueError, match="NaN"):
        cellgeom.partition(ARR, domain=BOX, data=np.array([[0.1, np.nan]]), progress=False)
    with pytest.raises(ValueError, match="cells must be"):
        cellgeom.partition(ARR, domain=BOX, cells="some", progress=False)
    with pytest.raises(ValueError, match="domain"):
        cellgeom.partition(ARR, cells="all", progress=False)
    with pytest.raises(ValueError, match="No data point lies inside"):
        cellgeom.partition(ARR, domain=BOX, data=np.array([[5.0, 5.0]]), progress=False)


def test_unknown_model_lists_the_supported_ones():
    with pytest.raises(TypeError, match="HyperplaneArrangement"):
        cellgeom.partition(object(), domain=BOX, cells="all", progress=False)


def test_complex_argument_errors():
    part = cellgeom.partition(ARR, domain=BOX, cells="all", progress=False)
    with pytest.raises(ValueError, match="rule"):
        cellgeom.build_complex(part, rule="vietoris")
    with pytest.raises(ValueError, match="metric"):
        cellgeom.build_complex(part, metric="euclid")
    with pytest.raises(TypeError, match="Partition"):
        cellgeom.build_complex("not a partition")
    cx = cellgeom.build_complex(part)
    with pytest.raises(ValueError, match="non-negative"):
        cx.boundary(-1)
    with pytest.raises(IndexError):
        part.halfspaces(10)


def test_default_domain_is_the_padded_bounding_box_of_the_data():
    X = np.array([[0.0, 0.0], [1.0, 2.0]])
    part = cellgeom.partition(ARR, data=X, progress=False)
    np.testing.assert_allclose(part.domain.lo, [-0.05, -0.1])
    np.testing.assert_allclose(part.domain.hi, [1.05, 2.1])
    assert part.locate(np.array([[10.0, 10.0]]))[0] == -1


@pytest.mark.parametrize("model_kind", ["arrangement", "tree", "kmeans"])
def test_unknown_keyword_is_named_with_the_accepted_ones(model_kind):
    """Oracle: the message names the misspelt keyword, the model and every accepted
    parameter (it was a private function's TypeError)."""
    from sklearn.cluster import KMeans
    from sklearn.tree import DecisionTreeClassifier

    X = np.random.default_rng(0).random((30, 2))
    model = {"arrangement": lambda: ARR,
             "tree": lambda: DecisionTreeClassifier(max_depth=2).fit(X, X[:, 0] > 0.5),
             "kmeans": lambda: KMeans(3, n_init=1, random_state=0).fit(X)}[model_kind]()
    with pytest.raises(TypeError, match=r"'include_neighbours'.*Accepted: domain, data, "
                                        r"cells, tol, n_jobs, executor, progress"):
        cellgeom.partition(model, data=X, include_neighbours=True, progress=False)


def test_every_adapter_accepts_the_common_parameters():
    """#20: partition(tree, n_jobs=2) and partition(forest, executor=...) used to raise a
    private function's TypeError. Oracle: the cells built with default parameters; every
    family accepts tol, n_jobs, executor and progress, and they do not change the cells."""
    from sklearn.cluster import KMeans
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from cellgeom.parallel import SerialExecutor

    rng = np.random.default_rng(0)
    X = rng.random((120, 2))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    models = [ARR, DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
              RandomForestClassifier(3, max_depth=3, random_state=0).fit(X, y),
              KMeans(4, n_init=1, random_state=0).fit(X), LogisticRegression().fit(X, y),
              make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)]
    for k, model in enumerate(models):
        ref = cellgeom.partition(model, data=X, progress=False)
        # a process pool only for the box families (which do their work in closed form);
        # starting pools for the polytope families would cost seconds and test nothing new
        pools = [{"n_jobs": 2}, {"n_jobs": 2, "executor": "processes"}] if k in (1, 2) else []
        for common in ({"executor": SerialExecutor(), "n_jobs": 1}, {"executor": "serial"},
                       {"tol": 1e-9}, *pools):
            part = cellgeom.partition(model, data=X, **{"progress": False, **common})
            assert part.keys == ref.keys, (type(model).__name__, common)
            np.testing.assert_allclose(part.volumes, ref.volumes, rtol=1e-9)
