"""Phone numbers: E.164 at input time (``phonenumbers``), GSM-7 texts for one SMS segment."""

from __future__ import annotations

import unicodedata

import phonenumbers
from django.conf import settings

from medical_booking.errors import DomainError

# GSM 03.38: the basic set costs one septet, the extension table two (escape + char).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")
SEGMENT_GSM7 = 160


def septets(text: str) -> int | None:
    """Length in GSM-7 septets, or None if the text needs UCS-2 (70 characters a segment)."""
    total = 0
    for char in text:
        if char in GSM7_BASIC:
            total += 1
        elif char in GSM7_EXTENSION:
            total += 2
        else:
            return None
    return total


# Common French characters outside GSM-7, and typographic ones, before the generic fallback.
_REMPLACEMENTS = {"’": "'", "‘": "'", "«": '"', "»": '"', "–": "-", "—": "-", "…": "...",
                  "\u00a0": " ", "\u202f": " ", "œ": "oe", "Œ": "OE"}


def vers_gsm7(text: str) -> str:
    """The text in GSM-7 only: ê → e, ç → c, ’ → ' ...; what has no equivalent becomes '?'.

    One character outside GSM-7 would switch the whole SMS to UCS-2 (70 characters a
    segment instead of 160)."""
    out = []
    for char in text:
        if char in GSM7_BASIC or char in GSM7_EXTENSION:
            out.append(char)
            continue
        if char in _REMPLACEMENTS:
            out.append(_REMPLACEMENTS[char])
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
        out.append(base if base and all(c in GSM7_BASIC for c in base) else "?")
    return "".join(out)


def un_segment(*parties: str) -> str:
    """The parts joined by spaces, in GSM-7, within one segment: trailing parts are dropped
    (then the last kept one is cut) until it fits."""
    parties = [vers_gsm7(p.strip()) for p in parties if p and p.strip()]
    while parties:
        text = " ".join(parties)
        if septets(text) <= SEGMENT_GSM7:
            return text
        if len(parties) == 1:
            while septets(text + "...") > SEGMENT_GSM7:
                text = text[:-1]
            return text.rstrip() + "..."
        parties.pop()
    return ""


class TelephoneInvalide(ValueError):
    pass


_RAISONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "Numéro invalide : indicatif de pays inconnu.",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "Numéro invalide : ce n'est pas un numéro de téléphone.",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "Numéro invalide : trop court.",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "Numéro invalide : trop court.",
    phonenumbers.NumberParseException.TOO_LONG: "Numéro invalide : trop long.",
}


def normaliser(numero: str, region: str | None = None) -> str:
    """A phone number as typed (``06 12 34 56 78``, ``+33 6...``) in E.164 (``+33612345678``);
    empty stays empty. Raises ``TelephoneInvalide``."""
    numero = (numero or "").strip()
    if not numero:
        return ""
    try:
        parsed = phonenumbers.parse(numero, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        # phonenumbers' own text is English: the reason in French (shown under the field).
        raise TelephoneInvalide(_RAISONS.get(exc.error_type, "Numéro invalide.")) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise TelephoneInvalide("Numéro invalide : ce numéro n'existe pas.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mobile(numero: str) -> str | None:
    """The number in E.164 if it can receive an SMS (a mobile), else None."""
    try:
        e164 = normaliser(numero)
    except TelephoneInvalide:
        return None
    if not e164:
        return None
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    if kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return e164
    return None


def telephone_saisi(numero: str) -> str:
    """A number typed in a form or an API body: E.164, or a 400 ``telephone_invalide``."""
    try:
        return normaliser(numero)
    except TelephoneInvalide as exc:
        raise DomainError(
            "Numéro de téléphone invalide : indiquez un numéro complet (ex. 06 12 34 56 78 ou +33 6 12 34 56 78)",
            code="telephone_invalide", details={"telephone": [str(exc)]},
        ) from exc
