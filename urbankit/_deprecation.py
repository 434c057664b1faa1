"""Old names kept working for one release, each with a :class:`DeprecationWarning` saying what to use.

- :func:`renamed_kwargs` maps old keyword arguments to new ones (``resolution=`` -> ``h3_resolution=``).
- :func:`deprecated_alias` is an old function name that calls the new function.
- :func:`callable_module` lets a subpackage that replaced a function of the same name (``uk.accessibility``
  was a function, is now the :mod:`urbankit.accessibility` package) still be called as before.
"""

from __future__ import annotations

import functools
import sys
import types
import warnings

from ._errors import InvalidOptionError

__all__ = ["callable_module", "deprecated_alias", "renamed_kwargs", "warn_moved"]

#: the release in which the old names go away (stated in every warning)
REMOVED_IN = "0.3"


def _warn(message: str, stacklevel: int = 3) -> None:
    warnings.warn(f"{message}; the old name goes away in urbankit {REMOVED_IN}.", DeprecationWarning, stacklevel)


def warn_moved(old: str, new: str) -> None:
    """Warn, from a module left at an old path, that it moved (call it at the shim's top level)."""
    warnings.warn(
        f"{old} moved to {new}; import from there (the old path goes away in urbankit {REMOVED_IN}).",
        DeprecationWarning,
        stacklevel=3,
    )


def renamed_kwargs(**old_to_new: str):
    """Decorator: accept each old keyword name, warn, and pass the value on under the new name.

    >>> @renamed_kwargs(resolution="h3_resolution")
    ... def f(*, h3_resolution=9):
    ...     return h3_resolution
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     f(resolution=8), w[0].category.__name__
    (8, 'DeprecationWarning')
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise InvalidOptionError(
                            f"{func.__name__}() got both {old}= (old name) and {new}=; give only {new}=."
                        )
                    _warn(f"{func.__name__}({old}=...) is now {func.__name__}({new}=...)")
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        wrapper.__renamed_kwargs__ = dict(old_to_new)
        return wrapper

    return decorate


def deprecated_alias(func, old_name: str, *, qualified: str | None = None):
    """A function named ``old_name`` that warns and calls ``func``."""
    new = qualified or f"urbankit.{func.__name__}"

    @functools.wraps(func)
    def alias(*args, **kwargs):
        _warn(f"urbankit.{old_name}() is now {new}()")
        return func(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated name of :func:`{new}` (warns; removed in urbankit {REMOVED_IN})."
    return alias


class _CallableModule(types.ModuleType):
    """A module that, called, warns and calls the function it replaced."""

    __replaced_function__ = None

    def __call__(self, *args, **kwargs):
        func = self.__replaced_function__
        _warn(f"calling the module {self.__name__}() is deprecated; call {func.__module__}.{func.__name__}()")
        return func(*args, **kwargs)


def callable_module(module_name: str, func) -> None:
    """Make the already imported module ``module_name`` callable as ``func`` (with a warning)."""
    module = sys.modules[module_name]
    module.__class__ = _CallableModule
    module.__replaced_function__ = func
