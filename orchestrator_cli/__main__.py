"""``python -m orchestrator_cli``: the same as the ``orchestrator`` command."""

from orchestrator_cli.main import main

raise SystemExit(main())
