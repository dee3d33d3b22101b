"""Checks on what applicants type: SIRET numbers and professional e-mail addresses."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from dinamis.core.errors import ServiceError
from dinamis.core.validation import normalise_email_address

LA_POSTE_SIREN = "356000000"


def siret_is_valid(value: str) -> bool:
    """A SIRET is 14 digits passing the Luhn check (La Poste's establishments: digit sum % 5)."""
    digits = value.replace(" ", "")
    if len(digits) != 14 or not digits.isdigit():
        return False
    if digits.startswith(LA_POSTE_SIREN) and digits != LA_POSTE_SIREN + "00048":
        return sum(int(d) for d in digits) % 5 == 0
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = int(char)
        if index % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def professional_email(value: str, field: str = "email") -> str:
    """The normalised address, refused when malformed or on a free webmail domain."""
    try:
        email = normalise_email_address(value)
    except ValueError:
        raise ServiceError(
            _("This is not a valid e-mail address."), fields={field: _("Not an e-mail address.")}
        ) from None
    domain = email.rsplit("@", 1)[1]
    if domain in current_app.config["DINAMIS_SETTINGS"].webmail_domains:
        raise ServiceError(
            _(
                "Use your professional e-mail address: addresses at %(domain)s are not accepted.",
                domain=domain,
            ),
            fields={field: _("Professional address needed.")},
        )
    return email
