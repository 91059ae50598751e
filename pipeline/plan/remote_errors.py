"""What can go wrong with a remote cache, said so a user can fix it: each backend's own
exceptions (botocore, gcsfs, adlfs, aiohttp ...) become one of three errors, with the
credentials or the optional extra to install named for that backend."""
from __future__ import annotations

from pipeline.util.errors import GalleryError
from pipeline.util.urls import redact

# Which `pip install '.[extra]'` brings the filesystem for a protocol.
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure",
          "abfss": "azure", "adl": "azure", "http": "http", "https": "http"}
CREDENTIAL_HELP = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment",
    "gcs": "set GOOGLE_APPLICATION_CREDENTIALS to a service account's key file, or run "
           "`gcloud auth application-default login`",
    "azure": "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with "
             "AZURE_STORAGE_ACCOUNT_KEY, in the environment",
}
NETWORK_ERRORS = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                   "ConnectionClosedError", "ClientConnectorError", "ServerDisconnectedError",
                   "ClientOSError", "ServerTimeoutError", "ConnectionError", "ProxyConnectionError")



class RemoteError(GalleryError):
    """A remote problem the user can fix (credentials, missing extra, bucket, network). Its
    message is redacted (pipeline.util.urls): a URL in it, or in a backend's error text quoted
    by it, never shows a secret."""

    def __init__(self, message: str):
        super().__init__(redact(message))


class RemoteUnreachable(RemoteError):
    """The remote stopped answering: a batch stops here and says what was transferred."""


class RemoteDenied(RemoteError):
    """No credentials, or credentials the remote refuses: nothing more can be transferred."""


class DamagedEntry(Exception):
    """One remote entry that must not be trusted (record unreadable, image missing or different)."""


def extra_for(protocol: str) -> str | None:
    return EXTRAS.get(protocol)


def install_hint(protocol: str) -> str:
    extra = extra_for(protocol)
    if not extra:
        return "install the fsspec filesystem for it"
    return (f"install the optional extra: `pip install '.[{extra}]'` "
            f"(in this checkout: `make install EXTRAS={extra}`)")


def credential_help(protocol: str) -> str:
    return CREDENTIAL_HELP.get(extra_for(protocol) or "", "use the backend's usual environment "
                               "variables or config files")


def translate(exc: BaseException, doing: str, display: str, protocol: str) -> RemoteError:
    """The backend's exception (each has its own types) as a RemoteError that says what to do."""
    names = {c.__name__ for c in type(exc).__mro__}
    if isinstance(exc, RemoteError):
        return exc
    if any("Credential" in n for n in names) or "NoAuthHandlerFound" in names:
        return RemoteDenied(f"remote {display}: no credentials for {doing}: "
                            f"{credential_help(protocol)} (never in the manifest)")
    if isinstance(exc, PermissionError) or "ClientAuthenticationError" in names:
        return RemoteDenied(f"remote {display}: access denied while {doing} ({exc}); "
                            f"check the credentials in the environment ({credential_help(protocol)}) "
                            f"and that they may {'read' if 'pull' in doing else 'write'} there")
    if names & set(NETWORK_ERRORS) or isinstance(exc, (ConnectionError, TimeoutError)):
        return RemoteUnreachable(f"remote {display}: no answer while {doing} ({exc})")
    if isinstance(exc, FileNotFoundError) and doing in ("pushing", "listing"):
        return RemoteError(f"remote {display}: {exc}: create the bucket or container "
                           f"first (this pipeline never creates one)")
    return RemoteError(f"remote {display}: {doing} failed ({type(exc).__name__}: {exc})")
