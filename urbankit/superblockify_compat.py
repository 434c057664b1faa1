"""Deprecated location: moved to :mod:`urbankit.superblocks.compat`."""

from .superblocks.compat import *  # noqa: F401,F403
from .superblocks.compat import (
    _in_temporary_folder,  # noqa: F401
    load_graphml_for_superblockify,  # noqa: F401
)
