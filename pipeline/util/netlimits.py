"""Every network wait's bound, in one place: image downloads (`add URL`, validate's fetch) and the
remote render cache. A wait that has no bound here is a bug: a server that accepts a connection and
then says nothing, or drips a byte a second, must end in a clear error, never a hang.
docs/ lists these numbers for users."""
from __future__ import annotations

CONNECT_S = 10.0  # to open a connection (DNS, TCP, TLS)
READ_S = 30.0  # with no byte arriving: the transfer is stalled
DOWNLOAD_TOTAL_S = 600.0  # one image download, whole, however slowly the bytes drip
REMOTE_OP_S = 120.0  # one request to the remote render cache (a listing, a record, one render), whole
