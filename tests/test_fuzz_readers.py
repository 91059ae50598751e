"""Property-based fuzzing (Hypothesis) of the three readers of input a user or a pull request
controls: the YAML manifest, the lock file and a render record.

The property: whatever the structure, reading it raises nothing but GalleryError (the CLI turns
it into a message) and writes no file outside the example's temp folder (tests/fs_guard.py
watches every write of the process). Structures are drawn both free-form and shaped like the
real files, so that the checks deep inside (paths, parameters, traces) are reached too.
Bounded (max_examples 200, no deadline) so the suite stays fast.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fs_guard  # noqa: E402
from conftest import write_image  # noqa: E402
from pipeline.util.errors import GalleryError  # noqa: E402

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KEYS = ["site", "render", "cache", "image_roots", "contents", "styles", "exclude", "title", "output",
        "keep", "description", "base_url", "id", "file", "url", "sha256", "credit", "link", "size",
        "preset", "iterations", "seed", "weights", "content", "style", "<<"]
PATHS = ["images/a.png", "images/missing.png", "../outside.png", "/etc/passwd", "~/x.png",
         ".git/hooks/post-checkout", "images/../../x.png", "site", "public/a.png", ".", "..", "/",
         "images/a.png/..", "a\x00b.png", "renders", "~", "images/zz.pth"]
def mostly(shaped: st.SearchStrategy, free: st.SearchStrategy) -> st.SearchStrategy:
    """`shaped` three times in four: free-form structures rarely get past the first check."""
    return st.integers(0, 3).flatmap(lambda i: free if i == 0 else shaped)


scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(PATHS + KEYS + ["draft", "64", "caffe-vgg19"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5),
                      max_leaves=25)
entry = st.dictionaries(st.sampled_from(["id", "file", "title", "url", "sha256", "render", "credit"]),
                        values | st.sampled_from(PATHS) | st.sampled_from(["a", "b", "pearl"]), max_size=6)
manifest = st.fixed_dictionaries({}, optional={
    "site": st.dictionaries(st.sampled_from(["title", "output", "keep", "description", "base_url"]),
                            values | st.sampled_from(PATHS), max_size=4),
    "render": st.dictionaries(st.sampled_from(["size", "preset", "iterations", "seed", "weights"]),
                              values, max_size=3),
    "cache": values | st.sampled_from(PATHS),
    "image_roots": values | st.sampled_from(PATHS),
    "contents": st.lists(entry, max_size=3) | values,
    "styles": st.lists(entry, max_size=3) | values,
    "exclude": values,
})
manifest = mostly(manifest, values)
# Raw text: tokens that reach YAML's corners (anchors, aliases, merges, tags, flow syntax).
tokens = st.sampled_from(["a: ", "&x ", "*x", "[", "]", "{", "}", "- ", "\n", "  ", ", ", "<<: ",
                          "!!python/object/apply:os.system ['id']", "!!binary ", "'", '"', "\\0",
                          "contents:", "styles:", "id: a", "file: images/a.png", "? ", "%YAML 1.1\n",
                          "---\n", "\t", "\x00", "é", "2001-01-01", "0x1F", ".inf"])
raw_yaml = st.lists(tokens, max_size=30).map("".join)


class Sandbox:
    """A temp folder per example: a manifest folder with one real image, and a mirror."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="fuzz-")
        self.root = Path(self._dir.name)
        self.project = self.root / "project"
        write_image(self.project / "images" / "a.png")
        write_image(self.root / "mirror" / "missing.png", seed=2)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()


def _no_network(*args, **kwargs):
    from pipeline.manifest.sources import OfflineError

    raise OfflineError("the fuzz test has no network")


@FUZZ
@given(data=manifest, text=raw_yaml, use_text=st.booleans(), check_files=st.booleans())
def test_the_manifest_reader_raises_only_gallery_errors_and_writes_nowhere_else(data, text, use_text, check_files):
    from pipeline.manifest.reader import load_gallery
    from pipeline.manifest.sources import Fetcher, Mirror

    with Sandbox() as box:
        path = box.project / "gallery.yaml"
        if use_text:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        else:
            try:
                path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
            except (yaml.YAMLError, UnicodeEncodeError):
                return
        fetch = Fetcher(mirror=Mirror([box.root / "mirror"])) if check_files else None
        with fs_guard.writes_outside(box.root) as guard, \
                mock.patch("pipeline.manifest.sources.download", _no_network):
            try:
                load_gallery(path, check_files=check_files, fetch=fetch)
            except GalleryError:
                pass
        assert guard.writes == []


