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


def test_a_command_imports_its_own_module_and_help_lists_them_all(make_gallery):
    """A no-op `gallery` does not pay for the other commands' modules (serve's server, the
    manifest editors, git); `--help` still lists every command."""
    config = make_gallery()
    code = ("import sys\nfrom pipeline.cli.app import main\n"
            f"main(['status', '--config', {str(config)!r}])\n"
            "others = ['pipeline.cli.' + m for m in ('site_cmds', 'entry_cmds', 'add_cmd', 'doctor_cmd', "
            "'remote_cmds', 'stylize_cmd', 'check_cmds')]\n"
            "print(sorted(m for m in others + ['pipeline.manifest.yaml_edit', 'pipeline.publish.git'] "
            "if m in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout
    from pipeline.cli.app import COMMANDS, build_parser

    listed = re.findall(r"^    (\w+)\s", build_parser().format_help(), re.M)
    assert listed == [c for c in COMMANDS if c != "build"], listed


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


# ---- --size / --preset: a quick look without editing the manifest

def test_gallery_size_and_preset_overrides_cache_apart_and_leave_the_lock_alone(
        make_gallery, fake_renderer, cli, tmp_path):
    import json

    from pipeline.manifest.reader import load_gallery
    from pipeline.plan.planner import make_plan

    manifest = make_gallery(render={"size": 48, "preset": "standard"},
                            styles=({"id": "gogh", "render": {"size": 40}},))
    rc, out, err = cli("gallery", "--config", manifest, "--quiet")
    assert rc == 0, err
    lock = manifest.with_suffix(".lock.json").read_text()
    assert [p.size for p in fake_renderer] == [40]  # the style's own size beats the gallery's

    rc, out, err = cli("gallery", "--config", manifest, "--quiet", "--size", "24", "--preset", "draft")
    assert rc == 0, err
    assert "preview: --preset draft --size 24" in out
    assert [(p.size, p.preset) for p in fake_renderer][1:] == [(24, "draft")]  # over every layer
    assert manifest.with_suffix(".lock.json").read_text() == lock, "a preview must not touch the lock file"
    g = load_gallery(manifest)
    real, preview = make_plan(g).cells[0], make_plan(g.with_overrides(size=24, preset="draft")).cells[0]
    assert real.key != preview.key and real.state == preview.state == "cached"
    # the site shows the preview: its render page records 24 px
    site = tmp_path / "site"
    page = (site / "render" / "pearl--gogh.html").read_text()
    assert "<code>size</code></th><td>24</td>" in page

    # both stay cached: switching back and forth renders nothing
    for extra in ((), ("--size", "24", "--preset", "draft")):
        assert cli("gallery", "--config", manifest, "--quiet", *extra)[0] == 0
    assert len(fake_renderer) == 2
    rc, out, err = cli("status", "--config", manifest, "--size", "32")
    assert "preview: --size 32" in out and "render" in out and "next: `make gallery" in out
    assert " SIZE=32" in out


@pytest.mark.parametrize("args, message", [(("--size", "8"), "--size: 'size' must be at least 16"),
                                          (("--preset", "fast"), "invalid choice: 'fast'")])
def test_bad_overrides_are_refused_by_name(make_gallery, cli, capsys, args, message):
    manifest = make_gallery()
    try:
        rc, out, err = cli("status", "--config", manifest, *args)
    except SystemExit as e:  # argparse's own refusal (choices)
        rc, err = e.code, capsys.readouterr().err
    assert rc != 0 and message in err


@needs_make
def test_make_passes_size_and_preset_to_every_step():
    out = _make_n("gallery", "site", "status", STAMP="/dev/null", SIZE="256", PRESET="draft")
    for step in ("pipeline gallery", "pipeline site", "pipeline status --config"):
        line = next(l for l in out.splitlines() if step in l)
        assert "--size 256" in line and "--preset draft" in line, line
    out = _make_n("gallery", STAMP="/dev/null", ARGS="--quiet")
    assert re.search(r"pipeline gallery .*--quiet", out)


@needs_make
def test_variables_said_on_makes_command_line_stay_out_of_the_recipes_environment(tmp_path):
    """`make test ARGS=-q` must not hand -q to the makes and commands its recipes start (the
    tests' own `make add ...`): the Makefile reads ARGS, CONFIG, SIZE, ... but exports none."""
    probe = tmp_path / "probe.mk"
    names = ("ARGS", "CONFIG", "SIZE", "PRESET", "STYLE", "CONTENT", "PORT")
    probe.write_text("probe:\n\t@echo " + " ".join(f"{n}=[$${n}]" for n in names) + "\n")
    r = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "-f", "Makefile", "-f", str(probe),
                        "probe", *(f"{n}=x" for n in names)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [f"{n}=[]" for n in names], r.stdout
