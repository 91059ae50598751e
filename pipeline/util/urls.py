"""Remote cache URLs: the one check every source of one goes through (the manifest's
`cache: remote:`, GALLERY_REMOTE, --remote), and the one redaction every message that shows a
URL goes through, so a secret typed into a URL never reaches a terminal or a CI log.

Credentials belong in each storage's own environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS,
AZURE_STORAGE_*), never in a URL: a URL is printed, logged and committed.
"""
from __future__ import annotations

import re

from pipeline.util.errors import quote

# The protocols a shared render cache may use: object stores, an absolute folder, or (read-only) a web server.
REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "file", "http", "https")
REMOTE_PATTERN = r"^(s3|s3a|gs|gcs|az|abfs|abfss|file|https?)://[^\s?#]+$"  # published in the schema
ENDPOINT_PATTERN = r"^https?://[^\s/?#@]+(/[^\s?#@]*)?$"  # an S3-compatible service: no credentials, no query
REMOTE_EXAMPLES = ("s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, "
                   "file:///absolute/folder or (read-only) https://...")
CREDENTIALS_HELP = ("each storage reads its own from the environment (AWS_ACCESS_KEY_ID, "
                    "GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_CONNECTION_STRING, ...)")

# A URL inside any text: a scheme, "://", then everything up to white space or a quote.
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>[^\s'\"<>]*)")


def redact(text: str) -> str:
    """`text` with every URL's credentials hidden: user and password (s3://KEY:SECRET@bucket ->
    s3://***@bucket, in chained URLs and any letter case too) and the values of a query
    (?sig=...&se=... -> ?sig=***&se=***). Where a secret may itself hold '/' (AWS secret keys
    do), everything from '://' to the URL's last '@' is hidden."""
    def one(m: re.Match) -> str:
        scheme, rest = m.group("scheme"), m.group("rest")
        rest, hash_, fragment = rest.partition("#")
        rest, q, query = rest.partition("?")
        if "@" in (rest.split("/", 1)[0] if scheme.lower() == "file" else rest):
            rest = "***@" + rest.rsplit("@", 1)[1]
        if q:
            query = "&".join(part.split("=", 1)[0] + "=***" if "=" in part else "***"
                             for part in query.split("&"))
        return f"{scheme}://{rest}{q}{query}{hash_}{'***' if fragment else ''}"

    return _URL.sub(one, str(text))


def shown(url: str) -> str:
    """A URL as a message quotes it: redacted, cut at its first white space (what follows is no
    part of a URL, so redact() would not know a secret there) and at QUOTE_LIMIT characters."""
    head = re.split(r"\s", url, maxsplit=1)[0]
    return quote(redact(head) + (" ..." if head != url else ""))


def remote_url_problem(url: str) -> str | None:
    """What is wrong with `url` as a remote render cache, or None. Never quotes the URL: the
    caller shows it with shown(), next to the name of where it came from."""
    scheme, sep, rest = url.partition("://")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return f"must be a URL without spaces or control characters: {REMOTE_EXAMPLES}"
    if sep and ("@" in rest if scheme.lower() != "file" else "@" in rest.split("/", 1)[0]):
        return f"holds credentials (user@host): remove them; {CREDENTIALS_HELP}"
    if "::" in url:
        return (f"is a chained URL ('::'), which a shared render cache cannot be: give the storage's "
                f"own URL: {REMOTE_EXAMPLES}")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return f"must be a URL: {REMOTE_EXAMPLES}"
    if scheme not in REMOTE_SCHEMES and scheme.lower() in REMOTE_SCHEMES:
        return f"write the protocol in lower case: '{scheme.lower()}://'"
    if scheme not in REMOTE_SCHEMES:
        return f"unsupported protocol '{scheme}://' for a shared render cache; want {REMOTE_EXAMPLES}"
    if "?" in rest or "#" in rest:
        return f"must not carry a query or fragment ('?', '#'): {CREDENTIALS_HELP}"
    if scheme == "file" and not rest.startswith("/"):
        return "a folder remote needs an absolute path, e.g. file:///mnt/renders"
    if not rest.strip("/"):
        return f"names no bucket, container or folder: {REMOTE_EXAMPLES}"
    return None


def endpoint_problem(url: str) -> str | None:
    """What is wrong with an S3-compatible service's address (`endpoint_url`), or None."""
    if "@" in url.partition("://")[2]:
        return f"holds credentials (user@host): remove them; {CREDENTIALS_HELP}"
    if not re.fullmatch(ENDPOINT_PATTERN, url):
        return "must be an http:// or https:// address, e.g. http://127.0.0.1:9000"
    return None
