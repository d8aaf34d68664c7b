"""A script without a main guard that asks for workers: the error names the guard."""
import subprocess
import sys
import textwrap

import pytest

from cellgeom.parallel.executors import _has_main_guard


@pytest.mark.parametrize("source,guarded", [
    ('if __name__ == "__main__":\n    main()\n', True),
    ("if '__main__' == __name__:\n    main()\n", True),
    ('# no `if __name__ == "__main__":` guard here\nmain()\n', False),
    ("def f():\n    if __name__ == '__main__':\n        pass\nf()\n", False),
])
def test_main_guard_is_read_from_the_syntax_not_the_text(source, guarded):
    assert _has_main_guard(source) is guarded


def test_workers_of_an_unguarded_script_name_the_missing_guard(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, cellgeom
        from sklearn.cluster import KMeans
        X = np.random.default_rng(0).normal(size=(300, 3))
        km = KMeans(6, n_init=1, random_state=0).fit(X)
        cellgeom.partition(km, data=X, cells="all", n_jobs=2, progress=False)
    """))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert run.returncode != 0
    assert 'has no `if __name__ == "__main__":` guard' in run.stderr
