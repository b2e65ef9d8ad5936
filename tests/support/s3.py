"""An S3 server on loopback for the object-storage tests: moto's, with IAM on.

The server checks every request's signature and the caller's policy, as AWS
does: Atrium's user may list the bucket and read, write and delete objects
under its key prefix only; the inspector, which the tests use to look at
the bucket and to place objects Atrium must not touch, may do anything.
Both users and their keys are made by the server itself in its first few
requests, the only ones it answers without authentication.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.processes import process_stop

BUCKET = "atrium-test"
PREFIX = "atrium"
REGION = "us-east-1"
# Requests the server answers before it starts checking credentials: two
# users, each with a key and an inline policy.
BOOTSTRAP_REQUESTS = 6


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def atrium_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """The permissions docs/deployment.md asks for, and no more."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}/{prefix}/*"],
            },
        ],
    }


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path
    access_key_id: str = ""
    secret_access_key: str = ""
    inspector: Any = None

    def options(self, *, secret: str | None = None) -> dict[str, Any]:
        """``STORAGES["default"]["OPTIONS"]`` as the settings build them."""
        return {
            "bucket_name": BUCKET,
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "access_key": self.access_key_id,
            "secret_key": secret or self.secret_access_key,
            "location": PREFIX,
            "addressing_style": None,
        }

    def storages(self, *, secret: str | None = None) -> dict[str, Any]:
        return {
            "default": {
                "BACKEND": "tenancy.object_storage.PrivateS3Storage",
                "OPTIONS": self.options(secret=secret),
            },
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
            },
        }

    def env(self, *, secret: str | None = None) -> dict[str, str]:
        """The environment that selects this bucket, for another process."""
        return {
            "ATRIUM_STORAGE_BACKEND": "s3",
            "ATRIUM_S3_BUCKET": BUCKET,
            "ATRIUM_S3_ENDPOINT_URL": self.endpoint,
            "ATRIUM_S3_REGION": REGION,
            "ATRIUM_S3_ACCESS_KEY_ID": self.access_key_id,
            "ATRIUM_S3_SECRET_ACCESS_KEY": secret or self.secret_access_key,
            "ATRIUM_S3_PREFIX": f"{PREFIX}/",
        }

    def keys(self, under: str = "") -> list[str]:
        """Every key in the bucket that starts with ``under``."""
        pages = self.inspector.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=under
        )
        return sorted(
            entry["Key"] for page in pages for entry in page.get("Contents", ())
        )

    def put(self, key: str, data: bytes) -> None:
        self.inspector.put_object(Bucket=BUCKET, Key=key, Body=data)


def _client(service: str, endpoint: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def _user(iam: Any, name: str, policy: dict[str, Any]) -> tuple[str, str]:
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.put_user_policy(
        UserName=name, PolicyName=f"{name}-s3", PolicyDocument=json.dumps(policy)
    )
    return key["AccessKeyId"], key["SecretAccessKey"]


def start_s3_server(tmp_dir: Path) -> S3Server:
    """Start moto's server on a free loopback port, with the bucket and users."""
    port = _free_port()
    log = tmp_dir / "s3-server.log"
    env = {
        **os.environ,
        "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_REQUESTS),
        # Never let the server's own boto3 look for real credentials.
        "AWS_ACCESS_KEY_ID": "unused",
        "AWS_SECRET_ACCESS_KEY": "unused",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = S3Server(endpoint=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"S3 server exited:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                stop_s3_server(server)
                raise RuntimeError(
                    f"S3 server did not start:\n{log.read_text()}"
                ) from None
            time.sleep(0.1)

    iam = _client("iam", server.endpoint, "bootstrap", "bootstrap")
    server.access_key_id, server.secret_access_key = _user(
        iam, "atrium", atrium_policy(BUCKET, PREFIX)
    )
    inspector_key = _user(
        iam,
        "inspector",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        },
    )
    server.inspector = _client("s3", server.endpoint, *inspector_key)
    server.inspector.create_bucket(Bucket=BUCKET)
    return server


def stop_s3_server(server: S3Server) -> None:
    process_stop(server.process, timeout=10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    yield server
    stop_s3_server(server)


@pytest.fixture
def s3_storage(settings, s3_server: S3Server) -> S3Server:  # type: ignore[no-untyped-def]
    """Stored files of this test go to the bucket, through Atrium's user."""
    settings.STORAGES = s3_server.storages()
    return s3_server
