"""ttmem's processor for stock tt-metal, from Python: ``import ttmem.tt_metal`` after ``import ttnn``.

Loads libttmem_tt_metal.so (built against your tt-metal: scripts/tt-metal-build.sh; found through
TTMEM_TT_METAL_LIB, else beside libttmem) into the process, which puts ttmem's GraphTracker
processor on the importing thread, and on every Python thread started afterwards (through
threading.settrace). Threads that tt-metal starts in C++ are covered only when the library is
preloaded (LD_PRELOAD=libttmem_tt_metal.so), which is the complete mode (docs/tt-metal.md).
Tracking needs TT_ALLOC_TRACKING_ENABLED=1, as everywhere in ttmem.
"""

import ctypes
import os
import sys
import threading

__all__ = ["library", "attach_thread"]


def _find_library():
    explicit = os.environ.get("TTMEM_TT_METAL_LIB")
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (
        os.path.join(here, "libttmem_tt_metal.so"),
        os.path.join(here, "..", "..", "lib", "libttmem_tt_metal.so"),
    ):
        if os.path.exists(candidate):
            return candidate
    return "libttmem_tt_metal.so"


if "ttnn" not in sys.modules:
    raise ImportError(
        "ttmem.tt_metal: import ttnn first (libttmem_tt_metal.so resolves tt-metal's symbols "
        "from the libraries ttnn loads)"
    )

library = ctypes.CDLL(_find_library(), mode=ctypes.RTLD_GLOBAL)
attach_thread = library.ttmem_tt_metal_attach_thread
attach_thread.restype = None
attach_thread.argtypes = []


def _on_new_thread(*_):
    attach_thread()
    return None  # no tracing: only the thread start was wanted


attach_thread()
threading.settrace(_on_new_thread)
