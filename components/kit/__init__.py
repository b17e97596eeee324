"""Building blocks every component shares: labels, pod specs, volumes, availability, RBAC, protection,
object storage, YAML loading. Never reads the settings model."""
