"""Publishing the first time: `doctor` on fresh `git init` repositories (each missing thing named
with the command that fixes it, the exit status), and the whole user's path in a temporary
folder with make: init, two adds, preview, the README's `git add` line, doctor passing."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, write_image
from pipeline.publish import doctor
from pipeline.publish.git import Repo

SEED = Path(os.environ.get("GALLERY_MIRROR", "/work/shared/seed-gallery").split(os.pathsep)[0])
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True,
                          text=True).stdout


def sh(repo: Path, line: str) -> None:
    """Run one command line as printed for the user (a `git ...` command, maybe with `&&`)."""
    subprocess.run(line, shell=True, cwd=repo, env=GIT_ENV, check=True, capture_output=True)


def copy_project(dest: Path, demo: bool = False) -> Path:
    """The files a clone of the project has (without tests and benchmarks), in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Makefile", "pyproject.toml", ".gitignore"):
        shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in (".github", "templates", "pipeline"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    (dest / "config").mkdir()
    shutil.copy2(REPO / "config" / "gallery.schema.json", dest / "config")
    if demo:
        shutil.copy2(REPO / "config" / "gallery.yaml", dest / "config")
    return dest


@pytest.fixture
def fresh(tmp_path, cli) -> Path:
    """A copy of the project in a repository just made with `git init` (on master, nothing
    committed), with a gallery of one own photo and one own painting."""
    repo = copy_project(tmp_path / "gallery")
    git(repo, "init", "-q", "-b", "master")
    manifest = repo / "config" / "gallery.yaml"
    assert cli("init", "--config", manifest)[0] == 0
    assert cli("add", "content", write_image(tmp_path / "in" / "me.png", seed=1), "--config", manifest)[0] == 0
    assert cli("add", "style", write_image(tmp_path / "in" / "sky.png", seed=2), "--config", manifest)[0] == 0
    return repo


def run_doctor(cli, repo: Path, manifest: str = "config/gallery.yaml") -> tuple[int, str]:
    rc, out, err = cli("doctor", "--config", repo / manifest)
    assert not err, err
    return rc, out


def findings(out: str) -> dict[str, list[tuple[str, str]]]:
    """topic -> [(level, text and fix)] from doctor's lines."""
    found: dict[str, list[tuple[str, str]]] = {}
    last = None
    for line in out.splitlines():
        m = re.match(r"  (ok|FIX|note)\s+(\S+(?: LFS| URL| file)?)\s+(.*)", line)
        if m:
            last = [m.group(1), m.group(3)]
            found.setdefault(m.group(2), []).append(last)
        elif last is not None and line.strip().startswith("-> "):
            last[1] += " || " + line.strip()[3:]
    return {k: [tuple(v) for v in vs] for k, vs in found.items()}


def fix_of(out: str, topic: str) -> str:
    (level, text), = [f for f in findings(out)[topic] if f[0] == "FIX"]
    return text.split(" || ")[1]


def test_doctor_on_a_fresh_git_init_names_each_missing_thing_and_its_fix(cli, fresh):
    rc, out = run_doctor(cli, fresh)
    assert rc == 1, out
    f = findings(out)
    assert {topic for topic, items in f.items() if any(level == "FIX" for level, _ in items)} == \
        {"project", "manifest", "workflow", "images"}
    assert fix_of(out, "project") == "git add Makefile pyproject.toml pipeline templates .gitignore"
    assert fix_of(out, "images") == "git add config/my-images/content/me.png config/my-images/style/sky.png"
    assert f["branch"] == [("ok", "master: the workflow runs on its pushes")]
    assert f["lock file"][0][0] == "note" and "make gallery writes it" in f["lock file"][0][1]
    assert f["remote"][0][0] == "note" and "turn Pages on" in f["remote"][0][1]
    assert "4 things block publishing" in out
    # the one line it prints for all of them is exactly what is missing
    line = re.search(r"at once:\n  (git add .*)\n", out).group(1)
    sh(fresh, line)
    rc, out = run_doctor(cli, fresh)
    assert rc == 0 and "ready: nothing blocks publishing" in out and "FIX" not in out, out
    assert "git push -u origin master" in out


def test_a_branch_the_workflow_does_not_run_on_is_named_with_the_rename(cli, fresh):
    sh(fresh, "git add .")
    git(fresh, "symbolic-ref", "HEAD", "refs/heads/drafts")  # unborn: as `git init` on another default
    rc, out = run_doctor(cli, fresh)
    assert rc == 1 and "you are on 'drafts', and the workflow runs on pushes to main, master" in out
    assert fix_of(out, "branch") == "git branch -M main"
    git(fresh, "commit", "-qm", "gallery")
    sh(fresh, fix_of(out, "branch"))
    rc, out = run_doctor(cli, fresh)
    assert rc == 0 and "main: the workflow runs on its pushes" in out, out


def test_a_workflow_only_for_main_refuses_master(cli, fresh):
    wf = fresh / doctor.WORKFLOW
    wf.write_text(wf.read_text().replace("branches: [main, master]", "branches: [main]"))
    sh(fresh, "git add .")
    rc, out = run_doctor(cli, fresh)
    assert rc == 1 and fix_of(out, "branch") == "git branch -M main"


def test_an_own_image_git_ignores_is_named_with_the_move(cli, fresh):
    manifest = fresh / "config" / "gallery.yaml"
    hidden = write_image(fresh / "config" / "images" / "content" / "attic.png", seed=3)  # git-ignored
    text = manifest.read_text().replace(
        "\n# The paintings", f"  - id: attic\n    title: Attic\n    file: images/content/attic.png\n\n# The paintings")
    manifest.write_text(text)
    sh(fresh, "git add .")
    rc, out = run_doctor(cli, fresh)
    assert rc == 1, out
    assert "content 'attic': git ignores config/images/content/attic.png" in out
    fix = fix_of(out, "images")
    assert fix.startswith("make remove CONTENT=attic && make add CONTENT=config/images/content/attic.png")
    # what that does, without make: the photo moves into my-images/, and then only `git add` is left
    assert cli("remove", "content", "attic", "--config", manifest)[0] == 0
    assert cli("add", "content", hidden, "--config", manifest)[0] == 0
    rc, out = run_doctor(cli, fresh)
    assert rc == 1 and fix_of(out, "images") == "git add config/my-images/content/attic.png"


def test_an_image_changed_after_git_add_is_not_what_would_be_published(cli, fresh):
    sh(fresh, "git add .")
    write_image(fresh / "config" / "my-images" / "content" / "me.png", seed=9)
    rc, out = run_doctor(cli, fresh)
    assert rc == 1 and fix_of(out, "images") == "git add config/my-images/content/me.png"


def _sparse(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def test_large_images_and_git_lfs(cli, fresh, monkeypatch):
    me = fresh / "config" / "my-images" / "content" / "me.png"
    sky = fresh / "config" / "my-images" / "style" / "sky.png"
    _sparse(me, 101 * 2**20)  # GitHub refuses it
    _sparse(sky, 12 * 2**20)  # worth LFS
    sh(fresh, "git add Makefile pyproject.toml pipeline templates .gitignore .github config/gallery.yaml")
    rc, out = run_doctor(cli, fresh)
    assert rc == 1 and "GitHub refuses files over 100 MB: config/my-images/content/me.png" in out
    fix = fix_of(out, "Git LFS")
    assert fix.startswith("git lfs install && git lfs track 'config/my-images/**' && git add .gitattributes")
    assert ("note", "1 image over 10 MB without Git LFS: config/my-images/style/sky.png || "
            "git lfs install && git lfs track 'config/my-images/**' && git add .gitattributes, or commit "
            "smaller copies") in findings(out)["Git LFS"]
    # tracked by LFS: fine where git-lfs is installed, a blocker where it is not (pointers would be pushed)
    (fresh / ".gitattributes").write_text("config/my-images/** filter=lfs diff=lfs merge=lfs -text\n")
    monkeypatch.setattr(Repo, "lfs_installed", lambda self: False)
    rc, out = run_doctor(cli, fresh)
    assert rc == 1 and "stored with Git LFS, which is not installed here" in out
    monkeypatch.setattr(Repo, "lfs_installed", lambda self: True)
    rc, out = run_doctor(cli, fresh)
    assert "GitHub refuses" not in out and "2 image(s) in Git LFS" in out
    line = re.search(r"at once:\n  (git add .*)\n", out).group(1)
    assert ".gitattributes" in line.split()


def test_a_manifest_or_site_folder_the_workflow_does_not_build(cli, fresh):
    manifest = fresh / "config" / "gallery.yaml"
    manifest.write_text(manifest.read_text().replace("output: ../site ", "output: ../public"))
    shutil.copy(manifest, fresh / "config" / "mine.yaml")
    sh(fresh, "git add .")
    rc, out = run_doctor(cli, fresh)
    assert rc == 1 and fix_of(out, "site.output") == "set `site: output: ../site` in config/gallery.yaml"
    rc, out = run_doctor(cli, fresh, "config/mine.yaml")
    assert rc == 1 and "the workflow builds config/gallery.yaml, not config/mine.yaml" in out


def test_outside_a_repository_and_without_a_workflow(cli, tmp_path):
    manifest = tmp_path / "loose" / "config" / "gallery.yaml"
    assert cli("init", "--config", manifest)[0] == 0
    rc, out = run_doctor(cli, tmp_path / "loose")
    assert rc == 1 and fix_of(out, "repository").startswith("git init -b main")
    git(tmp_path / "loose", "init", "-q", "-b", "main")
    rc, out = run_doctor(cli, tmp_path / "loose")
    assert rc == 1 and ".github/workflows/pages.yml is missing" in out
    assert "Makefile, pyproject.toml, pipeline, templates, .gitignore are not in" in out


def test_a_github_remote_gives_the_pages_address(cli, fresh):
    sh(fresh, "git add .")
    git(fresh, "remote", "add", "origin", "git@github.com:Ada/my-gallery.git")
    rc, out = run_doctor(cli, fresh)
    assert rc == 0, out
    assert "the workflow passes the Pages address to the build (https://ada.github.io/my-gallery/)" in out
    assert ("ok", "origin is git@github.com:Ada/my-gallery.git; Pages must be on before the first push "
                  f"({doctor.PAGES_SETTING})") in findings(out)["remote"]


@pytest.mark.parametrize("remote, address", [
    ("https://github.com/ada/gallery.git", "https://ada.github.io/gallery/"),
    ("ssh://git@github.com/ada/gallery", "https://ada.github.io/gallery/"),
    ("git@github.com:Ada/ada.github.io.git", "https://ada.github.io/"),
    ("git@gitlab.com:ada/gallery.git", ""),
])
def test_pages_address(remote, address):
    assert doctor.pages_address(remote) == address


def test_the_workflow_runs_on_main_and_on_master():
    """A repository made with `git init` starts on master (git's default): its first push publishes."""
    workflow = yaml.safe_load((REPO / doctor.WORKFLOW).read_text())
    assert set(doctor.push_branches(workflow)) == {"main", "master"}


# ---- the whole path, with make, as the README gives it

def _readme_git_add() -> str:
    """The `git add` line of the README's publishing steps."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Publish on GitHub Pages"):]
    return next(line.split("#")[0].strip() for line in section.splitlines()
                if line.strip().startswith("git add "))


def test_make_it_yours_and_publish_from_a_clone(tmp_path, seed_mirror):
    repo = copy_project(tmp_path / "clone", demo=True)
    git(repo, "init", "-q", "-b", "master")  # a clone's state: the project committed, on git's default branch
    sh(repo, "git add . && git commit -qm project")
    venv = Path(sys.executable).parent.parent
    # VENV: this interpreter; -o: its install stamp is never remade (no pip in a test)
    make = ["make", f"VENV={venv}", "-o", f"{venv}/.installed"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*make, *args], cwd=repo, env={**GIT_ENV, "MAKEFLAGS": ""},
                              capture_output=True, text=True, timeout=600)

    steps = [("init", "ARGS=--force"), ("add", f"CONTENT={seed_mirror / 'content' / 'pearl.jpg'}"),
             ("add", f"STYLE={seed_mirror / 'style' / 'gogh.jpg'}"), ("preview",)]
    for step in steps:
        r = run(*step)
        assert r.returncode == 0, (step, r.stdout, r.stderr)
        assert "pip install" not in r.stdout
    index = (repo / "site" / "index.html").read_text(encoding="utf-8")
    assert "Girl" not in index and "Pearl" in index and "Gogh" in index  # the new gallery, not the demo
    assert (repo / "config" / "gallery.yaml.bak").is_file() and not (repo / "config" / "gallery.lock.json").exists()
    r = run("doctor")
    assert r.returncode != 0 and "git add config/my-images/content/pearl.jpg" in r.stdout, r.stdout
    line = _readme_git_add()
    sh(repo, line)
    staged = set(git(repo, "diff", "--cached", "--name-only").split())
    assert staged == {"config/gallery.yaml", "config/my-images/content/pearl.jpg", "config/my-images/style/gogh.jpg"}
    r = run("doctor")
    assert r.returncode == 0 and "ready: nothing blocks publishing" in r.stdout, r.stdout
    assert "git push -u origin master" in r.stdout
