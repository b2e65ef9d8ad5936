"""How allauth treats Atrium's users: verified addresses, wherever they come from.

People also get accounts outside allauth's forms (the API's sign-up, the
admin, the demo command); ``User.email_verified`` is what those know. The
adapter keeps allauth's address book and that flag in step, so a verified
person is never asked to verify again and a confirmed address counts
everywhere.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse

from accounts.models import User
from accounts.services import email_address_sync, user_mark_verified


class AccountAdapter(DefaultAccountAdapter):
    def pre_login(
        self, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any
    ) -> HttpResponse | None:
        if isinstance(user, User):
            email_address_sync(user=user)
        return super().pre_login(request, user, **kwargs)

    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        confirmed = bool(super().confirm_email(request, email_address))
        if confirmed:
            user_mark_verified(user_id=email_address.user_id, email=email_address.email)
        return confirmed
