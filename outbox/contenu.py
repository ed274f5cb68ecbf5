"""What each message says: the e-mail (subject, French text, HTML, ``.ics``) and the SMS.

Written when the row is, inside the fact's transaction: the message says what was true
at that moment, whatever happens before it leaves. Times are the practice's
(``Cabinet.timezone``), in words ("mardi 3 mars 2026 à 14h30").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation

from rendezvous import calendrier
from rendezvous.models import Creneau, RendezVous, StatutRendezVous, User
from rendezvous.telephone import un_segment

from .models import Genre

SALT_DESABONNEMENT = "outbox.desabonnement"


@dataclass(frozen=True)
class TypeMessage:
    """A kind of message: its preference (``genre``; None: always by e-mail, never by SMS),
    subject, first sentence, SMS wording, and whether the e-mail carries the ``.ics``."""

    genre: str | None
    sujet: str
    phrase: str
    sms: str
    ics: bool = True


TYPES: dict[str, TypeMessage] = {
    "rendezvous:created": TypeMessage(
        Genre.CONFIRMATION, "Votre rendez-vous est enregistré",
        "Votre rendez-vous est enregistré. Le cabinet doit encore le confirmer : vous recevrez "
        "un message dès que c'est fait.",
        "RDV enregistre (a confirmer)"),
    "rendezvous:confirmed": TypeMessage(
        Genre.CONFIRMATION, "Votre rendez-vous est confirmé",
        "Votre rendez-vous est confirmé.", "RDV confirme"),
    "rendezvous:moved": TypeMessage(
        Genre.MODIFICATION, "Votre rendez-vous a été déplacé",
        "Votre rendez-vous a été déplacé. Voici le nouvel horaire.", "RDV deplace"),
    "rendezvous:cancelled": TypeMessage(
        Genre.ANNULATION, "Votre rendez-vous a été annulé",
        "Votre rendez-vous a été annulé.", "RDV annule"),
    "rappel:reminder": TypeMessage(
        Genre.RAPPEL, "Rappel de votre rendez-vous",
        "Nous vous rappelons votre rendez-vous.", "Rappel RDV"),
    # A waiting-list offer (attente/): about a slot, no booking yet (no .ics).
    "creneau:offered": TypeMessage(
        Genre.MODIFICATION, "Un créneau s'est libéré pour vous",
        "Un créneau s'est libéré chez votre médecin : il vous est réservé quelques minutes, réservez-le "
        "dans l'application.", "Creneau libere pour vous", ics=False),
}


def enregistrer_type(nom: str, type_message: TypeMessage) -> None:
    """For other apps' messages (a waiting-list offer...): register before ``notifier``."""
    TYPES[nom] = type_message


def quand(instant, tz) -> str:
    """"mardi 3 mars 2026 à 14h30", in the practice's time zone."""
    local = timezone.localtime(instant, tz)
    with translation.override("fr"):
        jour = formats.date_format(local, "l j F Y")
    return f"{jour} à {local:%H}h{local:%M}"


def quand_court(instant, tz) -> str:
    local = timezone.localtime(instant, tz)
    return f"{local:%d/%m/%Y} a {local:%H}h{local:%M}"


def jeton_desabonnement(user: User, genre: str) -> str:
    return signing.dumps({"u": user.pk, "g": genre}, salt=SALT_DESABONNEMENT, compress=True)


def base_url(request=None) -> str:
    """``FRONTEND_URL``, else the address the request came to, else the development one."""
    if settings.FRONTEND_URL:
        return settings.FRONTEND_URL.rstrip("/")
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return "http://localhost:3000"


def lien_desabonnement(user: User, genre: str) -> str:
    return f"{base_url()}{reverse('desabonnement')}?token={jeton_desabonnement(user, genre)}"


@dataclass
class Redaction:
    sujet: str
    texte: str
    html: str
    sms: str
    ics: str | None
    desabonnement: str | None


def rediger(type: str, user: User, *, rendezvous: RendezVous | None = None, creneau: Creneau | None = None,
            contexte: dict[str, Any] | None = None) -> Redaction:
    modele = TYPES[type]
    if type == "rendezvous:created" and rendezvous is not None and rendezvous.statut == StatutRendezVous.CONFIRME:
        modele = TYPES["rendezvous:confirmed"]  # booked by the practice: confirmed at once
    contexte = dict(contexte or {})
    creneau = creneau or (rendezvous.creneau if rendezvous is not None else None)
    ctx: dict[str, Any] = {
        "nom": user.first_name or str(user),
        "sujet": contexte.pop("sujet", modele.sujet),
        "phrase": contexte.pop("phrase", modele.phrase),
        "lien": contexte.pop("lien", None),
        "public_url": base_url(),
        **contexte,
    }
    sms_parts = [modele.sms]
    if creneau is not None:
        medecin, cabinet = creneau.medecin, creneau.medecin.cabinet
        tz = cabinet.tzinfo
        ctx.update({
            "quand": quand(creneau.debut, tz), "fuseau": cabinet.timezone,
            "medecin": f"Dr {medecin.user.get_full_name()}", "specialite": medecin.specialite,
            "cabinet": cabinet, "ville": f"{cabinet.code_postal} {cabinet.ville}".strip(),
        })
        sms_parts = [f"{modele.sms} le {quand_court(creneau.debut, tz)} avec Dr {medecin.user.last_name},",
                     f"{cabinet.nom},", cabinet.adresse, cabinet.ville]
    if rendezvous is not None:
        ancien = rendezvous.ancien_creneau if type == "rendezvous:moved" else None
        if ancien is not None:
            ctx["ancien_quand"] = quand(ancien.debut, ancien.medecin.cabinet.tzinfo)
        if rendezvous.motif_annulation and type == "rendezvous:cancelled":
            ctx["motif_annulation"] = rendezvous.motif_annulation
    desabonnement = lien_desabonnement(user, modele.genre) if modele.genre else None
    ctx["desabonnement"] = desabonnement
    ics = None
    if modele.ics and rendezvous is not None:
        ics = calendrier.ics_rendezvous(rendezvous)
    return Redaction(
        sujet=ctx["sujet"],
        texte=render_to_string("outbox/email.txt", ctx),
        html=render_to_string("outbox/email.html", ctx),
        sms=un_segment(*sms_parts),
        ics=ics,
        desabonnement=desabonnement,
    )
