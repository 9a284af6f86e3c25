"""`python -m stream_rerun.launch`."""

from stream_rerun.launch.cli import main

raise SystemExit(main())
