"""Writing to the outbox (``notifier``, ``envoyer_email``) and sending it (``envoyer_dus``).

Writing happens inside the caller's transaction: the message exists if and only if the
fact does. Sending happens after, from any number of senders at once (the in-server
worker of every server process, ``manage.py send_outbox`` from cron):

1. claim: in a short transaction, up to ``OUTBOX_BATCH`` due rows are locked
   (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL: a row another sender holds is
   skipped, not waited for; SQLite serialises writers anyway) and leased
   (``prochain_essai`` = now + ``OUTBOX_LEASE_SECONDS``), then the transaction commits;
2. send each, outside any transaction (a slow mail server holds no lock);
3. mark it ``ENVOYE``, or count the failure: try again after ``OUTBOX_BACKOFF_SECONDS``
   × 2^(attempts−1), and after ``OUTBOX_MAX_TENTATIVES`` attempts mark it ``ECHEC``.

A sender killed between 1 and 3 leaves its rows leased: they come back when the lease
ends. Killed between a successful send and 3, that message goes a second time: the one
residual window, at most the messages of the batch in flight (README).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from rendezvous.models import Creneau, RendezVous, User
from rendezvous.telephone import mobile

from . import contenu, reveil, sms
from .models import Canal, Envoi, Genre, Preferences, StatutEnvoi

logger = logging.getLogger(__name__)


# --- preferences ----------------------------------------------------------------------------


def preferences_de(user: User) -> Preferences:
    """The user's preferences (the defaults, unsaved, if they never changed them)."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)


def modifier_preferences(user: User, changes: dict[str, bool]) -> Preferences:
    with transaction.atomic():
        prefs, _ = Preferences.objects.select_for_update().get_or_create(user=user)
        for name, value in changes.items():
            setattr(prefs, name, bool(value))
        prefs.save()
    return prefs


def desabonner(user: User, genre: str) -> Preferences:
    """The unsubscribe link: that kind's e-mails off (the other kinds and SMS unchanged)."""
    return modifier_preferences(user, {f"email_{genre}": False})


# --- writing ---------------------------------------------------------------------------------


def notifier(type: str, user: User, *, rendezvous: RendezVous | None = None, creneau: Creneau | None = None,
             contexte: dict | None = None, cle: str) -> list[Envoi]:
    """Write the e-mail and/or SMS of ``type`` for ``user`` as their preferences say (0 to 2
    rows), in the caller's transaction. ``cle`` identifies the fact (e.g.
    ``"rendezvous:confirmed:<rdv id>:<event id>"``); the channel is appended, and a key
    already written is left alone (calling twice writes once)."""
    if not user.is_active:
        return []
    modele = contenu.TYPES[type]
    prefs = preferences_de(user)
    canaux = []
    if user.email and (modele.genre is None or prefs.veut(Canal.EMAIL, modele.genre)):
        canaux.append(Canal.EMAIL)
    numero = mobile(user.telephone) if modele.genre is not None and prefs.veut(Canal.SMS, modele.genre) else None
    if numero:
        canaux.append(Canal.SMS)
    if not canaux:
        return []
    redaction = contenu.rediger(type, user, rendezvous=rendezvous, creneau=creneau, contexte=contexte)
    rows = []
    for canal in canaux:
        common = {"canal": canal, "user": user, "rendezvous": rendezvous, "type": type,
                  "cle": f"{cle}:{canal}"}
        if canal == Canal.EMAIL:
            rows.append(Envoi(destinataire=user.email, sujet=redaction.sujet, texte=redaction.texte,
                              html=redaction.html, piece_jointe=redaction.ics, **common))
        else:
            rows.append(Envoi(destinataire=numero, texte=redaction.sms, **common))
    return _ecrire(rows)


def envoyer_email(*, destinataire: str, sujet: str, texte: str, type: str, cle: str, html: str = "",
                  user: User | None = None, piece_jointe: str | None = None) -> Envoi | None:
    """A one-off e-mail through the outbox (a password reset...), in the caller's
    transaction; no preference applies. Returns the row, or None if ``cle`` was written
    already."""
    rows = _ecrire([Envoi(canal=Canal.EMAIL, destinataire=destinataire, sujet=sujet, texte=texte, html=html,
                          user=user, type=type, cle=cle, piece_jointe=piece_jointe)])
    return rows[0] if rows else None


