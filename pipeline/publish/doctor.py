"""`doctor`: what a repository still lacks to publish its gallery on GitHub Pages, each with the
command that fixes it.

Checked without the network, from the work tree and git: the Pages workflow is there and runs
on the current branch, the manifest is the one it builds and writes the folder it uploads, every
image without a url is in git (not ignored, nothing changed since `git add`), large files are
in Git LFS (GitHub refuses a file over 100 MB), the lock file, the site's address, the remote.
A finding is `fix` when the first workflow run would fail or publish something else than what
you see here; `note` when it would work, but something is worth knowing.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.manifest.adder import LFS_HINT_BYTES, OWN_FOLDER
from pipeline.core.model import Gallery
from pipeline.publish.git import Repo

WORKFLOW = ".github/workflows/pages.yml"
MANIFEST = "config/gallery.yaml"  # what the workflow builds (its make targets' default CONFIG)
SITE, CACHE = "site", "renders"  # what it uploads, and the render cache it keeps between runs
PROJECT = ("Makefile", "pyproject.toml", "pipeline", "templates", ".gitignore")  # what the workflow runs
GITHUB_REFUSES_BYTES = 100 * 1024 * 1024  # a push with a larger file is refused
PAGES_SETTING = "Settings -> Pages -> Build and deployment -> Source: GitHub Actions"


@dataclass
class Finding:
    level: str  # "ok", "fix" (blocks publishing) or "note"
    topic: str
    text: str
    fix: str = ""  # the command or step that fixes it


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    to_add: list[str] = field(default_factory=list)  # paths to `git add` (relative to the work tree)
    top: Path | None = None
    branch: str = ""
    remote: str = ""

    def add(self, level: str, topic: str, text: str, fix: str = "") -> None:
        self.findings.append(Finding(level, topic, text, fix))

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "fix"]


def check(gallery: Gallery) -> Report:
    """Every finding about publishing `gallery` from the git work tree that holds it."""
    report = Report()
    repo = Repo(gallery.root)
    if repo.top is None:
        report.add("fix", "repository", f"{gallery.root} is not in a git repository",
                   "git init -b main   (in the project's folder, the one with .github/)")
        return report
    report.top = repo.top
    report.branch = repo.branch()
    report.remote = repo.remote_url()
    _project(report, repo)
    _manifest(report, repo, gallery)
    workflow = _workflow(report, repo)
    _branch(report, workflow)
    _images(report, repo, gallery)
    _lock_file(report, repo, gallery)
    _address(report, gallery, workflow)
    _remote(report)
    if not gallery.cells():
        report.add("note", "gallery", "no cells yet: the published site will say that nothing is here "
                                      "yet", "make add CONTENT=photo.jpg and make add STYLE=painting.jpg")
    return report


def _need(report: Report, repo: Repo, paths: list[str]) -> list[str]:
    """Those of `paths` that are not in git as they are on disk: queued for the `git add` line."""
    missing = sorted((set(paths) - repo.in_index(paths)) | repo.changed(paths))
    report.to_add += [p for p in missing if p not in report.to_add]
    return missing


def _committed(report: Report, repo: Repo, level: str, what: str, rel: str) -> None:
    """One line for a file the workflow needs as it is here: in git, or `git add` it."""
    if _need(report, repo, [rel]):
        report.add(level, what, f"{rel} is not in git as it is here", f"git add {rel}")
    else:
        report.add("ok", what, f"{rel} is in git")


def _project(report: Report, repo: Repo) -> None:
    """The workflow runs `make` on the project's own files: in a clone they are committed; in a
    repository made with `git init` around a copy, nothing is yet."""
    tracked = repo.in_index(list(PROJECT))
    missing = [p for p in PROJECT if not any(t == p or t.startswith(p + "/") for t in tracked)]
    absent = [p for p in missing if not (repo.top / p).exists()]
    if absent:
        report.add("fix", "project", f"{', '.join(absent)} {'are' if len(absent) != 1 else 'is'} not in "
                                     f"{repo.top}: the workflow builds with the project's own files",
                   "publish from a clone (or a copy) of the whole project")
    elif missing:
        report.to_add += missing
        report.add("fix", "project", f"the project's own files are not in git ({', '.join(missing)}): the "
                                     "workflow runs `make` with them", "git add " + " ".join(missing))
    else:
        report.add("ok", "project", "the project's files are in git")


def _manifest(report: Report, repo: Repo, gallery: Gallery) -> None:
    rel = repo.rel(gallery.path)
    if rel != MANIFEST:
        report.add("fix", "manifest", f"the workflow builds {MANIFEST}, not {rel}",
                   f"start your gallery there (make init), or set CONFIG in {WORKFLOW}")
    else:
        _committed(report, repo, "fix", "manifest", rel)
    for what, path, folder in (("site.output", gallery.site.output, SITE), ("cache", gallery.cache, CACHE)):
        want = repo.top / folder
        if Path(path).resolve() != want:
            level = "fix" if folder == SITE else "note"
            why = ("the workflow uploads " if folder == SITE else "the workflow keeps the renders of earlier "
                   "runs in ") + f"{folder}/ at the repository's top"
            report.add(level, what, f"the manifest's {what} is {repo.rel(path)}: {why}",
                       f"set `{what.replace('site.', 'site: ')}: {_relative(want, gallery.root)}` in {rel}")


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _workflow(report: Report, repo: Repo) -> dict:
    path = repo.top / WORKFLOW
    if not path.is_file():
        report.add("fix", "workflow", f"{WORKFLOW} is missing: nothing would build or publish the site",
                   f"copy {WORKFLOW} from the style-transfer-gallery project into the repository")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        report.add("fix", "workflow", f"{WORKFLOW} cannot be read: {str(e).splitlines()[0]}",
                   f"restore it: git checkout -- {WORKFLOW}")
        return {}
    data = data if isinstance(data, dict) else {}
    if "deploy-pages" not in path.read_text(encoding="utf-8"):
        report.add("fix", "workflow", f"{WORKFLOW} does not deploy to Pages (no actions/deploy-pages step)",
                   f"restore it: git checkout -- {WORKFLOW}")
    else:
        _committed(report, repo, "fix", "workflow", WORKFLOW)
    return data


def push_branches(workflow: dict) -> list[str] | None:
    """The branches whose pushes run the workflow; None: every branch."""
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    if isinstance(on, str):
        on = {on: None}
    if isinstance(on, list):
        on = {name: None for name in on}
    if not isinstance(on, dict) or "push" not in on:
        return []
    push = on.get("push") or {}
    branches = push.get("branches") if isinstance(push, dict) else None
    return None if branches is None else [str(b) for b in branches]


def _branch(report: Report, workflow: dict) -> None:
    if not workflow:
        return
    branches = push_branches(workflow)
    if not report.branch:
        report.add("fix", "branch", "no branch is checked out (a detached HEAD): a push publishes nothing",
                   "git switch main   (or git switch -c main)")
    elif branches is None or any(_glob(b, report.branch) for b in branches):
        report.add("ok", "branch", f"{report.branch}: the workflow runs on its pushes")
    else:
        names = ", ".join(branches) or "none (no push trigger)"
        report.add("fix", "branch", f"you are on '{report.branch}', and the workflow runs on pushes to {names}",
                   f"git branch -M {branches[0] if branches else 'main'}")


def _glob(pattern: str, name: str) -> bool:
    """GitHub's branch filter: `*` within a name part, `**` across `/`."""
    rx = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.fullmatch(rx, name) is not None


