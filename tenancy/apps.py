from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenancy import vault, webhooks

        vault.register_resealer("webhook secrets", webhooks.webhook_secrets_reseal)
