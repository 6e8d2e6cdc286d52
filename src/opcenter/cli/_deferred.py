"""Standard-library modules a command process imports but seldom uses, loaded on first use.

SQLAlchemy imports `importlib.metadata` when it loads (sqlalchemy/util/compat.py), to look up
plugin entry points: it only uses it when asked for a dialect or plugin it does not know, which
`opcenter` never does. Importing it costs a command about 20 ms of CPU (it brings in `email`,
`zipfile`, `csv`, `tempfile`, ~40 modules), a tenth of `opcenter run --wait`'s whole process.

`defer` puts a module object in `sys.modules` that holds only the module's spec (its name, file,
`__path__`): `import` and `from importlib import metadata` hand it out without running the
module's code; the first read of an attribute it lacks runs that code into the same object
(which then is the real module, for everyone who holds it). Python's own
`importlib.util.LazyLoader` would do this, but on Python 3.11 the `import` statement itself
reads `__spec__` through it and so loads the module at once.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from typing import Any

__all__ = ["defer"]

_lock = threading.RLock()  # one load at a time; a thread that reads meanwhile waits for it
_loading: set[str] = set()


class _OnFirstUse(types.ModuleType):
    """A module whose code has not run yet; `__getattr__` is only called for a missing name."""

    def __getattr__(self, name: str) -> Any:
        with _lock:
            if type(self) is _OnFirstUse:
                if self.__name__ in _loading:
                    # Its own code, loading now, asks for a submodule (`from . import _meta`):
                    # not there yet, so the import system imports it.
                    raise AttributeError(name)
                _load(self)
        return getattr(self, name)


def _load(module: types.ModuleType) -> None:
    spec = module.__spec__
    assert spec is not None and spec.loader is not None
    _loading.add(module.__name__)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if sys.modules.get(module.__name__) is module:
            del sys.modules[module.__name__]  # as a failed import leaves it: the next one retries
        raise
    finally:
        _loading.discard(module.__name__)
    module.__class__ = types.ModuleType


def defer(name: str) -> None:
    """Have the standard-library module `name` load when first used, not when imported. Does
    nothing if it is imported already (or cannot be found)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _OnFirstUse
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)  # `from parent import child` finds it
