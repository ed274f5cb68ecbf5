"""Domain errors: a machine-readable code, a French message, an HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "invalid"
    message = "Requête invalide"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, details: Any = None
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        super().__init__(self.message)


class PermissionRefusee(DomainError):
    status = 403
    code = "permission_denied"
    message = "Vous n'avez pas le droit d'effectuer cette action"


class Introuvable(DomainError):
    status = 404
    code = "not_found"
    message = "Ressource introuvable"


class Conflit(DomainError):
    status = 409
    code = "conflict"
    message = "Conflit avec l'état actuel"


class CreneauIndisponible(Conflit):
    """A slot that cannot be booked (taken, withdrawn); ``creneau`` is that slot."""

    code = "creneau_indisponible"
    message = "Ce créneau n'est plus disponible"

    def __init__(self, message: str | None = None, *, creneau: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.creneau = creneau


class CreneauRetenu(CreneauIndisponible):
    """A slot held for another patient (``attente.Retenue``): booking it waits for the hold
    to be used, released or to lapse."""

    code = "creneau_retenu"
    message = "Ce créneau est en cours de réservation par un autre patient"
