"""What stored-file operations raise besides the filesystem's own errors.

Uploaded originals and export archives go through Django's default storage:
the local filesystem under ``MEDIA_ROOT``, or an S3-compatible bucket
(``tenancy.object_storage``, docs/deployment.md). Either raises ``OSError``:
``FileNotFoundError`` for a file that is not there, and from object storage
``StorageError`` for everything else.
"""

from __future__ import annotations


class StorageError(OSError):
    """Object storage refused a request or could not be reached.

    The message names the operation, the file and the server's error code;
    never a credential, a signature or the request that carried them.
    """
