"""``python -m app`` starts Ptycho Studio."""
import sys

from .main import main

sys.exit(main())