def _ecrire(rows: list[Envoi]) -> list[Envoi]:
    """Insert the rows whose key is new; returns them, saved (ids set). The in-server
    sender is woken when they commit."""
    with transaction.atomic(savepoint=False):
        transaction.on_commit(reveil.signaler)
        existing = set(Envoi.objects.filter(cle__in=[r.cle for r in rows]).values_list("cle", flat=True))
        rows = [r for r in rows if r.cle not in existing]
        try:
            with transaction.atomic():  # a savepoint: a duplicate key must not abort the caller
                Envoi.objects.bulk_create(rows)
        except IntegrityError:  # a concurrent writer of the same key: keep the others
            written = []
            for row in rows:
                try:
                    with transaction.atomic():
                        row.save(force_insert=True)
                    written.append(row)
                except IntegrityError:
                    row.pk = None
            rows = written
    return rows


# --- sending ---------------------------------------------------------------------------------


@dataclass
class Passe:
    envoyes: int = 0
    reessais: int = 0
    echecs: int = 0
    erreurs: list[str] = field(default_factory=list)

    def __iadd__(self, other: Passe) -> Passe:
        self.envoyes += other.envoyes
        self.reessais += other.reessais
        self.echecs += other.echecs
        self.erreurs += other.erreurs
        return self

    @property
    def total(self) -> int:
        return self.envoyes + self.reessais + self.echecs


def reclamer(now: datetime, limite: int, *, pk: int | None = None) -> list[Envoi]:
    """Lock and lease up to ``limite`` due rows (committed before anything is sent)."""
    with transaction.atomic():
        qs = Envoi.objects.filter(statut=StatutEnvoi.A_ENVOYER, prochain_essai__lte=now)
        if pk is not None:
            qs = qs.filter(pk=pk)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        rows = list(qs.order_by("prochain_essai", "id")[:limite])
        if rows:
            Envoi.objects.filter(pk__in=[r.pk for r in rows]).update(
                prochain_essai=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS))
    return rows


def _email(envoi: Envoi) -> EmailMultiAlternatives:
    headers = {"Message-ID": f"<envoi-{envoi.pk}@{settings.CALENDAR_UID_DOMAIN}>",
               "X-Outbox-Cle": envoi.cle}
    # The unsubscribe link the text carries, for mail clients' own "unsubscribe" button.
    path = reverse("desabonnement")
    link = next((w for w in envoi.texte.split() if f"{path}?token=" in w), None)
    if link:
        headers["List-Unsubscribe"] = f"<{link}>"
    message = EmailMultiAlternatives(envoi.sujet, envoi.texte, settings.DEFAULT_FROM_EMAIL,
                                     [envoi.destinataire], headers=headers)
    if envoi.html:
        message.attach_alternative(envoi.html, "text/html")
    if envoi.piece_jointe:
        method = "CANCEL" if "METHOD:CANCEL" in envoi.piece_jointe else "REQUEST"
        message.attach("rendezvous.ics", envoi.piece_jointe, f"text/calendar; method={method}; charset=utf-8")
    return message


def envoyer(envoi: Envoi) -> None:
    """Hand one claimed row to the mail server or the SMS backend (no database access:
    the in-server worker runs this on a thread of its own); raises on failure."""
    if envoi.canal == Canal.EMAIL:
        _email(envoi).send(fail_silently=False)
    else:
        sms.get_backend().send(envoi.destinataire, envoi.texte)


# Messages whose text is a secret (a password link): erased once sent.
EFFACES_APRES_ENVOI = frozenset({"password_reset"})
TEXTE_EFFACE = "(texte effacé après l'envoi : il contenait un lien personnel)"


def noter_reussite(envoi: Envoi, now: datetime) -> None:
    erase = {"texte": TEXTE_EFFACE, "html": ""} if envoi.type in EFFACES_APRES_ENVOI else {}
    Envoi.objects.filter(pk=envoi.pk, statut=StatutEnvoi.A_ENVOYER).update(
        statut=StatutEnvoi.ENVOYE, envoye_at=now, tentatives=F("tentatives") + 1, derniere_erreur="", **erase)


def noter_echec(envoi: Envoi, now: datetime, erreur: str) -> bool:
    """Count a failed attempt; True when it was the last one (ECHEC)."""
    tentatives = envoi.tentatives + 1
    if tentatives >= settings.OUTBOX_MAX_TENTATIVES:
        changes = {"statut": StatutEnvoi.ECHEC}
    else:
        delay = settings.OUTBOX_BACKOFF_SECONDS * 2 ** (tentatives - 1)
        changes = {"prochain_essai": now + timedelta(seconds=delay)}
    Envoi.objects.filter(pk=envoi.pk, statut=StatutEnvoi.A_ENVOYER).update(
        tentatives=tentatives, derniere_erreur=erreur[:2000], **changes)
    return tentatives >= settings.OUTBOX_MAX_TENTATIVES


