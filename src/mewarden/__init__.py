"""mewarden: carry out an organization's Intel ME policy (use, neutralize, ignore) on a fleet."""

from __future__ import annotations

from mewarden.errors import MewardenError

__version__ = "0.1.0"
__all__ = ["MewardenError", "__version__"]