def _ref(id: str) -> st.SearchStrategy:
    return mostly(st.fixed_dictionaries({"id": mostly(st.just(id), values),
                                         "sha256": mostly(st.sampled_from(["c" * 64, "x"]), values)}), values)


lock_entry = st.fixed_dictionaries(
    {"content": _ref("pearl"), "style": _ref("gogh"),
     "key": mostly(st.sampled_from(["0" * 64, "f" * 63, "F" * 64]), values)},
    optional={"params": mostly(st.dictionaries(st.sampled_from(["size", "iterations", "preset", "zz"]), values),
                               values),
              "weights": values, "renderer_version": values, "image": values | st.sampled_from(PATHS),
              "seconds": values | st.floats(), "device": values, "threads": values})
lock_files = mostly(st.fixed_dictionaries({
    "version": mostly(st.just(1), values),
    "cells": mostly(st.dictionaries(st.sampled_from(["pearl:gogh", "vinci:gogh", "x", "pearl:x"]),
                                    mostly(lock_entry, values), max_size=3), values)}), values)


@FUZZ
@given(data=lock_files, raw=st.booleans(), text=raw_yaml)
def test_the_lock_file_reader_and_the_plan_raise_only_gallery_errors(data, raw, text):
    from gallery_fakes import build_gallery
    from pipeline.cli.plan_cmds import _status_json
    from pipeline.plan.lockfile import read_lock
    from pipeline.plan.planner import make_plan

    with Sandbox() as box:
        gallery = build_gallery(box.project, contents=("pearl", "vinci"), styles=("gogh",))
        lock = gallery.lock_path
        lock.write_text(text if raw else json.dumps(data, allow_nan=True), encoding="utf-8",
                        errors="surrogatepass")
        with fs_guard.writes_outside(box.root) as guard:
            try:
                cells = read_lock(lock)
                assert isinstance(cells, dict)
                plan = make_plan(gallery)
                plan.synced_lock()
                _status_json(plan)
            except GalleryError:
                pass
        assert guard.writes == []


def _record_like() -> st.SearchStrategy:
    level = st.fixed_dictionaries({}, optional={
        "size": st.lists(values, max_size=2) | values, "iterations": values, "seconds": values,
        "trace": st.lists(st.dictionaries(st.sampled_from(["iteration", "content", "style", "tv", "total"]),
                                          values | st.floats(allow_nan=True, allow_infinity=True)),
                          max_size=4) | values})
    return st.fixed_dictionaries({}, optional={
        "params": st.dictionaries(st.sampled_from(["size", "preset", "x"]), values) | values,
        "weights": st.dictionaries(st.sampled_from(["id", "sha256"]), values) | values,
        "levels": st.lists(level, max_size=3) | values, "final": st.dictionaries(
            st.sampled_from(["content", "style", "tv", "total"]), values | st.floats()) | values,
        "seconds": values, "device": values, "threads": values, "thread_changes": values,
        "image_sha256": values, "image_bytes": values, "inputs": values, "created": values})


@FUZZ
@given(data=mostly(_record_like(), values), right_key=st.booleans(), raw=st.booleans(), text=raw_yaml)
def test_the_record_reader_and_the_pages_that_show_it_raise_nothing(data, right_key, raw, text):
    from PIL import Image

    from gallery_fakes import build_gallery
    from pipeline.plan.cache import Cache
    from pipeline.plan.cache import read_record
    from pipeline.site.views import provenance as _provenance
    from pipeline.site.loss_chart import loss_chart

    with Sandbox() as box:
        gallery = build_gallery(box.project, contents=("pearl",), styles=("gogh",))
        cache = Cache(gallery.cache)
        key = "ab" * 32
        cache.store(key, Image.new("RGB", (8, 8)), {})
        if isinstance(data, dict) and right_key:
            data = {**data, "key": key}
        cache.record_path(key).write_text(text if raw else json.dumps(data, allow_nan=True),
                                          encoding="utf-8", errors="surrogatepass")
        with fs_guard.writes_outside(box.root) as guard:
            fresh = Cache(gallery.cache)
            state, why = fresh.state(key)
            assert state in ("cached", "corrupt") and (state == "cached") == (why == "")
            assert (fresh.summary(key) is None) == (state != "cached")
            record = read_record(cache.record_path(key), key)
            if state == "cached":
                assert record is not None
            params = gallery.cell_params(gallery.contents[0], gallery.styles[0])
            _provenance({"record": record, "params": params, "key": key})
            loss_chart(record)
        assert guard.writes == []


