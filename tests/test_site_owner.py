"""One owner of the site folder at a time: two builds of one site at once take turns (never
removing each other's temporary files), and `serve` keeps the site it serves, built with its
own --size/--preset, until it stops. Real processes, many rounds."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from test_serve import start_serve, stop_serve

ROUNDS = 10

# One process building the same site ROUNDS times, its --size alternating so that every build
# is a full one (it writes every page and removes what the other process's build left).
BUILDER = """
import sys
from pipeline.cli.app import main
config, sizes = sys.argv[1], sys.argv[2:]
codes = [main(["site", "--quiet", "--config", config, "--size", size]) for size in sizes]
print("codes", *codes, flush=True)
"""


@pytest.fixture
def manifest(make_gallery):
    return make_gallery(contents=("pearl", "vinci", "dancer"), styles=("gogh", "munch"),
                        site={"title": "Owned", "try_it": False})


def _builder(manifest: Path, sizes: list[int]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BUILDER, str(manifest), *map(str, sizes)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _state(manifest: Path) -> dict:
    [state] = [json.loads(p.read_text()) for p in (manifest.parent / "renders" / ".site").glob("*.json")]
    return state


def test_two_builds_of_one_site_at_once_take_turns(manifest):
    a = _builder(manifest, [64, 96] * (ROUNDS // 2))
    b = _builder(manifest, [128, 160] * (ROUNDS // 2))
    outs = [p.communicate(timeout=600) for p in (a, b)]
    for (out, err), p in zip(outs, (a, b)):
        assert "Traceback" not in err and "Error" not in err, err[-3000:]
        assert out.splitlines()[-1].split() == ["codes"] + ["0"] * ROUNDS, (out[-3000:], err[-3000:])
    log = outs[0][1] + outs[1][1]
    assert "is being built by another process" in log and "waiting for it to finish" in log, log[-3000:]
    site = manifest.parent / "site"
    assert not [p for p in site.rglob("*.tmp")]
    # the site is whole: the last build's state says what is there, and a build with its
    # options finds it up to date
    last = _state(manifest)["overrides"]
    rc = subprocess.run([sys.executable, "-m", "pipeline", "site", "--config", str(manifest),
                         "--size", str(last["size"])], cwd=REPO, capture_output=True, text=True)
    assert rc.returncode == 0 and "up to date" in rc.stdout + rc.stderr, rc.stdout + rc.stderr


def test_serve_keeps_the_site_it_serves_with_its_own_options(manifest):
    # a site built with other options first: serve rebuilds it with its own, not "up to date"
    assert subprocess.run([sys.executable, "-m", "pipeline", "site", "--config", str(manifest), "--size", "96"],
                          cwd=REPO, capture_output=True).returncode == 0
    proc, url = start_serve(manifest, "--size", "64")
    try:
        assert _state(manifest)["overrides"] == {"size": 64}
        served = urllib.request.urlopen(url + "about.html", timeout=10).read()
        for command in (["site"], ["site", "--size", "128"], ["gallery", "--preview"]):
            r = subprocess.run([sys.executable, "-m", "pipeline", *command, "--config", str(manifest)],
                               cwd=REPO, capture_output=True, text=True, timeout=300)
            assert r.returncode == 1, (command, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr
            assert "is served by `serve` (process " in r.stderr and "was not built here" in r.stderr, r.stderr
            assert "stop serve (Ctrl+C) to build it here" in r.stderr
            assert _state(manifest)["overrides"] == {"size": 64}
        time.sleep(2)  # serve saw the previews `gallery --preview` rendered: it rebuilds with its own options
        assert _state(manifest)["overrides"] == {"size": 64}
        assert urllib.request.urlopen(url + "about.html", timeout=10).read() == served
        # a second serve of the same site is refused, naming the first one's address
        r = subprocess.run([sys.executable, "-m", "pipeline", "serve", "--port", "0", "--config", str(manifest)],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and f"already served by `serve` (process {proc.pid}) at {url}" in r.stderr, r.stderr
    finally:
        stop_serve(proc)
    # once serve has stopped, the site is anyone's again
    r = subprocess.run([sys.executable, "-m", "pipeline", "site", "--config", str(manifest)], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _state(manifest)["overrides"] == {}


def test_two_threads_building_one_site_take_turns_too(tmp_path):
    """The hold is per thread: another thread of the same process waits as another process does."""
    import threading
    from dataclasses import replace

    from pipeline.site.builder import build_site
    from site_fixtures import make_gallery as fake_gallery

    gallery, plan = fake_gallery(tmp_path)
    gallery = replace(gallery, site=replace(gallery.site, try_it=False))
    errors: list[BaseException] = []

    def build(title: str) -> None:
        try:
            for i in range(3):
                build_site(replace(gallery, site=replace(gallery.site, title=f"{title} {i}")), plan, quiet=True)
        except BaseException as e:  # noqa: BLE001 - handed to the test's thread
            errors.append(e)

    threads = [threading.Thread(target=build, args=(t,)) for t in ("One", "Two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert errors == []
    assert not list(gallery.site.output.rglob("*.tmp"))
