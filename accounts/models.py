"""People who sign in to Atrium."""

import uuid
from typing import ClassVar

from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    PermissionsMixin,
)
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(
        self, email: str, password: str | None = None, **fields: object
    ) -> "User":
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)  # None makes an unusable password (SSO)
        user.save(using=self._db)
        return user

    def create_superuser(
        self, email: str, password: str | None = None, **fields: object
    ) -> "User":
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        fields.setdefault("email_verified", True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> "User":
        # Email login is case-insensitive, as the unique constraint is.
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Signs in with an email address; belongs to organizations."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    email_verified = models.BooleanField(default=False)
    # AbstractBaseUser declares a plain class attribute; this makes it a column.
    is_active = models.BooleanField(default=True)  # type: ignore[misc]
    is_staff = models.BooleanField(
        default=False, help_text="Can sign in to the admin and see every tenant."
    )
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="users_email_ci_unique"),
        ]
        indexes = [models.Index(fields=["created_at"], name="users_created_idx")]

    def __str__(self) -> str:
        return self.email

    @property
    def last_login_at(self):  # the design's name for Django's `last_login`
        return self.last_login
