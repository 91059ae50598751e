"""A remote render cache that is misconfigured, hostile or dead: its URL's secrets are never
shown, GALLERY_REMOTE is checked as `cache: remote:` is, every entry pulled passes the checks a
local render passes (record, image, sizes) before it enters the cache, every read is capped and
every wait bounded.

Only loopback traffic: file:// folders, moto's S3 on 127.0.0.1 (tests/s3server.py), and small
TCP servers on 127.0.0.1 started here. Renders are fakes (tests/gallery_fakes.py): no torch.
"""
from __future__ import annotations

import pytest

from gallery_fakes import build_gallery
from pipeline.plan.remote import Remote, RemoteError, remote_for

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY"
LEAKY_URLS = [
    f"S3://AKIAEXAMPLE:{SECRET}@bucket/gallery",  # upper-case protocol
    f"simplecache::s3://AKIAEXAMPLE:{SECRET}@bucket/gallery",  # fsspec chaining
    f"s3://AKIAEXAMPLE:{SECRET}@bucket/gallery",  # a secret holding '/'
    f"HTTPS://user:{SECRET}@example.org/renders",
    f"https://example.org/renders?sig={SECRET}&se=2030",  # a signed query
    f"filecache::file:///tmp/x?token={SECRET}",
    f"s3://bucket/gallery {SECRET}",
]


# ---------------------------------------------------------------- a URL's secrets are never shown

@pytest.mark.parametrize("url", LEAKY_URLS)
def test_a_refused_remote_url_never_shows_its_secret(url, make_gallery, tmp_path, cli, monkeypatch):
    from pipeline.manifest.reader import load_gallery
    from pipeline.util.errors import ManifestError

    with pytest.raises(RemoteError) as e:
        Remote(url)
    assert SECRET not in str(e.value) and "SECRET" not in str(e.value).upper().replace("SECRET_", "")
    with pytest.raises(ManifestError) as e:
        load_gallery(make_gallery(cache={"path": "renders", "remote": url}), check_files=False)
    assert SECRET not in str(e.value) and "'remote'" in str(e.value)

    cli.gallery = build_gallery(tmp_path / "g")
    monkeypatch.setenv("GALLERY_REMOTE", url)
    for command in (["status"], ["pull"], ["push"], ["render"]):
        rc, out, err = cli(*command)
        assert rc == 1 and SECRET not in out + err and "Traceback" not in err, (command, err)
        assert err.startswith("error: GALLERY_REMOTE="), err
    monkeypatch.delenv("GALLERY_REMOTE")
    rc, out, err = cli("status", "--remote", url)
    assert rc == 1 and SECRET not in out + err and err.startswith("error: --remote "), err


def test_redact_hides_every_credential_and_keeps_the_rest():
    from pipeline.util.urls import redact

    assert redact("s3://bucket/gallery") == "s3://bucket/gallery"
    assert redact(f"remote S3://KEY:{SECRET}@bucket/x: nope") == "remote S3://***@bucket/x: nope"
    assert redact(f"a simplecache::s3://KEY:{SECRET}@b/x and https://u:p@h/y?sig=1&x") == \
        "a simplecache::s3://***@b/x and https://***@h/y?sig=***&***"
    assert redact("file:///mnt/a@b/renders") == "file:///mnt/a@b/renders"  # a folder may hold '@'


def test_an_endpoint_with_credentials_is_refused_without_showing_them(make_gallery, tmp_path, cli, monkeypatch):
    from pipeline.manifest.reader import load_gallery
    from pipeline.util.errors import ManifestError

    endpoint = f"http://AKIAEXAMPLE:{SECRET}@127.0.0.1:9000"
    with pytest.raises(ManifestError) as e:
        load_gallery(make_gallery(cache={"remote": "s3://bucket/x", "endpoint_url": endpoint}), check_files=False)
    assert SECRET not in str(e.value) and "holds credentials" in str(e.value)
    cli.gallery = build_gallery(tmp_path / "g")
    monkeypatch.setenv("GALLERY_REMOTE", "s3://bucket/x")
    monkeypatch.setenv("GALLERY_REMOTE_ENDPOINT", endpoint)
    rc, out, err = cli("status")
    assert rc == 1 and SECRET not in out + err and "error: GALLERY_REMOTE_ENDPOINT=" in err, err
    assert "holds credentials" in err


def test_a_backends_error_text_is_redacted_too():
    from pipeline.plan.remote_errors import translate

    exc = OSError(f"GET https://AKIA:{SECRET}@127.0.0.1:9/x failed")
    assert SECRET not in str(translate(exc, "pulling", "s3://bucket/x", "s3"))


# ---------------------------------------------------------------- GALLERY_REMOTE, checked as the manifest's is

@pytest.mark.parametrize("value, words", [
    ("garbage", "must be a URL: s3://bucket/prefix"),
    ("file://relative/folder", "a folder remote needs an absolute path, e.g. file:///mnt/renders"),
    ("memory://renders", "unsupported protocol 'memory://'"),
    ("ftp://127.0.0.1/renders", "unsupported protocol 'ftp://'"),
    ("S3://bucket/x", "write the protocol in lower case: 's3://'"),
    ("s3://", "names no bucket"),
])
def test_gallery_remote_is_checked_as_the_manifests_remote_is(value, words, tmp_path, cli, monkeypatch,
                                                               make_gallery, fake_renderer):
    from pipeline.manifest.reader import load_gallery
    from pipeline.util.errors import ManifestError

    with pytest.raises(ManifestError, match=words.replace("(", r"\(").replace(".", r"\.")):
        load_gallery(make_gallery(cache={"remote": value}), check_files=False)
    cli.gallery = build_gallery(tmp_path / "g")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("GALLERY_REMOTE", value)
    for command in (["status"], ["render"], ["pull"], ["push"], ["gallery", "--no-fetch"]):
        rc, out, err = cli(*command)
        assert rc == 1 and "Traceback" not in err, (command, err)
        assert f"error: GALLERY_REMOTE={value!r}: {words}" in err, (command, err)
        assert "or set GALLERY_REMOTE=none for no remote" in err
    assert list(work.iterdir()) == []  # no folder beside the command
    assert fake_renderer == []  # nothing rendered on a misconfigured remote


def test_remote_for_names_the_source_it_checked(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.delenv("GALLERY_REMOTE", raising=False)
    gallery = SimpleNamespace(remote=None)
    with pytest.raises(RemoteError, match=r"^--remote 'garbage': must be a URL"):
        remote_for(gallery, "garbage")
    monkeypatch.setenv("GALLERY_REMOTE", "none")
    assert remote_for(gallery) is None
    monkeypatch.setenv("GALLERY_REMOTE", (tmp_path / "r").as_uri())
    assert remote_for(gallery).url == (tmp_path / "r").as_uri()
