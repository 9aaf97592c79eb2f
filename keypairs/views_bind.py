"""The bind page: a developer binds their key pair to the instances their access rules allow.

GET shows the key pair's region as BCC lists it (``keypairs.bcc_instances``, one cached walk):
the instances the person's rules allow, ``PAGE_SIZE`` a page (``?page=``) with a name/id filter
(``?q=``) and the counts, grouped by rule, each with the key pair it holds now (whose it is,
from the portal's records: one query for the rows shown), and the instances no rule of theirs
covers, summarised by the rule that would be needed (a few named, the rest counted). POST hands the ticked ids to
``keypairs.services.bind_under_rules``, which checks them again against the rules and BCC's
state of that moment, and shows each instance's outcome. Unbinding (POST ``.../unbind/``) is
always allowed to the owner: taking access away needs no rule.

Like every key pair page: developers only, and another person's key pair is a 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from keypairs import access_policy, selectors, services
from keypairs.access_policy import Choice
from keypairs.audit import origin_of
from keypairs.bcc.models import Instance
from keypairs.bcc_instances import instances_in_region, status_label
from keypairs.forms_bind import InstanceUnbindForm, KeyPairBindForm
from keypairs.models import AccessRule, KeyPairRequest
from keypairs.services.bind_under_rules import describe_duration, keypair_bind_under_rules
from keypairs.services.binding import keypair_unbind
from portal.auth.decorators import developer_required

UNBIND_PURPOSE = "removed by the owner on the bind page"
# Instances named under each "no rule" sentence; the rest are counted (a region may hold thousands).
NAMED_PER_REFUSAL = 10
# Instances the person may bind, shown per page (with a name/id filter): a region may allow thousands,
# and rendering them all made the page 40-75 times the detail page (docs/benchmarks.md, section 11).
PAGE_SIZE = 100


@dataclass(frozen=True)
class Row:
    """One instance on the page: what BCC says of it, the rule's verdict, whose key pair it holds."""

    instance: Instance
    choice: Choice
    holder: str
    held_by_another: bool
    held_by_this: bool
    status: str = ""  # BCC's state in the reader's language (``bcc_instances.status_label``)


