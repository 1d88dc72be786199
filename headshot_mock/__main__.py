"""``python -m headshot_mock`` is the ``headshot-mock`` command."""

from headshot_mock.contracts.cli import main

raise SystemExit(main())
