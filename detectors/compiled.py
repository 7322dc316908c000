"""How the detector compiles its per-sensor loops (numba).

`compiled` is numba's njit with the options every kernel shares: numpy's float semantics
(x / 0 gives inf or NaN as in the array code, never an exception), the GIL released while
it runs, and machine code cached on disk, so only the first run on a machine compiles (a
few seconds). `inlined` is for the small per-sensor functions the loops call: inlined into
the loop, as a call passing a dozen arrays costs more than the arithmetic.

A `kernel` (a loop over sensors called from Python) is compiled for one set of argument
types only (`reads`, `writes`), when the first Detector is built (`compile_kernels`):
left to itself numba compiles a variant per combination of layouts it meets (a setting
shared by every sensor is one broadcast value, one that varies is a column), seconds each.

numba's cache checks only the file of the function it compiled, not the functions it
calls nor the constants it read from other modules. The cache lives in a directory named
by a hash of every source file that can reach compiled code (this package and the model),
so any change to them compiles afresh.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numba
from numba import njit, types


def _sources() -> list[Path]:
    here = Path(__file__).resolve().parent
    return [*sorted(here.rglob("*.py")), here.parent / "hazardwatch" / "vocabulary" / "model.py"]


def _cache_dir() -> Path:
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    name = f"hazardwatch-{digest.hexdigest()[:16]}"
    base = os.environ.get("NUMBA_CACHE_DIR")
    candidates = [Path(base)] if base else []
    candidates += [Path(__file__).resolve().parent / "__pycache__", Path(tempfile.gettempdir())]
    for parent in candidates:
        try:
            (parent / name).mkdir(parents=True, exist_ok=True)
        except OSError:  # a read-only install: the next place
            continue
        if os.access(parent / name, os.W_OK):
            return parent / name
    return Path(tempfile.mkdtemp(prefix=name))


numba.config.CACHE_DIR = str(_cache_dir())
# nogil: a loop touches only the arrays it is given, so while it runs the threads beside the
# event loop (the network client's, the store's append and compaction) can run Python.
compiled = partial(njit, cache=True, error_model="numpy", boundscheck=False, nogil=True)
inlined = partial(
    njit, cache=True, error_model="numpy", boundscheck=False, nogil=True, inline="always"
)
_PENDING: list[tuple[Any, tuple[types.Type, ...]]] = []


def reads(dtype: types.Type, ndim: int = 1) -> types.Array:
    """A kernel's input: read only, any layout (a view, a value broadcast to every sensor)."""
    return types.Array(dtype, ndim, "A", readonly=True)


def writes(dtype: types.Type, ndim: int = 1) -> types.Array:
    """State or output a kernel writes in place: C-contiguous, writeable."""
    return types.Array(dtype, ndim, "C")


def kernel(*argtypes: types.Type) -> Callable[[Callable[..., Any]], Any]:
    """`compiled`, for exactly these argument types (numba converts what it is given)."""

    def wrap(fn: Callable[..., Any]) -> Any:
        dispatcher = compiled(fn)
        _PENDING.append((dispatcher, tuple(argtypes)))
        return dispatcher

    return wrap


def compile_kernels() -> None:
    """Compile every kernel for its argument types, or load it from the cache, once."""
    while _PENDING:
        dispatcher, argtypes = _PENDING.pop()
        dispatcher.compile(argtypes)
        dispatcher.disable_compile()
