"""Stored files in an S3-compatible bucket, kept private.

Selected with ``ATRIUM_STORAGE_BACKEND=s3`` (docs/deployment.md). Atrium
reads every stored file itself and hands out no storage URL, so objects are
written without an ACL (the bucket's own, private) and ``url()`` refuses.
boto3's errors become ``OSError``s, as the filesystem raises: a missing
object is ``FileNotFoundError``, anything else ``StorageError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from storages.backends.s3 import S3Storage

from tenancy.storage import StorageError

# Codes an S3 server answers when the credentials or the policy are wrong.
CREDENTIAL_CODES = frozenset(
    {
        "403",
        "AccessDenied",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "SignatureDoesNotMatch",
    }
)
# A read larger than this spools to a temporary file instead of memory.
READ_MEMORY_BYTES = 8 * 1024 * 1024


@contextmanager
def _translated(operation: str, name: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        response: dict[str, Any] = error.response
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(response.get("Error", {}).get("Code") or status)
        if status == 404 and code in ("404", "NoSuchKey"):
            raise FileNotFoundError(f"no stored file {name}") from None
        hint = (
            "; check the storage credentials and the bucket's policy"
            if code in CREDENTIAL_CODES
            else ""
        )
        raise StorageError(
            f"object storage refused to {operation} {name!r} ({code}){hint}"
        ) from None
    except BotoCoreError as error:
        # Connection, timeout and missing-credential errors; their class
        # names say enough, and none carries a secret.
        raise StorageError(
            f"object storage could not {operation} {name!r} ({type(error).__name__})"
        ) from None


class PrivateS3Storage(S3Storage):
    """django-storages' S3 backend that never exposes an object.

    No signed or public URLs, no ACLs, no overwriting an existing key, and
    bounded timeouts and retries so a dead endpoint fails a request instead
    of hanging it.
    """

    def __init__(self, **options: Any) -> None:
        options.update(
            querystring_auth=False,
            custom_domain=None,
            default_acl=None,
            file_overwrite=False,
        )
        options.setdefault("max_memory_size", READ_MEMORY_BYTES)
        options.setdefault(
            "client_config",
            Config(
                s3={"addressing_style": options.get("addressing_style")},
                connect_timeout=10,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
            ),
        )
        super().__init__(**options)

    def _open(self, name: str, mode: str = "rb") -> Any:
        with _translated("read", name):
            stored = super()._open(name, mode)
            if "r" in mode:
                # Download now, so a failure surfaces here as an OSError
                # rather than from the first read() as a boto3 error.
                stored.file  # noqa: B018
        return stored

    def _save(self, name: str, content: IO[bytes]) -> str:
        with _translated("write", name):
            return str(super()._save(name, content))

    def delete(self, name: str) -> None:
        with _translated("delete", name):
            super().delete(name)

    def exists(self, name: str) -> bool:
        with _translated("look up", name):
            return bool(super().exists(name))

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        with _translated("list", path):
            return super().listdir(path)

    def size(self, name: str) -> int:
        with _translated("measure", name):
            return int(super().size(name))

    def get_modified_time(self, name: str) -> datetime:
        with _translated("read the date of", name):
            return super().get_modified_time(name)

    def url(self, name: str | None, *args: Any, **kwargs: Any) -> str:
        raise NotImplementedError(
            "Stored files are read by Atrium only; object storage gives no URLs."
        )

    def probe(self, *, timeout: float) -> None:
        """List one original's key, with a short timeout and no retry."""
        config = self.client_config.merge(
            Config(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"mode": "standard", "total_max_attempts": 1},
            )
        )
        client = self._create_session().client(
            "s3",
            region_name=self.region_name,
            use_ssl=self.use_ssl,
            endpoint_url=self.endpoint_url,
            config=config,
            verify=self.verify,
        )
        prefix = self._normalize_name("documents") + "/"
        with _translated("list", prefix):
            client.list_objects_v2(Bucket=self.bucket_name, Prefix=prefix, MaxKeys=1)
