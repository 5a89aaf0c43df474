"""Suite-wide settings: offscreen Qt, hermetic caches, few threads (CI has 2 cores)."""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
