"""Account requests under an entity and the Referent's management of its members."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select

from dinamis.accounts import service as accounts
from dinamis.accounts.models import EntityRole, User, UserStatus
from dinamis.core.boundary import PG_INTEGER_MAX
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, NotFound, ServiceError
from dinamis.core.mail import queue_mail
from dinamis.core.web import external_url
from dinamis.extensions import db
from dinamis.membership import audit, tokens
from dinamis.membership.models import AccountRequest, AccountStatus, Entity, EntityStatus
from dinamis.membership.permissions import can_manage_members, can_name_deputies
from dinamis.membership.service import professional_email

PURPOSE = "account-email"


def search_entities(text: str, limit: int = 20) -> list[Entity]:
    """Active entities whose name or acronym contains `text` (as typed: `%` and `_` are
    characters, not LIKE wildcards)."""
    text = text.strip()[:100]
    return list(
        db.session.scalars(
            select(Entity)
            .where(
                Entity.status == EntityStatus.ACTIVE,
                or_(
                    Entity.name.icontains(text, autoescape=True),
                    Entity.acronym.icontains(text, autoescape=True),
                ),
            )
            .order_by(Entity.name)
            .limit(limit)
        )
    )


def check_account_request(
    *, email: str, first_name: str, last_name: str, entity_id: int | None
) -> dict[str, str]:
    """Every field's problem at once (field name -> what to fix); empty when all are right."""
    errors: dict[str, str] = {}
    try:
        professional_email(email)
    except ServiceError as error:
        errors.update(error.fields)
    in_range = entity_id is not None and 0 < entity_id <= PG_INTEGER_MAX
    entity = db.session.get(Entity, entity_id) if in_range else None
    if not entity_id:
        errors["entity"] = _("Search for your entity and pick it in the list.")
    elif entity is None:
        errors["entity"] = _("This entity does not exist: search for it again and pick it.")
    elif entity.status != EntityStatus.ACTIVE:
        errors["entity"] = _(
            "%(name)s cannot accept new members at the moment (membership %(status)s).",
            name=entity.name,
            status=entity.status,
        )
    if not first_name.strip():
        errors["first_name"] = _("Give your first name.")
    if not last_name.strip():
        errors["last_name"] = _("Give your last name.")
    return errors


def request_account(
    *, email: str, first_name: str, last_name: str, job_title: str, entity_id: int, language: str
) -> AccountRequest | None:
    """Ask to join an active entity; a link confirms the address first.

    None when the address already has an account or a waiting request: the caller
    answers exactly as for a new request, and the address's owner is told by e-mail.
    """
    errors = check_account_request(
        email=email, first_name=first_name, last_name=last_name, entity_id=entity_id
    )
    entity = db.session.get(Entity, entity_id) if 0 < entity_id <= PG_INTEGER_MAX else None
    if errors:
        # The status says the gravest: no such entity, then one that cannot take members.
        refusal = NotFound if entity_id and entity is None else ServiceError
        if entity is not None and entity.status != EntityStatus.ACTIVE:
            refusal = Conflict
        raise refusal(_("Some fields need your attention."), fields=errors)
    assert entity is not None
    email = professional_email(email)
    # An address that already has an account, or a request waiting, gets the same
    # answer as a new one (no account enumeration); only its owner learns why, by e-mail.
    existing = accounts.get_user_by_email(email)
    if existing is not None:
        accounts.mail_user(
            existing,
            "account_exists",
            entity=entity,
            login_link=external_url("accounts.login"),
            reset_link=external_url("accounts.forgot_password"),
        )
        return None
    duplicate = db.session.scalar(
        select(AccountRequest).where(
            AccountRequest.email == email,
            AccountRequest.status.in_((AccountStatus.EMAIL_TO_CONFIRM, AccountStatus.PENDING)),
        )
    )
    if duplicate is not None:
        if duplicate.status == AccountStatus.EMAIL_TO_CONFIRM:
            _mail_confirmation(duplicate)  # the first link may have been lost
        else:
            queue_mail(
                email, "account_request_waiting", language=language, account_request=duplicate
            )
        return None
    account_request = AccountRequest(
        entity_id=entity.id,
        email=email,
        first_name=first_name.strip()[:100],
        last_name=last_name.strip()[:100],
        job_title=job_title.strip()[:200] or None,
        language=language,
        domain_verified=email.rsplit("@", 1)[1] in (entity.email_domains or []),
    )
    db.session.add(account_request)
    db.session.flush()
    _mail_confirmation(account_request)
    return account_request


def _mail_applicant(account_request: AccountRequest, template: str, **context: Any) -> None:
    """Mail the person asking for an account (they have none yet), in their language."""
    queue_mail(
        account_request.email,
        template,
        language=account_request.language,
        account_request=account_request,
        **context,
    )


def _mail_confirmation(account_request: AccountRequest) -> None:
    _mail_applicant(
        account_request,
        "account_confirm",
        link=external_url(
            "membership.confirm_account",
            token=tokens.make(PURPOSE, account_request.id, account_request.status),
        ),
    )


