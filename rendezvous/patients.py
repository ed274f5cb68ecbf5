"""Patient records for the practice's desk: find a caller, make a record on the phone.

A record made on the phone has no usable password: the person claims it later by
signing up or resetting the password with its e-mail (``rendezvous.comptes``), and
keeps its history, since it is the same row.
"""

from __future__ import annotations

import re

from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Replace

from audit import journal
from medical_booking.errors import Conflit, DomainError, Introuvable, PermissionRefusee

from .models import STAFF_ROLES, RendezVous, Role, User

TELEPHONE_CARACTERES = re.compile(r"^\+?[0-9 ]+$")
TELEPHONE_CHIFFRES = (8, 15)
# Separators people type in a phone number; stripped on both sides before comparing.
SEPARATEURS = (" ", ".", "-", "+", "(", ")", "/")
# How long staff who proved they know an existing patient's e-mail may book for them.
CONNU_SECONDES = 24 * 3600


def chiffres(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def valider_telephone(value: str) -> str:
    """Digits, an optional leading +, spaces; 8 to 15 digits (E.164's bound). Returns it
    trimmed, spaces collapsed: the desk reads it back to the caller as typed."""
    value = " ".join(value.split())
    n = len(chiffres(value))
    if not TELEPHONE_CARACTERES.match(value) or not TELEPHONE_CHIFFRES[0] <= n <= TELEPHONE_CHIFFRES[1]:
        raise DomainError(
            "Numéro de téléphone invalide : chiffres, espaces et + initial, de 8 à 15 chiffres",
            code="validation_error", details={"telephone": ["Numéro de téléphone invalide."]},
        )
    return value


def patients_visibles(user: User) -> QuerySet[User]:
    """The patients a user may look up: staff, those booked in their practice or whose
    record it made; super admins, all; anyone else, none."""
    qs = User.objects.filter(role=Role.PATIENT, is_active=True)
    if user.role == Role.SUPERADMIN:
        return qs
    if user.role in STAFF_ROLES and user.cabinet_id is not None:
        booked = RendezVous.objects.filter(patient=OuterRef("pk"), creneau__medecin__cabinet_id=user.cabinet_id)
        return qs.filter(Q(cree_par_cabinet_id=user.cabinet_id) | Exists(booked))
    return qs.none()


def _telephone_chiffres():
    expr = "telephone"
    for sep in SEPARATEURS:
        expr = Replace(expr, Value(sep), Value(""))
    return expr


def rechercher(qs: QuerySet[User], q: str) -> QuerySet[User]:
    """Each word of ``q`` must match a first or last name or the e-mail (case-insensitive);
    a query with digits also matches phones digit for digit, a French 0X… finding +33X…"""
    q = q.strip()
    if not q:
        return qs
    digits = chiffres(q)
    bare = q
    for sep in SEPARATEURS:
        bare = bare.replace(sep, "")
    if len(digits) >= 3 and bare == digits:
        # A phone number (maybe with separators): digits only, on both sides.
        variants = {digits}
        if digits.startswith("0") and len(digits) > 1:
            variants.add("33" + digits[1:])
        if digits.startswith("33") and len(digits) > 2:
            variants.add("0" + digits[2:])
        phone = Q()
        for v in variants:
            phone |= Q(tel_chiffres__contains=v)
        return qs.annotate(tel_chiffres=_telephone_chiffres()).filter(phone)
    for word in q.split():
        qs = qs.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word))
    return qs


def _cle_connu(cabinet_id: int, patient_id: int) -> str:
    return f"patient-connu:{cabinet_id}:{patient_id}"


def marquer_connu(acteur: User, patient_id: int) -> None:
    """Staff gave the e-mail of an existing patient: they may book for them (a day long),
    though the patient only becomes visible in searches once booked there."""
    if acteur.cabinet_id is not None:
        cache.set(_cle_connu(acteur.cabinet_id, patient_id), True, CONNU_SECONDES)


def patient_pour_reservation(acteur: User, patient_id: int) -> User:
    """The patient staff book for: visible to them (or known by e-mail), else 404
    ``patient_inconnu`` (an id of another practice's patient says nothing)."""
    patient = patients_visibles(acteur).filter(pk=patient_id).first()
    if patient is None and acteur.cabinet_id is not None and cache.get(_cle_connu(acteur.cabinet_id, patient_id)):
        patient = User.objects.filter(pk=patient_id, role=Role.PATIENT, is_active=True).first()
    if patient is None:
        raise Introuvable("Patient introuvable", code="patient_inconnu")
    return patient


def creer_patient(
    *, acteur: User, first_name: str, last_name: str, telephone: str, email: str | None = None
) -> User:
    """A record made on the phone: a PATIENT without a usable password, attached to the
    staff's practice. An e-mail already in use is a 409 naming the patient (the caller
    knows the address: they may book for that patient)."""
    if acteur.role not in (*STAFF_ROLES, Role.SUPERADMIN):
        raise PermissionRefusee("Seul le cabinet crée une fiche patient")
    telephone = valider_telephone(telephone)
    email = User.objects.normalize_email(email).lower() if email else None
    if email:
        _refuser_email_existant(acteur, email)
    cabinet_id = acteur.cabinet_id if acteur.role in STAFF_ROLES else None
    try:
        with transaction.atomic():
            patient = _enregistrer(email, first_name, last_name, telephone, cabinet_id)
            journal.changement(acteur=acteur, action=journal.Action.CREATION,
                               objet_type=journal.TypeObjet.PATIENT, objet_id=patient.pk, patient_id=patient.pk)
            return patient
    except IntegrityError:  # a concurrent record or sign-up with that e-mail
        if email:
            _refuser_email_existant(acteur, email)
        raise


def _enregistrer(email: str | None, first_name: str, last_name: str, telephone: str,
                 cabinet_id: int | None) -> User:
    # make_password(None): an unusable password (nothing slow to hash).
    patient = User(email=email, password=make_password(None), first_name=first_name, last_name=last_name,
                   telephone=telephone, role=Role.PATIENT, cree_par_cabinet_id=cabinet_id)
    patient.full_clean(exclude=["password"], validate_unique=False)
    patient.save()
    return patient


def _refuser_email_existant(acteur: User, email: str) -> None:
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        return
    if existing.role != Role.PATIENT:
        raise Conflit("Cette adresse e-mail appartient à un compte qui n'est pas un patient",
                      code="email_exists")
    marquer_connu(acteur, existing.pk)
    raise Conflit("Un patient existe déjà avec cette adresse e-mail", code="patient_existant",
                  details={"patient": existing.pk})
