"""Box partitions pickle (joblib.dump, process pools, Dask): oracle, the unpickled
partition locates every point in the same cell as the original, and the same cells."""
import pickle

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import cellgeom

X, y = load_iris(return_X_y=True)


def _models():
    out = [("tree", DecisionTreeClassifier(max_depth=4, random_state=0)),
           ("forest", RandomForestClassifier(8, max_depth=3, random_state=0)),
           ("gradient boosting", GradientBoostingClassifier(n_estimators=5, max_depth=2)),
           ("hist gradient boosting", HistGradientBoostingClassifier(max_iter=5)),
           ("scaled tree", make_pipeline(StandardScaler(),
                                         DecisionTreeClassifier(max_depth=3, random_state=0)))]
    for module, factory in (("xgboost", "XGBClassifier"), ("lightgbm", "LGBMClassifier"),
                            ("catboost", "CatBoostClassifier")):
        try:
            lib = __import__(module)
        except ImportError:
            continue
        kwargs = {"n_estimators": 5, "max_depth": 2}
        kwargs.update({"lightgbm": {"verbose": -1},
                       "catboost": {"verbose": 0, "allow_writing_files": False}}.get(module, {}))
        out.append((module, getattr(lib, factory)(**kwargs)))
    return out


MODELS = _models()


@pytest.mark.parametrize("cells", ["data", "all"])
@pytest.mark.parametrize("name,model", MODELS, ids=[n for n, _ in MODELS])
def test_partition_survives_pickle_and_locates_as_before(name, model, cells):
    model.fit(X, y)
    part = cellgeom.partition(model, data=X, cells=cells, progress=False)
    again = pickle.loads(pickle.dumps(part))
    assert list(again.keys) == list(part.keys)
    rng = np.random.default_rng(0)
    Q = np.vstack([X, part.domain.lo + rng.random((300, 4)) * part.domain.widths])
    np.testing.assert_array_equal(again.locate(Q), part.locate(Q))
    np.testing.assert_array_equal(again.cells["volume"], part.cells["volume"])
