"""The command line and the Makefile as a newcomer meets them: names, help texts, --version,
what `make install` shows and installs."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from pipeline import __version__

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _make_n(*targets: str, **vars: str) -> str:
    """What `make -n -B TARGET` would run (-B: as if nothing were installed yet)."""
    r = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "-n", "-B", *targets,
                        *(f"{k}={v}" for k, v in vars.items())],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_version(cli, capsys):
    with pytest.raises(SystemExit) as e:
        cli("--version")
    assert e.value.code == 0
    assert capsys.readouterr().out.strip().endswith(f" {__version__}")


def test_the_site_command_is_called_site_as_in_make_site(cli, capsys):
    from pipeline.cli.app import build_parser

    help_text = build_parser().format_help()
    assert re.search(r"^\s+site\s+write site/", help_text, re.M), help_text
    assert not re.search(r"^\s+build\s", help_text, re.M), "one name in the listing: `site`"
    with pytest.raises(SystemExit):
        cli("site", "--help")
    assert "GALLERY_BASE_URL" in capsys.readouterr().out


def test_the_console_command_names_itself(tmp_path):
    exe = Path(sys.executable).with_name("style-gallery")
    if not exe.exists():
        pytest.skip("the style-gallery console script is not installed in this environment")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: style-gallery ")


@needs_make
def test_make_site_runs_the_site_command():
    assert re.search(r"-m pipeline site --config", _make_n("site", STAMP="/nonexistent"))


@needs_make
def test_make_install_shows_progress_and_leaves_out_the_test_extras():
    out = _make_n("install", STAMP="/tmp/never-there")
    installs = [line for line in out.splitlines() if "pip install" in line and "-e" in line]
    assert installs, out
    assert all("--quiet" not in line for line in installs), "the long install must show pip's progress"
    assert all("[test]" not in line for line in installs), "make install must not install the test extras"
    out = _make_n("test", STAMP="/tmp/never-there", TEST_STAMP="/tmp/never-there-either")
    assert "'.[test]'" in out


@needs_make
def test_make_help_says_what_clean_does():
    r = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "help"],
                       capture_output=True, text=True, timeout=60)
    clean = next(line for line in r.stdout.splitlines() if re.match(r"\s+make clean\s", line))
    recipe = _make_n("clean")
    # every thing the help line says it removes is removed, and what it keeps is not touched
    for thing in ("__pycache__", ".pytest_cache", "build", "egg-info"):
        assert thing in clean and thing in recipe, (thing, clean, recipe)
    assert "keeps site/ and renders/" in clean
    assert not re.search(r"rm -rf[^\n]*\b(site|renders)\b", recipe)


def test_readme_documents_the_console_command_and_base_url():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "style-gallery " in readme and "GALLERY_BASE_URL" in readme
    assert "python -m pipeline build" not in readme