def confirm_account_email(token: str) -> AccountRequest:
    """The person confirms their address; the Referent and deputies are told."""
    data = tokens.read(PURPOSE, token, max_age=3 * tokens.DAY)
    account_request = db.session.get(AccountRequest, data["id"])
    if account_request is None:
        raise NotFound(_("This request no longer exists."))
    tokens.check_state(data, account_request.status)
    account_request.status = AccountStatus.PENDING
    db.session.flush()
    mail_managers(account_request.entity_id, "account_pending", account_request=account_request)
    return account_request


def managers(entity_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(
                User.entity_id == entity_id,
                User.entity_role.in_((EntityRole.REFERENT, EntityRole.DEPUTY)),
                User.status == UserStatus.ACTIVE,
            )
        )
    )


def mail_managers(entity_id: int, template: str, **context: object) -> None:
    """Mail the entity's Referent and deputies, each in their language, with the link
    to the Referent's space."""
    for manager in managers(entity_id):
        accounts.mail_user(manager, template, link=external_url("referent.entity_space"), **context)


def pending_requests(entity_id: int) -> list[AccountRequest]:
    return list(
        db.session.scalars(
            select(AccountRequest)
            .where(
                AccountRequest.entity_id == entity_id,
                AccountRequest.status == AccountStatus.PENDING,
            )
            .order_by(AccountRequest.id)
        )
    )


def decide(
    actor: User, account_request: AccountRequest, approve: bool, reason: str = ""
) -> User | None:
    """The Referent (or a deputy) approves the account or refuses it with a reason."""
    if not can_manage_members(actor, account_request.entity_id):
        raise Forbidden(_("Only the entity's Referent or a deputy decides on its accounts."))
    if account_request.email == actor.email:
        raise Forbidden(_("You cannot decide on your own request."))
    if account_request.status != AccountStatus.PENDING:
        raise Conflict(_("This request was already decided or is not confirmed yet."))
    account_request.decided_by_id, account_request.decided_at = actor.id, utcnow()
    if not approve:
        if not reason.strip():
            raise ServiceError(
                _("Give the reason for the refusal."), fields={"reason": _("Required.")}
            )
        account_request.status, account_request.reason = AccountStatus.REFUSED, reason.strip()
        db.session.flush()
        audit.record(
            actor,
            "account.refused",
            account_request,
            entity_id=account_request.entity_id,
            reason=account_request.reason,
        )
        _mail_applicant(account_request, "account_refused")
        return None
    user = accounts.create_user(
        email=account_request.email,
        first_name=account_request.first_name,
        last_name=account_request.last_name,
        password=None,
        entity=account_request.entity,
        language=account_request.language,
    )
    account_request.status, account_request.user_id = AccountStatus.APPROVED, user.id
    db.session.flush()
    audit.record(
        actor,
        "account.approved",
        account_request,
        entity_id=account_request.entity_id,
        user=user.email,
    )
    accounts.mail_user(
        user,
        "account_approved",
        account_request=account_request,
        link=external_url("accounts.reset_password", token=accounts.make_reset_token(user)),
    )
    return user


def members(entity_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.entity_id == entity_id)
            .order_by(User.last_name, User.first_name)
        )
    )


def _member(actor: User, user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("This member does not exist."))
    if not can_manage_members(actor, user.entity_id or -1):
        raise Forbidden(_("This person is not a member of your entity."))
    if user.id == actor.id:
        raise Forbidden(_("You cannot change your own account here."))
    if user.is_referent:
        raise Forbidden(_("The Referent's account is changed by handing the role over."))
    return user


def set_status(actor: User, user_id: int, status: str, reason: str) -> User:
    """Suspend, reactivate or remove a member (their history stays)."""
    if status not in (UserStatus.SUSPENDED, UserStatus.ACTIVE, UserStatus.REMOVED):
        raise ServiceError(_("Unknown status."))
    user = _member(actor, user_id)
    if user.status == UserStatus.REMOVED:
        raise Conflict(_("This member was removed."))
    if status != UserStatus.ACTIVE and not reason.strip():
        raise ServiceError(_("Give the reason."), fields={"reason": _("Required.")})
    user.status = status
    if status != UserStatus.ACTIVE:
        accounts.end_sessions(user)  # signs them out everywhere
        if user.entity_role == EntityRole.DEPUTY:
            user.entity_role = EntityRole.MEMBER
    db.session.flush()
    audit.record(
        actor, f"member.{status}", user, entity_id=user.entity_id, reason=reason.strip() or None
    )
    return user


def set_deputy(actor: User, user_id: int, deputy: bool) -> User:
    """The Referent names or removes a deputy."""
    user = _member(actor, user_id)
    if not can_name_deputies(actor, user.entity_id or -1):
        raise Forbidden(_("Only the Referent names deputies."))
    if user.status != UserStatus.ACTIVE:
        raise Conflict(_("Only an active member can be a deputy."))
    user.entity_role = EntityRole.DEPUTY if deputy else EntityRole.MEMBER
    db.session.flush()
    audit.record(
        actor, "member.deputy" if deputy else "member.not_deputy", user, entity_id=user.entity_id
    )
    return user