def envoyer_lot(now: datetime | None = None, limite: int | None = None) -> Passe:
    """Claim one batch of due rows and send them; what happened to each."""
    now = now or timezone.now()
    passe = Passe()
    envois = reclamer(now, limite or settings.OUTBOX_BATCH)
    bail = Bail()
    for i, envoi in enumerate(envois):
        if not bail.assez_pour_un_envoi():
            relacher(envois[i:])
            break
        noter(passe, envoi, now, essayer(envoi))
    return passe


def horloge() -> float:
    """Seconds on the monotonic clock (a function, so tests can move it)."""
    return time.monotonic()


class Bail:
    """The lease of a claimed batch, on the monotonic clock: a sender whose mail server is
    slow stops before its lease could end mid-send (another sender could then take and
    send the same row) and gives the rest back."""

    def __init__(self) -> None:
        self.debut = horloge()

    def assez_pour_un_envoi(self) -> bool:
        restant = settings.OUTBOX_LEASE_SECONDS - (horloge() - self.debut)
        return restant > settings.EMAIL_TIMEOUT + 5


def relacher(envois: list[Envoi]) -> None:
    """Rows claimed but not tried: due again at once, for any sender."""
    if envois:
        Envoi.objects.filter(pk__in=[e.pk for e in envois], statut=StatutEnvoi.A_ENVOYER).update(
            prochain_essai=timezone.now())


def essayer(envoi: Envoi) -> str | None:
    """Send; the error as text, or None."""
    try:
        envoyer(envoi)
    except Exception as exc:  # any failure of the server or the backend: try again later
        erreur = f"{type(exc).__name__}: {exc}"
        logger.warning("outbox: envoi %s (%s) failed: %s", envoi.pk, envoi.cle, erreur)
        return erreur
    return None


def noter(passe: Passe, envoi: Envoi, now: datetime, erreur: str | None) -> None:
    """Record the attempt's outcome on the row and in the pass's counts."""
    if erreur is None:
        noter_reussite(envoi, now)
        passe.envoyes += 1
        return
    passe.erreurs.append(erreur)
    if noter_echec(envoi, now, erreur):
        passe.echecs += 1
    else:
        passe.reessais += 1


def envoyer_maintenant(pk: int) -> bool:
    """Try one row at once (after its transaction commits: a password link the user waits
    for); not claimable or failed, it stays with the senders (retries, backoff). Never
    raises: it runs in ``on_commit``, after the answer's transaction."""
    if pk is None:
        return False
    try:
        now = timezone.now()
        passe = Passe()
        for envoi in reclamer(now, 1, pk=pk):
            noter(passe, envoi, now, essayer(envoi))
        return passe.envoyes == 1
    except Exception:  # a database outage now: the row is still due, a sender will take it
        logger.exception("outbox: immediate send of envoi %s failed", pk)
        return False


def envoyer_dus(now: datetime | None = None, max_lots: int = 1000) -> Passe:
    """Send every due row, batch after batch, until none is left (or ``max_lots``)."""
    total = Passe()
    for _ in range(max_lots):
        passe = envoyer_lot(now)
        total += passe
        if passe.total == 0:
            break
    return total


def purger(now: datetime | None = None) -> int:
    """Delete sent rows older than ``OUTBOX_RETENTION_DAYS`` (0: keep them): a message's
    text is personal data, kept as long as it helps answer "did the patient get it?".
    Failed rows stay until someone looks at them (« Renvoyer » or deletion by hand)."""
    if settings.OUTBOX_RETENTION_DAYS <= 0:
        return 0
    limite = (now or timezone.now()) - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    deleted, _ = Envoi.objects.filter(statut=StatutEnvoi.ENVOYE, envoye_at__lt=limite).delete()
    return deleted


def renvoyer(envois) -> int:
    """The admin's "Renvoyer": failed rows go back to the queue, attempts from zero."""
    return Envoi.objects.filter(pk__in=[e.pk for e in envois], statut=StatutEnvoi.ECHEC).update(
        statut=StatutEnvoi.A_ENVOYER, tentatives=0, prochain_essai=timezone.now())


__all__ = ["Genre", "desabonner", "envoyer_dus", "envoyer_email", "envoyer_lot", "envoyer_maintenant",
           "modifier_preferences",
           "notifier", "preferences_de", "purger", "reclamer", "renvoyer"]
