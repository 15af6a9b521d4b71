from dgreid.cli.main import main

raise SystemExit(main())
