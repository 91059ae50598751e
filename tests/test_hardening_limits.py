"""Resource exhaustion and small slips: alias bombs and long values in messages, the thread
setting's bounds, a closed pipe, paths with spaces and ~, control characters in text, and the
Pages workflow's tokens (write tokens in the deploy job only, checkouts without stored
credentials).
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, dump_manifest, write_image
from test_hardening import cached_gallery, load


def alias_bomb(levels: int = 9) -> str:
    """YAML whose last alias expands to 10**levels items ("billion laughs")."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines)


# ---------------------------------------------------------------- 14: alias bombs, long values

@pytest.mark.parametrize("key", ["seed", "iterations", "preset"])
def test_a_yaml_alias_bomb_is_refused_quickly_and_briefly(make_gallery, cli, key):
    path = make_gallery()
    # the anchors may sit anywhere; here under a key of their own
    path.write_text(path.read_text() + "x-anchors:\n  " + alias_bomb().replace("\n", "\n  ")
                    + f"\nrender:\n  {key}: *a8\n")
    t0 = time.monotonic()
    rc, out, err = cli("validate", "--config", path)
    assert time.monotonic() - t0 < 20  # not a MemoryError after minutes, nor megabytes printed
    assert rc == 2 and "expands to more than" in err and len(err) < 2000, err[:2000]


def test_a_long_value_is_quoted_briefly(make_gallery, cli):
    path = make_gallery(render={"seed": [1] * 100_000})
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and "'seed' must be a whole number, not [1, 1, 1" in err
    assert len(err) < 1000, len(err)


# ---------------------------------------------------------------- 15: GALLERY_THREADS

@pytest.mark.parametrize("value", ["99999", "10000", "0"])
def test_gallery_threads_is_bounded_by_the_cores(monkeypatch, value):
    pytest.importorskip("torch")
    from pipeline.render.gatys import core

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("GALLERY_THREADS", value)
    said: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("pipeline")  # the CLI routes it to stderr
    logger.addHandler(handler)
    try:
        n = core.choose_threads()
    finally:
        logger.removeHandler(handler)
    assert 1 <= n <= cores
    assert any(f"GALLERY_THREADS={value}" in line for line in said), said
    monkeypatch.setenv("GALLERY_THREADS", "1")
    assert core.choose_threads() == 1


@pytest.mark.parametrize("engine", ["gatys", "fast"])
def test_both_engines_read_one_thread_setting(monkeypatch, engine):
    """The optimiser and the fast engine take the same count from the same variables."""
    pytest.importorskip("torch" if engine == "gatys" else "onnxruntime")
    if engine == "gatys":
        from pipeline.render.gatys.core import choose_threads
    else:
        from pipeline.render.fast.models import choose_threads
    from pipeline.util.errors import GalleryError

    monkeypatch.delenv("GALLERY_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert choose_threads() == 1
    monkeypatch.setenv("GALLERY_THREADS", "two")
    with pytest.raises(GalleryError, match="GALLERY_THREADS='two' must be a whole number of threads"):
        choose_threads()


# ---------------------------------------------------------------- 16: | head

def test_status_into_a_closed_pipe_is_quiet(make_gallery, tmp_path):
    path = cached_gallery(make_gallery, styles=("gogh", "munch"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "status", "--config", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    proc.stdout.close()  # as `| head -0` does: the reader is gone before the first line
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "BrokenPipeError" not in err and "Traceback" not in err, err
    assert proc.returncode == 0


# ---------------------------------------------------------------- 17: Makefile quoting

def test_make_takes_a_config_path_with_a_space(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("no make")
    project = tmp_path / "project"
    (project / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(REPO / "Makefile", project / "Makefile")
    (project / "pyproject.toml").write_text("")
    python = project / ".venv" / "bin" / "python"  # the venv's python, with this checkout first
    python.write_text(f"#!/bin/sh\nPYTHONPATH='{REPO}' exec '{sys.executable}' \"$@\"\n")
    python.chmod(0o755)
    for stamp in (".installed", ".installed-test"):
        (project / ".venv" / stamp).touch()
    folder = project / "a b"
    write_image(folder / "images" / "pearl.png")
    write_image(folder / "images" / "gogh.png", seed=3)
    dump_manifest(folder / "gallery.yaml", {
        "contents": [{"id": "pearl", "file": "images/pearl.png"}],
        "styles": [{"id": "gogh", "file": "images/gogh.png"}]})
    # Isolated from a parent make (`make test ARGS=-q` passes ARGS down through MAKEFLAGS).
    parent_make = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "ARGS", "CONFIG")
    env = {k: v for k, v in os.environ.items() if k not in parent_make}
    done = subprocess.run(["make", "--no-print-directory", "status", "CONFIG=a b/gallery.yaml"],
                          cwd=project, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "a b/gallery.yaml: 1 contents x 1 styles = 1 cells" in done.stdout
    assert "CONFIG='a b/gallery.yaml'" in done.stdout  # the command it suggests works when pasted


# ---------------------------------------------------------------- 18: ~ in paths

def test_tilde_means_home_in_every_path(make_gallery, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    path = make_gallery(site={"output": "~/x"}, cache="~/renders")
    gallery = load(path)
    assert gallery.site.output == home / "x" and gallery.cache == home / "renders"
    assert not (tmp_path / "~").exists()


# ---------------------------------------------------------------- 19: control characters

@pytest.mark.parametrize("field, text, code", [("title", "Pearl\0", "U+0000"), ("title", "\x1b[31mred", "U+001B"),
                                               ("credit", "Vermeer\x07", "U+0007"),
                                               ("description", "a\x9b31mb", "U+009B")])
def test_control_characters_in_text_are_refused(make_gallery, cli, field, text, code):
    if field == "description":
        path = make_gallery(site={"description": text})
    else:
        path = make_gallery(contents=[{"id": "pearl", field: text}])
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and f"'{field}' contains the control character {code}" in err, err
    assert "remove it" in err


def test_line_breaks_and_tabs_stay_allowed_where_text_runs_long(make_gallery, cli):
    path = make_gallery(site={"description": "Two lines\nof text,\twith a tab."},
                        contents=[{"id": "pearl", "credit": "Johannes Vermeer\nc. 1665"}])
    rc, out, err = cli("validate", "--config", path)
    assert rc == 0, err


# ---------------------------------------------------------------- 20: the Pages workflow

def test_the_pages_workflow_gives_write_tokens_only_to_the_deploy_job():
    data = yaml.safe_load((REPO / ".github" / "workflows" / "pages.yml").read_text())
    top = data.get("permissions") or {}
    assert top.get("pages") != "write" and top.get("id-token") != "write", top
    assert set(top.values()) <= {"read", "none"}, top
    jobs = data["jobs"]
    deploy = jobs["deploy"]
    assert deploy.get("permissions", {}).get("pages") == "write"
    assert deploy.get("permissions", {}).get("id-token") == "write"
    for name, job in jobs.items():
        perms = job.get("permissions") or {}
        if name != "deploy":
            assert perms.get("pages") != "write" and perms.get("id-token") != "write", name
        for step in job.get("steps") or []:
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert (step.get("with") or {}).get("persist-credentials") is False, (name, step)
