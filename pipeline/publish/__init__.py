"""Publishing: what a repository still lacks for GitHub Pages (`doctor`), read from git. Never renders or builds."""
