"""Writes of user accounts."""

from __future__ import annotations

import uuid

from allauth.account.models import EmailAddress
from django.db import IntegrityError, transaction

from accounts.models import User


class EmailTaken(Exception):
    """Someone already signed up with this email address."""


@transaction.atomic
def user_signup(*, email: str, password: str, full_name: str = "") -> User:
    """Create an account; the address is unverified until confirmed."""
    if User.objects.filter(email__iexact=email).exists():
        raise EmailTaken(email)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, password, full_name=full_name)
    except IntegrityError as exc:  # a concurrent sign-up took the address
        raise EmailTaken(email) from exc
    email_address_sync(user=user)
    return user


@transaction.atomic
def email_address_sync(*, user: User) -> EmailAddress:
    """Give ``user`` an address-book entry for their email, verified if they are.

    Accounts made outside allauth (the API, the admin, ``atrium_demo``) have
    none; without it allauth would treat a verified person as unverified.
    """
    address = EmailAddress.objects.filter(
        user_id=user.pk, email__iexact=user.email
    ).first()
    if address is None:
        has_primary = EmailAddress.objects.filter(user_id=user.pk, primary=True)
        address = EmailAddress.objects.create(
            user=user,
            email=user.email.lower(),
            verified=user.email_verified,
            primary=not has_primary.exists(),
        )
    elif user.email_verified and not address.verified:
        address.verified = True
        address.save(update_fields=["verified"])
    return address


def user_mark_verified(*, user_id: uuid.UUID, email: str) -> None:
    """Record that the user's own address was confirmed."""
    User.objects.filter(pk=user_id, email__iexact=email, email_verified=False).update(
        email_verified=True
    )


def user_verified_emails(*, user: User) -> set[str]:
    """The addresses ``user`` has proven they receive mail at, lower-cased."""
    verified = {
        email.lower()
        for email in EmailAddress.objects.filter(
            user_id=user.pk, verified=True
        ).values_list("email", flat=True)
    }
    if user.email_verified:
        verified.add(user.email.lower())
    return verified