@developer_required
@never_cache
@require_http_methods(["GET", "POST"])
def keypair_bind(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    keypair_request = selectors.keypair_request_of(user=request.user, public_id=public_id)
    if request.method == "GET":
        return _render_bind(request, keypair_request, KeyPairBindForm())
    form = KeyPairBindForm(request.POST)
    if not form.is_valid():
        return _render_bind(request, keypair_request, form, status=400)
    try:
        result = keypair_bind_under_rules(
            actor=request.user,
            keypair_request=keypair_request,
            instance_ids=form.cleaned_data["instance"],
            duration=form.duration,
            confirm_replace=form.cleaned_data["confirm_replace"],
            reason=form.cleaned_data["reason"],
            origin=origin_of(request),
        )
    except services.ServiceError as failure:
        form.add_error(None, failure.message)
        return _render_bind(request, keypair_request, form, status=failure.http_status)
    context = {"kp": keypair_request, "result": result, "key_file": f"{keypair_request.name}.pem"}
    return render(request, "keypairs/bind_result.html", context)


@developer_required
@never_cache
@require_POST
def keypair_unbind_instance(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    keypair_request = selectors.keypair_request_of(user=request.user, public_id=public_id)
    form = InstanceUnbindForm(request.POST)
    if not form.is_valid():
        return _render_bind(request, keypair_request, KeyPairBindForm(), error=form.errors["instance"][0], status=400)
    instance_id = form.cleaned_data["instance"]
    try:
        result = keypair_unbind(
            actor=request.user,
            keypair_request=keypair_request,
            instance_ids=[instance_id],
            origin=origin_of(request),
            why=UNBIND_PURPOSE,
        )
    except services.ServiceError as failure:
        status = failure.http_status
        return _render_bind(request, keypair_request, KeyPairBindForm(), error=failure.message, status=status)
    if result.failed:
        message = _("BCC did not unbind the key pair from %(instance)s; it still signs in there.") % {
            "instance": instance_id
        }
        return _render_bind(request, keypair_request, KeyPairBindForm(), error=message, status=502)
    notice = _("The key pair no longer signs in to %(instance)s.") % {"instance": instance_id}
    # The cached list still shows the binding just removed: read it afresh for this page.
    return _render_bind(request, keypair_request, KeyPairBindForm(), notice=notice, fresh=True)


def _render_bind(request, keypair_request, form, *, error="", notice="", status=200, fresh=False):
    live = keypair_request.status == KeyPairRequest.Status.CREATED and bool(keypair_request.keypair_id)
    # The ids ticked in a form shown again, read once (not once per row of the page).
    chosen = set(form.data.getlist("instance")) if form.is_bound else set()
    context = {"kp": keypair_request, "form": form, "live": live, "error": error, "notice": notice, "chosen": chosen}
    if live:
        query = request.GET.get("q", "").strip()[:100]
        page = _page_number(request.GET.get("page"))
        context.update(_page_of_instances(request.user, keypair_request, fresh=fresh, query=query, page=page))
    return render(request, "keypairs/bind.html", context, status=status)


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except ValueError:  # a page number edited into words: the first page
        return 1


def _page_of_instances(user, keypair_request: KeyPairRequest, *, fresh: bool, query: str = "", page: int = 1) -> dict:
    region = keypair_request.region
    listed = instances_in_region(region=region, fresh=fresh)
    groups = access_policy.groups_of(user)
    if not listed.reached:
        return {"unreachable": listed.unreachable_sentence, "groups": sorted(groups)}
    choices = access_policy.choices_for(groups=groups, region=region, instances=listed.instances)
    allowed = sorted((c for c in choices if c.allowed), key=lambda c: c.rule.name)  # stable: BCC's order per rule
    wanted = query.lower()
    matching = [c for c in allowed if not wanted or wanted in f"{c.instance.name}\n{c.instance.instance_id}".lower()]
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(page, pages)
    shown = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    bound = [c for c in choices if c.instance.keypair_id and c.instance.keypair_id == keypair_request.keypair_id]
    # Whose key pair each instance holds: asked only for the rows shown (one query).
    holders = selectors.keypair_holders(
        region=region, keypair_ids={c.instance.keypair_id for c in shown if c.instance.keypair_id}
    )
    rows = [_row(choice, keypair_request, user, holders) for choice in shown]
    by_rule: dict[AccessRule, list[Row]] = {}
    for row in rows:
        by_rule.setdefault(row.choice.rule, []).append(row)
    selectable_rules = {c.rule for c in allowed if c.selectable}
    return {
        "groups": sorted(groups),
        "read_at": listed.read_at,
        "by_rule": [(rule, _limit(rule), rule_rows) for rule, rule_rows in by_rule.items()],
        "allowed_total": len(allowed),
        "matching_total": len(matching),
        "query": query,
        "page": page,
        "pages": pages,
        "first_shown": (page - 1) * PAGE_SIZE + 1 if shown else 0,
        "last_shown": (page - 1) * PAGE_SIZE + len(shown),
        "not_covered": _by_refusal(c for c in choices if not c.allowed),
        "bound_here": bound,
        "asks_confirmation": any(r.held_by_another and r.choice.selectable for r in rows),
        "asks_duration": any(rule.max_duration for rule in selectable_rules),
        "asks_reason": any(rule.requires_approval for rule in selectable_rules),
        "anything_selectable": any(r.choice.selectable and not r.held_by_this for r in rows),
    }


def _by_refusal(choices) -> list[tuple[str, list[Choice], int]]:
    """Instances no rule covers, grouped by the rule that would be needed: its sentence, a few, how many more."""
    groups: dict[str, list[Choice]] = {}
    for choice in choices:
        groups.setdefault(choice.refusal, []).append(choice)
    return [(sentence, found[:NAMED_PER_REFUSAL], len(found) - NAMED_PER_REFUSAL) for sentence, found in groups.items()]


def _limit(rule: AccessRule) -> str:
    return describe_duration(rule.max_duration) if rule.max_duration else ""


def _row(choice: Choice, keypair_request: KeyPairRequest, user, holders: dict[str, KeyPairRequest]) -> Row:
    held = choice.instance.keypair_id or ""
    status = status_label(choice.instance.status)
    if not held:
        return Row(choice.instance, choice, _("none"), held_by_another=False, held_by_this=False, status=status)
    if held == keypair_request.keypair_id:
        return Row(choice.instance, choice, _("this key pair"), held_by_another=False, held_by_this=True, status=status)
    record = holders.get(held)
    if record is None:
        name = choice.instance.keypair_name or held
        holder = _("made outside the portal: %(name)s") % {"name": name}
    elif record.owner_id == user.pk:
        holder = _("yours: %(name)s") % {"name": record.name}
    else:
        holder = _("someone else's: %(owner)s (%(name)s)") % {"owner": record.owner.get_username(), "name": record.name}
    return Row(choice.instance, choice, holder, held_by_another=True, held_by_this=False, status=status)
