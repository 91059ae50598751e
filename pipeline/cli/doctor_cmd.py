"""`doctor`: what the repository still lacks to publish the gallery on GitHub Pages, each with the
command that fixes it; exit 1 while something blocks publishing (registered by pipeline.cli)."""
from __future__ import annotations

import argparse

from pipeline.cli.options import add_config
from pipeline.publish.git import GitMissing
from pipeline.util.errors import GalleryError
from pipeline.util.files import shown

_MARK = {"ok": "ok  ", "fix": "FIX ", "note": "note"}


def cmd_doctor(args: argparse.Namespace) -> int:
    from pipeline.publish.doctor import PAGES_SETTING, check  # 17 ms: doctor alone pays for it

    gallery = args.inputs.gallery(args)
    try:
        report = check(gallery)
    except GitMissing:
        raise GalleryError("doctor: git is not installed: install it (https://git-scm.com), then run "
                           "doctor again") from None
    where = f" from {report.top}" if report.top else ""
    print(f"doctor: publishing {shown(gallery.path)} on GitHub Pages{where}")
    width = max(len(f.topic) for f in report.findings)
    for f in report.findings:
        print(f"  {_MARK[f.level]}  {f.topic:<{width}}  {f.text}")
        if f.fix and f.level != "ok":
            print(f"  {'':4}  {'':<{width}}  -> {f.fix}")
    blocking = report.blocking
    adds = [f.fix.split()[2:] for f in blocking if f.fix.startswith("git add ")]
    if adds and (len(adds) > 1 or set(report.to_add) - set(adds[0])):
        print(f"to put everything the workflow needs into git at once:\n  git add {' '.join(report.to_add)}")
    if blocking:
        print(f"{len(blocking)} thing{'s' if len(blocking) != 1 else ''} block{'s' if len(blocking) == 1 else ''} "
              f"publishing: fix {'them' if len(blocking) != 1 else 'it'}, then run doctor again")
        return 1
    push = f"git push -u origin {report.branch}" if report.branch else "git push"
    extra = f"; then commit the rest: git add {' '.join(report.to_add)}" if report.to_add else ""
    print(f"ready: nothing blocks publishing{extra}. With Pages on ({PAGES_SETTING}): "
          f"git commit -m \"My gallery\" && {push}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "doctor", help="what the repository still lacks to publish on GitHub Pages, with each fix",
        description="Check, without the network, what a first push would need for the Pages workflow "
                    "to publish this gallery: the workflow and the branch it runs on, the manifest it "
                    "builds and the folder it uploads, your images (no url) in git and not ignored, Git "
                    "LFS for large files, the lock file, the site's address, the remote. Each problem "
                    "comes with the command that fixes it; the exit status is 1 while something blocks "
                    "publishing.")
    add_config(p)
    p.set_defaults(func=cmd_doctor)