# Any Unicode text: every category, lone surrogates (what a non-UTF-8 byte becomes), noncharacters,
# line and paragraph separators, C0 and C1 controls.
SPECIAL = [chr(0xDCE9), chr(0xD800), "\ufffe", "\uffff", "\ufdd0", chr(0x1FFFF), chr(0x10FFFE), "\x00",
           "\x1b", "\x85", "\u2028", "\u202e", "\r", "\t", "\n", "<", "&", "]", ">", "\"", "'"]
_any_char = st.characters(exclude_categories=()) | st.characters(categories=["Cs"]) | st.sampled_from(SPECIAL)
# half free text (rarely refused), half text with a surrogate or a special in most examples
unicode_text = st.text(st.characters(exclude_categories=()), max_size=16) | st.lists(_any_char, max_size=16).map("".join)


def _xml_well_formed(text: str) -> None:
    """`text` as the content and an attribute of an XML element parses back (what the feed needs)."""
    from xml.etree import ElementTree
    from xml.sax.saxutils import escape, quoteattr

    text.encode("utf-8")  # raises on a lone surrogate
    ElementTree.fromstring(f"<t a={quoteattr(text)}>{escape(text)}</t>")


@FUZZ
@given(title=unicode_text, credit=unicode_text, site_title=unicode_text, description=unicode_text)
def test_any_unicode_title_or_credit_is_valid_and_xml_safe_or_gets_a_message(title, credit, site_title,
                                                                            description):
    """What validation accepts, every page and the feed can carry; what it refuses, it names."""
    from pipeline.manifest.reader import load_gallery
    from pipeline.util.errors import ManifestError

    with Sandbox() as box:
        path = box.project / "gallery.yaml"
        data = {"site": {"title": site_title, "description": description},
                "contents": [{"id": "a", "title": title, "credit": credit, "file": "images/a.png"}],
                "styles": [{"id": "b", "file": "images/a.png"}]}
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        try:
            gallery = load_gallery(path)
        except ManifestError as e:
            assert e.problems and all(p.startswith(f"{path}:") for p in e.problems)
            for p in e.problems:
                assert ("contents[0] (id 'a'): 'title'" in p or "contents[0] (id 'a'): 'credit'" in p
                        or "site: 'title'" in p or "site: 'description'" in p), p
                assert ": remove it" in p or "write the character" in p or "is empty" in p, p
            return
        entry = gallery.contents[0]
        for text in (entry.title, entry.credit, gallery.site.title, gallery.site.description):
            _xml_well_formed(text)


@settings(max_examples=8, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(title=unicode_text, credit=unicode_text)
@example(title="Caf\udce9", credit="")  # a Latin-1 byte, as `add --title` passes it
@example(title="Wave", credit="Hokusai \uffff")
@example(title="Perle \U0001F308 \u00e9\u0301", credit="\u202eright to left")
def test_what_validation_accepts_builds(cli, title, credit):
    """End to end, a few examples: a title or credit `validate` accepts builds the site (pages
    and feed), or the build refuses it with the manifest's own message, never a traceback."""
    from gallery_fakes import fill_cache
    from pipeline.manifest.reader import load_gallery

    with Sandbox() as box:
        path = box.project / "gallery.yaml"
        data = {"site": {"title": "Fuzz", "base_url": "https://example.org/g/"}, "render": {"size": 64},
                "contents": [{"id": "a", "title": title or "a", "credit": credit, "file": "images/a.png"}],
                "styles": [{"id": "b", "file": "images/a.png"}]}
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        rc, out, err = cli("validate", "--config", path, "--no-fetch")
        assert "Traceback" not in err
        if rc != 0:
            assert rc == 2 and "(id 'a'): '" in err, err
            return
        fill_cache(load_gallery(path))
        rc, out, err = cli("build", "--config", path)
        assert rc == 0, err
        feed = box.project / "site" / "feed.xml"
        if feed.exists():
            from xml.etree import ElementTree
            ElementTree.parse(feed)


# ---------------------------------------------------------------- a hostile remote

def _png(size: tuple[int, int], seed: int) -> bytes:
    import io
    import random

    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3)).save(buf, "PNG")
    return buf.getvalue()


def _mutated(data: bytes, where: int, how: int, value: int) -> bytes:
    """One damage to a real PNG: a byte changed, a cut, bytes inserted, or the header's size."""
    import struct

    i = where % max(1, len(data))
    if how == 0:
        return data[:i] + bytes([value % 256]) + data[i + 1:]
    if how == 1:
        return data[:i]
    if how == 2:
        return data[:i] + bytes([value % 256]) * (value % 50 + 1) + data[i:]
    return data[:16] + struct.pack(">II", value % 70000, (value * 7) % 70000) + data[24:]  # a bomb's header


images = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from([(16, 12), (12, 16), (64, 48)]), st.integers(0, 9)).map(lambda t: _png(*t)),
    st.tuples(st.integers(0, 9), st.integers(0, 10**6), st.integers(0, 3), st.integers(0, 10**6)).map(
        lambda t: _mutated(_png((16, 12), t[0]), t[1], t[2], t[3])))
claims = st.fixed_dictionaries({}, optional={
    "params": st.fixed_dictionaries({}, optional={"size": mostly(st.sampled_from([16, 64, 4096, 0, 10**9]), values)}),
    "levels": mostly(st.lists(st.fixed_dictionaries({}, optional={
        "size": mostly(st.sampled_from([[16, 12], [12, 16], [64, 48]]), values)}), max_size=2), values),
    "size": mostly(st.sampled_from([[16, 12], [0, 0], [10**6, 1]]), values)})
seldom = st.sampled_from([False] * 7 + [True])  # about one example in eight


@FUZZ
@given(image=images, extra=mostly(claims, _record_like()), size_delta=st.sampled_from([0] * 6 + [1, -1, 10**13]),
       sha_bad=seldom, raw=seldom, text=raw_yaml)
def test_a_hostile_remote_gives_refusals_never_a_traceback_or_a_bad_cache_entry(image, extra, size_delta, sha_bad,
                                                                              raw, text):
    import hashlib

    from pipeline.plan.cache import Cache, dumps_record
    from pipeline.plan.remote import Remote

    with Sandbox() as box:
        remote = Remote((box.root / "remote").as_uri())
        key = "cd" * 32
        sha = "0" * 64 if sha_bad else hashlib.sha256(image).hexdigest()
        record = {**extra, "key": key, "image_sha256": sha, "image_bytes": len(image) + size_delta}
        folder = box.root / "remote" / key[:2]
        folder.mkdir(parents=True)
        (folder / f"{key}.{sha}.png").write_bytes(image)
        (folder / f"{key}.json").write_text(text if raw else dumps_record(record), encoding="utf-8",
                                            errors="surrogatepass")
        cache = Cache(box.root / "local")
        with fs_guard.writes_outside(box.root) as guard:
            report = remote.transfer("pull", [key], cache)  # anything else than a refusal raises here
            assert report.error is None and (report.done == [key]) != (key in report.damaged)
            hypothesis.event("pulled" if report.done else "refused: " + report.damaged[key].split(" (")[0][:40])
            fresh = Cache(box.root / "local")
            if report.done:
                from PIL import Image

                assert fresh.has(key) and fresh.image_path(key).read_bytes() == image
                with Image.open(fresh.image_path(key)) as im:
                    im.load()
                    assert max(im.size) <= 4096
            else:
                assert not fresh.image_path(key).exists() and not fresh.record_path(key).exists()
        assert guard.writes == []


# ---------------------------------------------------------------- plan files and shard arguments

plan_cells = st.lists(st.fixed_dictionaries(
    {"state": mostly(st.just("render"), values)},
    optional={"key": mostly(st.sampled_from([f"{i:064x}" for i in range(6)]), values),
              "estimated_seconds": mostly(st.floats(allow_nan=True, allow_infinity=True)
                                          | st.integers(-2**70, 2**70), values),
              "cell": values, "on_remote": values}), max_size=6)
plans = mostly(st.fixed_dictionaries({"cells": mostly(plan_cells, values)}), values)


@FUZZ
@given(data=plans, raw=st.booleans(), text=raw_yaml, k=st.integers(-3, 10**12), n=st.integers(-3, 10**12),
       shard=st.text(max_size=30) | st.from_regex(r"\A[0-9]{1,25}/[0-9]{1,25}\Z"))
def test_plan_files_and_shard_arguments_give_a_split_or_a_message(data, raw, text, k, n, shard):
    import math

    from pipeline.plan.shards import MAX_SHARDS, parse_shard, read_plan_file, shard_of

    with Sandbox() as box:
        path = box.root / "plan.json"
        path.write_text(text if raw else json.dumps(data, allow_nan=True), encoding="utf-8", errors="surrogatepass")
        try:
            planned = read_plan_file(path)
            hypothesis.event("plan read")
        except GalleryError as e:
            assert str(path) in str(e)
            planned = {f"{i:064x}": float(i) for i in range(5)}
        assert all(math.isfinite(v) and 0 <= v <= 10_000_000 for v in planned.values())
        try:
            kk, nn = parse_shard(shard)
            assert 1 <= kk <= nn <= MAX_SHARDS
        except GalleryError as e:
            assert str(e).startswith("--shard ")
        try:
            mine = shard_of(planned, k, n)
        except GalleryError:
            assert not 1 <= k <= n
        else:
            assert mine <= set(planned) and (len(mine) <= 1 or n < len(planned))
