"""Claiming a record made on the phone, and resetting a password.

A record the desk made has no usable password. Signing up with its e-mail must not log
anyone in (anyone who knows the address would take over the record and its history):
the sign-up answers 202 and e-mails the owner of the address a link to set a password,
the same link as "mot de passe oublié". Setting the password through it is the claim:
the same row, its bookings kept.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from medical_booking.errors import DomainError
from outbox.services import envoyer_email, envoyer_maintenant

from .models import Role, User

logger = logging.getLogger(__name__)

SUJET = "Définissez votre mot de passe"
CORPS = """Bonjour{nom},

Pour définir le mot de passe de votre compte de prise de rendez-vous, ouvrez ce lien :

{lien}

Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : rien ne change.
"""


def compte_a_reclamer(email: str) -> User | None:
    """The unclaimed patient record with this e-mail (no usable password), if any."""
    user = User.objects.filter(email__iexact=email.strip(), role=Role.PATIENT, is_active=True).first()
    if user is None or user.has_usable_password():
        return None
    return user


def lien_reinitialisation(user: User, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{base_url.rstrip('/')}/reinitialiser?uid={uid}&token={token}"


def envoyer_lien(user: User, base_url: str) -> None:
    """Write the e-mail to the outbox (with the surrounding transaction, if any) and try
    it at once after commit; a mail server failure is retried by the outbox's senders,
    never shown (the answer is the same whether an address exists)."""
    lien = lien_reinitialisation(user, base_url)
    nom = f" {user.get_full_name()}" if user.get_full_name() else ""
    with transaction.atomic():
        envoi = envoyer_email(destinataire=user.email, sujet=SUJET, texte=CORPS.format(nom=nom, lien=lien),
                              type="password_reset", cle=f"password_reset:{user.pk}:{uuid.uuid4().hex}", user=user)
    transaction.on_commit(partial(envoyer_maintenant, envoi.pk))


def demander_reinitialisation(email: str, base_url: str) -> None:
    """Send the link to an active account with this e-mail; nothing for an unknown one
    (the caller gets the same answer either way)."""
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is not None:
        envoyer_lien(user, base_url)


def reinitialiser(*, uid: str, token: str, password: str) -> User:
    """Set the password if the link is valid: 400 ``lien_invalide`` otherwise (expired,
    used — the token covers the old password —, altered), 400 ``mot_de_passe_invalide``
    with the validators' messages."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError):
        pk = None
    user = User.objects.filter(pk=pk, is_active=True).first() if pk and 0 < pk < 2**63 else None
    if user is None or not default_token_generator.check_token(user, token):
        raise DomainError("Ce lien n'est plus valide : demandez-en un nouveau", code="lien_invalide")
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise DomainError("Mot de passe refusé", code="mot_de_passe_invalide",
                          details={"password": exc.messages}) from exc
    # Hashed here, outside any transaction; save() ends the user's other sessions.
    user.set_password(password)
    user.save(update_fields=["password"])
    return user
