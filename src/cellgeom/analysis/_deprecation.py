"""Deprecated keyword names of the analysis functions (one vocabulary, issue #20).

The old names keep working for one release: the value moves to the new keyword and a
:class:`FutureWarning` names the replacement (FutureWarning, as in scikit-learn, because the
people calling these functions are end users, who never see a DeprecationWarning raised in
library code). The table of names is in docs/api.md ("Vocabulary").
"""
from __future__ import annotations

import functools
import warnings

#: the release in which the old keywords stop working
REMOVED_IN = "0.3"


def renamed_keywords(**old_to_new: str):
    """Decorator: accept each old keyword as its new name, with a FutureWarning.

    Passing both the old and the new name is a TypeError (as any duplicated argument).
    ``inspect.signature`` of the decorated function shows the new names only.
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{func.__name__}() got both {old}= (deprecated) and {new}=; "
                            f"pass only {new}=."
                        )
                    warn_renamed(func.__name__, old, new, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        wrapper.__renamed_keywords__ = dict(old_to_new)
        return wrapper

    return decorate


def warn_renamed(owner: str, old: str, new: str, stacklevel: int = 2) -> None:
    """Emit the FutureWarning for a renamed keyword or estimator parameter.

    ``stacklevel`` counts from the caller of this function (1: the caller's own line,
    2: the line that called the caller).
    """
    warnings.warn(
        f"{owner}: the keyword {old}= is deprecated and will be removed in cellgeom "
        f"{REMOVED_IN}; use {new}= instead (same meaning).",
        FutureWarning,
        stacklevel=stacklevel + 1,
    )