def _images(report: Report, repo: Repo, gallery: Gallery) -> None:
    entries = gallery.contents + gallery.styles
    fetched = [e for e in entries if e.url]
    own = [e for e in entries if not e.url]
    if fetched:
        report.add("ok", "images", f"{len(fetched)} image{'s' if len(fetched) != 1 else ''} with a url: the "
                                   f"workflow downloads {'them' if len(fetched) != 1 else 'it'}, pinned by sha256")
    if not own:
        return
    outside = [e for e in own if not repo.inside(e.file)]
    for e in outside:
        report.add("fix", "images", f"{e.role} '{e.id}': {e.file} is outside the repository",
                   f"make remove {e.role.upper()}={e.id} && make add {e.role.upper()}={e.file}   "
                   f"(copies it into {OWN_FOLDER}/)")
    own = [e for e in own if e not in outside]
    missing = [e for e in own if not e.file.is_file()]
    for e in missing:
        report.add("fix", "images", f"{e.role} '{e.id}': {repo.rel(e.file)} is not there, and it has no url",
                   "put the image there, or make remove " f"{e.role.upper()}={e.id}")
    own = [e for e in own if e not in missing]
    paths = [repo.rel(e.file) for e in own]
    ignored = repo.ignored(paths) - repo.in_index(paths)
    for e in own:
        if repo.rel(e.file) in ignored:
            report.add("fix", "images", f"{e.role} '{e.id}': git ignores {repo.rel(e.file)}, so the workflow "
                                        "would not have it", f"make remove {e.role.upper()}={e.id} && make add "
                                        f"{e.role.upper()}={repo.rel(e.file)}   (copies it into {OWN_FOLDER}/)")
    paths = [p for p in paths if p not in ignored]
    need = _need(report, repo, paths)
    if need:
        report.add("fix", "images", f"{len(need)} of your images (no url) {'are' if len(need) != 1 else 'is'} not "
                                    f"in git as {'they are' if len(need) != 1 else 'it is'} here: "
                                    f"{', '.join(need[:4])}{', ...' if len(need) > 4 else ''}",
                   "git add " + " ".join(need))
    elif paths:
        report.add("ok", "images", f"your {len(paths)} image{'s' if len(paths) != 1 else ''} without a url "
                                   f"{'are' if len(paths) != 1 else 'is'} in git")
    _lfs(report, repo, paths, repo.rel(gallery.root / OWN_FOLDER))


