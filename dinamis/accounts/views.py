"""Sign-in, password reset, profile page and API tokens."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from dinamis import config
from dinamis.accounts import devices, service
from dinamis.accounts.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    PostForm,
    ProfileForm,
    ResetPasswordForm,
    TokenForm,
)
from dinamis.accounts.permissions import (
    can_change_own_password,
    can_manage_own_tokens,
    can_view_own_profile,
    is_signed_in,
)
from dinamis.catalogue import service as catalogue
from dinamis.catalogue.views import current_visit
from dinamis.core.errors import ServiceError
from dinamis.core.permissions import current_account, public, requires
from dinamis.core.web import redirect_next, submit
from dinamis.extensions import limiter

bp = Blueprint("accounts", __name__)


def _login_limit() -> str:
    return config.current().login_rate_limit


def _login_email_key() -> str:
    """Failed sign-ins are counted per account, except from a browser its owner uses,
    which has its own count: failing on purpose cannot lock the owner out."""
    email = (request.form.get("email") or "").strip().lower()[:254]
    device = devices.known_device(email)
    return f"login-device:{device}" if device else f"login:{email}"


def _failed(response: Response) -> bool:
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_email_key, deduct_when=_failed)
def login() -> Any:
    if is_signed_in(current_user):
        return redirect_next()
    form = LoginForm()
    if form.validate_on_submit():
        user = service.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            picked = current_visit().basket  # the visitor's basket joins the account's
            session.clear()  # a fresh session on sign-in (session fixation)
            login_user(user)
            catalogue.keep_visit_basket(user, picked)
            session["lang"] = user.language
            session.permanent = True
            flash(_("You are signed in."), "success")
            response = redirect_next()
            devices.remember(response, user.email)
            return response
        flash(_("Wrong e-mail or password."), "error")
        return render_template("accounts/login.html", form=form), 401
    status = 422 if request.method == "POST" else 200
    return render_template("accounts/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@public
def logout() -> Any:
    form = PostForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if is_signed_in(user):
            # Server-side: a copy of this cookie, or another device's, no longer signs in.
            service.end_sessions(user)
        logout_user()
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        flash(_("You are signed out."), "success")
    return redirect(url_for("core.home"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
def forgot_password() -> Any:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        service.request_password_reset(form.email.data or "")
        # The same answer whether or not the address has an account.
        flash(
            _(
                "If an active account has this address, a link to choose a new "
                "password has been sent to it."
            ),
            "success",
        )
        return redirect(url_for("accounts.login"))
    status = 422 if request.method == "POST" else 200
    return render_template("accounts/forgot_password.html", form=form), status


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
def reset_password(token: str) -> Any:
    try:
        service.user_for_reset_token(token)
    except ServiceError as error:
        return render_template("accounts/reset_invalid.html", message=error.message), 400
    form = ResetPasswordForm()

    def reset() -> Any:
        user = service.reset_password(token, form.password.data or "")
        logout_user()
        flash(_("Your password has been changed. You can now sign in."), "success")
        response = redirect(url_for("accounts.login"))
        # The reset link proved the mailbox: this browser is its owner's.
        devices.remember(response, user.email)
        return response

    return submit(
        form,
        reset,
        lambda status: (render_template("accounts/reset_password.html", form=form), status),
    )


def _profile_page(status: int = 200, **forms: Any) -> Any:
    user = current_account()
    forms.setdefault(
        "profile_form",
        ProfileForm(
            formdata=None,
            first_name=user.first_name,
            last_name=user.last_name,
            language=user.language,
        ),
    )
    settings = config.current()
    forms.setdefault("token_form", TokenForm(formdata=None, days=settings.token_default_days))
    forms.setdefault("password_form", ChangePasswordForm(formdata=None))
    return (
        render_template(
            "accounts/profile.html",
            user=user,
            tokens=user.tokens,
            token_max_days=settings.token_max_days,
            post_form=PostForm(),
            **forms,
        ),
        status,
    )


@bp.route("/account", methods=["GET", "POST"])
@requires(can_view_own_profile)
def profile() -> Any:
    if request.method == "GET":
        return _profile_page()
    form = ProfileForm()
    if form.validate_on_submit():
        user = current_account()
        service.update_profile(
            user,
            first_name=form.first_name.data or "",
            last_name=form.last_name.data or "",
            language=form.language.data or "fr",
        )
        session["lang"] = user.language
        flash(_("Your profile has been saved."), "success")
        return redirect(url_for("accounts.profile"))
    return _profile_page(422, profile_form=form)


@bp.route("/account/password", methods=["POST"])
@requires(can_change_own_password)
def change_password() -> Any:
    form = ChangePasswordForm()

    def change() -> Any:
        user = current_account()
        service.change_password(user, form.current_password.data or "", form.password.data or "")
        # Keep this session: the session token rotated with the password.
        login_user(user)
        flash(_("Your password has been changed."), "success")
        return redirect(url_for("accounts.profile"))

    return submit(form, change, lambda status: _profile_page(status, password_form=form))


@bp.route("/account/tokens", methods=["POST"])
@requires(can_manage_own_tokens)
def create_token() -> Any:
    form = TokenForm()

    def create() -> Any:
        _token, clear = service.create_api_token(
            current_account(), form.name.data or "", form.days.data
        )
        # Shown once, in this answer; never stored in clear anywhere.
        flash(_("Token created. Copy it now: it will not be shown again."), "success")
        return _profile_page(200, new_token=clear)

    return submit(form, create, lambda status: _profile_page(status, token_form=form))


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@requires(can_manage_own_tokens)
def revoke_token(token_id: int) -> Any:
    form = PostForm()
    if not form.validate_on_submit():
        return _profile_page(400)
    service.revoke_api_token(current_account(), token_id)
    flash(_("Token revoked."), "success")
    return redirect(url_for("accounts.profile") + "#tokens")
