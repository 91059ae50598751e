from pipeline.cli.app import main

raise SystemExit(main())
