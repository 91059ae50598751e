"""The address a site is published at (`site.base_url`, else GALLERY_BASE_URL): one check for
both sources, and the one written form every file uses (robots.txt, sitemap, feed, 404 page,
social cards).

Accepted: an http:// or https:// address with a host, an optional port and path; refused: any
other scheme (a `javascript:` address would become every link of the 404 page), white space and
control characters (a line break would write lines of its own into robots.txt), a user or
password, a query or fragment. A non-ASCII address is written as browsers send it: the host in
IDNA (`bücher.example` -> `xn--bcher-kva.example`, UTS #46 as browsers map it, with the `idna`
package), the path percent-encoded as UTF-8 (`/galería/` -> `/galer%C3%ADa/`), as are `" < >`
and the other characters a URL may not hold. The written form always ends in one slash.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import quote, urlsplit

EXAMPLE = "https://USER.github.io/REPO/"
# What a path keeps as it is: RFC 3986's unreserved and sub-delims, ':', '@', '/', and '%' of
# an escape already there.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


class SiteUrlError(ValueError):
    """Why a text is not a site address (without the text: the caller names where it came from)."""


def problem(text: str) -> str | None:
    """What is wrong with `text` as the site's address, or None."""
    try:
        normalise(text)
    except SiteUrlError as e:
        return str(e)
    return None


def normalise(text: str) -> str:
    """The written form of the site's address `text` (see the module's docstring), or
    SiteUrlError saying what is wrong."""
    for i, ch in enumerate(text):
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs"):
            raise SiteUrlError(f"holds {_name(ch)} at character {i + 1}: an address has no white "
                               f"space or control characters")
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", text)
    if not m or m.group(1).lower() not in ("http", "https") or not text[m.end():].startswith("//"):
        raise SiteUrlError(f"must be an http:// or https:// address, e.g. {EXAMPLE}")
    try:
        parts = urlsplit(text)
    except ValueError as e:  # a broken [IPv6] host, characters that NFKC turns into '/', '@', ...
        raise SiteUrlError(f"is no address that can be read: {e}") from None
    if "@" in parts.netloc:
        raise SiteUrlError("holds a user name or password (user@host): a published address must not")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise SiteUrlError(f"has a query or fragment ('?', '#'): give the site's own address, e.g. {EXAMPLE}")
    host, port = _host_and_port(parts.netloc)
    path = re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", parts.path or "/")  # a lone '%' is a character
    path = quote(path, safe=_PATH_SAFE)
    return f"{m.group(1).lower()}://{host}{port}{path.rstrip('/')}/"


def _host_and_port(netloc: str) -> tuple[str, str]:
    """(the host as ASCII, ':PORT' or '')."""
    host, port = netloc, ""
    at = netloc.rfind(":")
    if at > netloc.rfind("]"):
        host, port = netloc[:at], netloc[at + 1:]
        if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise SiteUrlError(f"has the port {port!r}: a port is a number from 1 to 65535")
        port = f":{int(port)}"
    if not host:
        raise SiteUrlError(f"names no host, e.g. {EXAMPLE}")
    if host.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1] if host.endswith(']') else '')}]", port
        except ValueError:
            raise SiteUrlError(f"has the host {host!r}, which is no IPv6 address") from None
    import idna

    try:
        ascii_host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise SiteUrlError(f"has the host {host!r}, which is not a valid domain name") from None
    if not re.fullmatch(r"[a-z0-9.-]+", ascii_host):
        raise SiteUrlError(f"has the host {host!r}, which is not a valid domain name")
    return ascii_host, port


def _name(ch: str) -> str:
    if ch in " \n\r":
        return "a space" if ch == " " else "a line break"
    return f"U+{ord(ch):04X}" + (f" ({unicodedata.name(ch)})" if unicodedata.name(ch, "") else "")
