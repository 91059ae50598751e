"""Extras beside the gallery's own run (plan, render, lock file, site): each hangs on the run's
named hooks (hooks.py), so it can be turned off or replaced in one place, as sigal's plugins
hang on its signals. The runner registers the default set (runner.default_hooks)."""
