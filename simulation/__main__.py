"""`python -m simulation` is the same as the `outage-sim` command."""

from .cli import main

raise SystemExit(main())