def _lfs(report: Report, repo: Repo, paths: list[str], own_folder: str) -> None:
    sizes = {p: (repo.top / p).stat().st_size for p in paths}
    lfs = repo.lfs(paths)
    refused = [p for p in paths if sizes[p] > GITHUB_REFUSES_BYTES and p not in lfs]
    large = [p for p in paths if LFS_HINT_BYTES < sizes[p] <= GITHUB_REFUSES_BYTES and p not in lfs]
    track = f"git lfs install && git lfs track '{own_folder}/**' && git add .gitattributes"
    if refused:
        report.add("fix", "Git LFS", f"GitHub refuses files over 100 MB: {', '.join(refused)}",
                   f"{track} && git rm --cached {' '.join(refused)} && git add {' '.join(refused)}")
    if large:
        report.add("note", "Git LFS", f"{len(large)} image{'s' if len(large) != 1 else ''} over "
                                      f"{LFS_HINT_BYTES // 2**20} MB without Git LFS: {', '.join(large[:4])}",
                   f"{track}, or commit smaller copies")
    if lfs and not repo.lfs_installed():
        report.add("fix", "Git LFS", f"{len(lfs)} image{'s are' if len(lfs) != 1 else ' is'} stored with Git LFS, "
                                     "which is not installed here: a push would send pointer files",
                   "install Git LFS (https://git-lfs.com), then git lfs install")
    if lfs:
        _need(report, repo, [a for a in (".gitattributes", "config/.gitattributes") if (repo.top / a).is_file()])
    if not (refused or large or (lfs and not repo.lfs_installed())) and paths:
        report.add("ok", "Git LFS", "no image that needs it" if not lfs else f"{len(lfs)} image(s) in Git LFS")


def _lock_file(report: Report, repo: Repo, gallery: Gallery) -> None:
    lock = gallery.lock_path
    rel = repo.rel(lock)
    if not lock.is_file():
        report.add("note", "lock file", f"no {rel} yet: it records what each cell was rendered from, and "
                                        "its diff shows which cells changed", "make gallery writes it; commit it then")
    else:
        _committed(report, repo, "note", "lock file", rel)


def pages_address(remote: str) -> str:
    """https://USER.github.io/REPO/ for a GitHub remote, else ""."""
    m = re.search(r"github\.com[:/]+([^/]+)/([^/]+?)(?:\.git)?/?$", remote)
    if not m:
        return ""
    user, repo = m.group(1), m.group(2)
    if repo.lower() == f"{user.lower()}.github.io":
        return f"https://{user.lower()}.github.io/"
    return f"https://{user.lower()}.github.io/{repo}/"


def _address(report: Report, gallery: Gallery, workflow: dict) -> None:
    if gallery.site.base_url:
        report.add("ok", "base URL", f"site.base_url: {gallery.site.base_url}")
        return
    passes = "GALLERY_BASE_URL" in yaml.safe_dump(workflow) if workflow else False
    address = pages_address(report.remote)
    if passes:
        report.add("ok", "base URL", "the workflow passes the Pages address to the build"
                   + (f" ({address})" if address else ""))
    else:
        report.add("note", "base URL", "neither site.base_url nor the workflow gives the site's address: "
                                       "social cards, the feed and the sitemap use relative links",
                   f"set `site: base_url: {address or 'https://YOU.github.io/REPO/'}` in the manifest")


def _remote(report: Report) -> None:
    if not report.remote:
        report.add("note", "remote", "no remote 'origin' yet",
                   f"create an empty repository on GitHub, turn Pages on ({PAGES_SETTING}), then "
                   f"git remote add origin git@github.com:YOU/REPO.git")
    elif not pages_address(report.remote):
        report.add("note", "remote", f"origin is {report.remote}, not GitHub: the Pages workflow runs on GitHub")
    else:
        report.add("ok", "remote", f"origin is {report.remote}; Pages must be on before the first push "
                                   f"({PAGES_SETTING})")
