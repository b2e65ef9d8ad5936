"""Dashboard pages of organizations, workspaces, people, settings and keys."""
