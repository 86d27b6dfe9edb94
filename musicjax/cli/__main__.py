"""`python -m musicjax.cli ...`, the same as the `musicjax` command."""

import sys

from musicjax.cli import main

sys.exit(main())
