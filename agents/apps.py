from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents import portability
        from agents.services import provider_credentials_rotate
        from tenancy import vault

        portability.register()
        # Re-sealed with the other stored secrets by atrium_secrets_rotate.
        vault.register_resealer("provider keys", provider_credentials_rotate)
