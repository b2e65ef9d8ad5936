from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from tenancy.api.serializers import StrictSerializer


class UserOut(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    email_verified = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class SignupIn(StrictSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, max_length=256)
    full_name = serializers.CharField(max_length=200, required=False, default="")

    def validate_password(self, value: str) -> str:
        try:
            validate_password(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value


class LoginIn(StrictSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, max_length=256)


class RefreshIn(StrictSerializer):
    refresh_token = serializers.CharField(max_length=4096)


class TokensOut(serializers.Serializer):
    token_type = serializers.CharField(default="Bearer")
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the access token lives.")
    user = UserOut()


class MembershipOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    role = serializers.CharField()


class MeOut(UserOut):
    organizations = MembershipOut(many=True)
    workspaces = MembershipOut(many=True)
