"""Stage 3, render: the style-transfer engines behind one interface (engine.py); one folder per engine."""
