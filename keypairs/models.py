"""The portal's records: create attempts, one-time private key deliveries, and the audit log.

- ``KeyPairRequest``: one create attempt. The intent is saved before BCC is called, so that an
  attempt whose outcome is unknown (timeout, crash) is never lost and can be reconciled.
- ``Delivery``: the private key waiting for its single download, as AES-GCM ciphertext only;
  see ``keypairs/delivery_crypto.py`` for why a copy of the database reveals no private key.
- ``AuditEvent``: append-only, HMAC-chained log; written only by ``keypairs.audit.audit_record``.
- ``AuditChainHead``: one row, locked by every append so that concurrent writers cannot fork
  the chain, and remembering the newest hash so that truncating the log is detected.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class KeyPairRequest(models.Model):
    """One key pair the portal made or imported: the intent recorded before BCC is called, its outcome, its end.

    ``kind`` says how it came to be: created in BCC (BCC made the private key; the portal hands
    it out once) or imported (the developer's own public key; no private key ever passed through
    the portal). ``status`` follows it through its life: ``created`` covers both once BCC holds
    the key pair, and ``deleted`` is its end (through the portal, or found gone from BCC).
    """

    class Kind(models.TextChoices):
        CREATE = "create", _("Created in BCC")
        IMPORT = "import", _("Imported public key")
        # Made outside the portal (console, script, before the portal), found by the inventory
        # sync and assigned to a person by a portal admin: no private key passed through the portal.
        ASSIGNED = "assigned", _("Found in BCC, assigned")

    class FlagReason(models.TextChoices):
        OWNER_LEFT = "owner_left", _("Owner left")
        EXPIRED = "expired", _("Older than the maximum age")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        CREATED = "created", pgettext_lazy("key pair status", "Created")
        FAILED = "failed", _("Failed")
        UNKNOWN = "unknown", _("Outcome unknown")
        RECONCILED = "reconciled", _("Reconciled")
        DELETED = "deleted", _("Deleted")

    public_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="keypair_requests")
    # Hash of the create form's one-time token: a resubmitted form finds its request instead of
    # creating another. The token itself is never stored (the download token derives from it).
    form_token_hash = models.CharField(max_length=64, unique=True)
    client_token = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CREATE)
    region = models.CharField(max_length=16)
    name = models.CharField(max_length=65)
    description = models.CharField(max_length=140, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    keypair_id = models.CharField(max_length=64, blank=True)
    public_key = models.TextField(blank=True)
    fingerprint_bcc = models.CharField(max_length=128, blank=True)
    fingerprint_sha256 = models.CharField(max_length=64, blank=True)
    bcc_created_at = models.DateTimeField(null=True, blank=True)
    bcc_request_id = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # When the key pair ended: deleted through the portal, or found deleted outside it.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Flagged by a policy (owner left, too old) for a person to decide; cleared when decided.
    flagged_at = models.DateTimeField(null=True, blank=True)
    flag_reason = models.CharField(max_length=16, choices=FlagReason.choices, blank=True)
    # The smallest "days before expiry" reminder already mailed: each reminder is sent once.
    expiry_reminder_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = (
            models.Index(fields=["owner", "-created_at"], name="kpr_owner_created_idx"),
            models.Index(fields=["status", "created_at"], name="kpr_status_created_idx"),
            models.Index(fields=["keypair_id"], name="kpr_keypair_id_idx"),
        )

    def __str__(self) -> str:
        return f"{self.name} ({self.region}, {self.status})"


class Delivery(models.Model):
    """The private key waiting for its one download, as ciphertext only.

    The download token is never stored, only its SHA-256; the ciphertext is wiped (NULL) the
    moment the key is downloaded or the delivery expires.
    """

    class State(models.TextChoices):
        WAITING = "waiting", _("Waiting for download")
        DOWNLOADED = "downloaded", _("Downloaded")
        EXPIRED = "expired", _("Expired")

    request = models.OneToOneField(KeyPairRequest, on_delete=models.CASCADE, related_name="delivery")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deliveries")
    token_hash = models.CharField(max_length=64)
    salt = models.BinaryField()
    nonce = models.BinaryField()
    ciphertext = models.BinaryField(null=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_from = models.GenericIPAddressField(null=True, blank=True)
    claimed_user_agent = models.CharField(max_length=512, blank=True)
    wiped_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = _("deliveries")
        # The purge looks for unclaimed ciphertext past its expiry.
        indexes = (models.Index(fields=["expires_at"], name="delivery_expires_idx"),)

    def __str__(self) -> str:
        # Never the ciphertext, salt, nonce or token hash: reprs end up in logs and tracebacks.
        return f"Delivery {self.pk} ({self.state})"

    def state_at(self, now) -> str:
        if self.claimed_at is not None:
            return self.State.DOWNLOADED
        if self._wiped() or now >= self.expires_at:
            return self.State.EXPIRED
        return self.State.WAITING

    def _wiped(self) -> bool:
        # Every wipe sets wiped_at with the ciphertext, so pages that defer the ciphertext (a
        # listing never needs it) can tell the state without loading it row by row.
        if self.wiped_at is not None:
            return True
        return "ciphertext" not in self.get_deferred_fields() and self.ciphertext is None

    @property
    def state(self) -> str:
        """``"waiting"``, ``"downloaded"`` or ``"expired"``, as of now."""
        return self.state_at(timezone.now())


class AuditLogIsAppendOnly(Exception):
    """Raised by any attempt to change or delete audit events through the ORM."""


APPEND_ONLY_MESSAGE = "The audit log is append-only: audit events cannot be changed or deleted."
INSERT_THROUGH_AUDIT_RECORD_MESSAGE = (
    "Audit events are written only by keypairs.audit.audit_record, which chains and signs them."
)


class AuditEventQuerySet(models.QuerySet):
    """Refuses every bulk write: the chain can only grow through ``audit_record``."""

    def update(self, **kwargs):
        raise AuditLogIsAppendOnly(APPEND_ONLY_MESSAGE)

    def delete(self):
        raise AuditLogIsAppendOnly(APPEND_ONLY_MESSAGE)

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditLogIsAppendOnly(APPEND_ONLY_MESSAGE)

    def bulk_create(self, objs, *args, **kwargs):
        raise AuditLogIsAppendOnly(INSERT_THROUGH_AUDIT_RECORD_MESSAGE)

    def update_or_create(self, *args, **kwargs):
        raise AuditLogIsAppendOnly(APPEND_ONLY_MESSAGE)


class AuditEvent(models.Model):
    """One audited fact. Append-only; ``row_hash`` chains it to the event before it.

    ``detail`` is short human text and never holds a private key, a download token or a
    BCC secret key.
    """

    class Action(models.TextChoices):
        REQUESTED = "requested", _("Create requested")
        CREATED = "created", pgettext_lazy("audit action", "Created")
        FAILED = "failed", _("Failed")
        OUTCOME_UNKNOWN = "outcome_unknown", _("Outcome unknown")
        DOWNLOADED = "downloaded", _("Private key downloaded")
        DOWNLOAD_REFUSED = "download_refused", _("Download refused")
        EXPIRED = "expired", _("Private key expired unread")
        REPORTED = "reported", _("Download reported by owner")
        SIGNED_IN = "signed_in", _("Signed in")
        SIGNED_OUT = "signed_out", _("Signed out")
        SIGN_IN_REFUSED = "sign_in_refused", _("Sign-in refused")
        RECONCILED = "reconciled", _("Reconciled")
        EXPORTED = "exported", _("Audit log exported")
        ACCESS_REFUSED = "access_refused", _("Access refused")
        ROLES_CHANGED = "roles_changed", _("Roles changed")
        CHAIN_HEAD_REBUILT = "chain_head_rebuilt", _("Audit chain head rebuilt")
        CHAIN_PROBLEM_ACKNOWLEDGED = "chain_problem_acknowledged", _("Audit chain problem acknowledged")
        IMPORT_REQUESTED = "import_requested", _("Import requested")
        IMPORTED = "imported", _("Imported")
        IMPORT_FAILED = "import_failed", _("Import failed")
        DELETE_REQUESTED = "delete_requested", _("Delete requested")
        DELETED = "deleted", _("Deleted")
        DELETE_FAILED = "delete_failed", _("Delete failed")
        RENAMED = "renamed", _("Renamed")
        DESCRIPTION_CHANGED = "description_changed", _("Description changed")
        CHANGE_FAILED = "change_failed", _("Change failed")
        CHANGED_OUTSIDE = "changed_outside", _("Changed outside the portal")
        DELETED_OUTSIDE = "deleted_outside", _("Deleted outside the portal")
        FOUND_UNOWNED = "found_unowned", _("Found in BCC, unowned")
        ASSIGNED = "assigned", _("Assigned to a person")
        INVENTORY_SYNCED = "inventory_synced", _("BCC inventory synced")
        PERSON_LEFT = "person_left", _("Person left")
        PERSON_RETURNED = "person_returned", _("Person came back")
        FLAGGED = "flagged", _("Flagged for a decision")
        FLAG_CLEARED = "flag_cleared", _("Flag cleared")
        EXPIRY_REMINDED = "expiry_reminded", _("Expiry reminder mailed")
        MAIL_FAILED = "mail_failed", _("Mail not delivered")
        BIND_REQUESTED = "bind_requested", _("Bind requested")
        BOUND = "bound", pgettext_lazy("audit action", "Bound to instances")
        BIND_FAILED = "bind_failed", _("Bind failed")
        UNBIND_REQUESTED = "unbind_requested", _("Unbind requested")
        UNBOUND = "unbound", _("Unbound from instances")
        UNBIND_FAILED = "unbind_failed", _("Unbind failed")
        REPLACED_ON_INSTANCE = "replaced_on_instance", _("Replaced on an instance by another key pair")
        ACCESS_REQUESTED = "access_requested", _("Access requested")
        ACCESS_APPROVED = "access_approved", _("Access approved")
        ACCESS_DENIED = "access_denied", _("Access denied")
        ACCESS_REQUEST_EXPIRED = "access_request_expired", _("Access request expired")
        ACCESS_WITHDRAWN = "access_withdrawn", _("Access request withdrawn")

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Success")
        FAILURE = "failure", _("Failure")
        DENIED = "denied", _("Denied")
        UNKNOWN = "unknown", _("Unknown")

    # Assigned by audit_record from the chain head, so that the id is known before the
    # insert and can be part of the signed content.
    id = models.BigIntegerField(primary_key=True, editable=False)
    created_at = models.DateTimeField(db_index=True, editable=False)
    actor_username = models.CharField(max_length=150, blank=True, db_index=True)
    # A stable subject id from a future SSO provider; blank for local accounts.
    actor_subject = models.CharField(max_length=255, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, db_index=True)
    # Refusals and reports a security reviewer must look at, whatever their action.
    is_security_event = models.BooleanField(default=False, db_index=True)
    region = models.CharField(max_length=16, blank=True, db_index=True)
    keypair_name = models.CharField(max_length=65, blank=True, db_index=True)
    keypair_id = models.CharField(max_length=64, blank=True, db_index=True)
    bcc_request_id = models.CharField(max_length=64, blank=True, db_index=True)
    bcc_error_code = models.CharField(max_length=64, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    portal_request_id = models.CharField(max_length=64, blank=True, db_index=True)
    detail = models.CharField(max_length=255, blank=True)
    # Indexed, not unique: the head's row lock keeps the portal's own writes linear, and a
    # row inserted with plain SQL claiming the head as its predecessor must not block the next
    # real event (audit_verify reports that row instead).
    prev_hash = models.CharField(max_length=64, db_index=True, editable=False)
    row_hash = models.CharField(max_length=64, unique=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ("-id",)
        get_latest_by = "id"

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.outcome}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogIsAppendOnly(APPEND_ONLY_MESSAGE)
        if not self.row_hash or self.pk is None:
            raise AuditLogIsAppendOnly(INSERT_THROUGH_AUDIT_RECORD_MESSAGE)
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly(APPEND_ONLY_MESSAGE)


class AuditChainHead(models.Model):
    """The single row every append locks: the newest event's id and hash.

    Holding this row's lock for the length of one append serializes writers, so two events
    can never claim the same predecessor. Its ``last_hash`` also lets ``audit_verify`` notice
    that the newest events were deleted, which a hash chain alone cannot show.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    last_event_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = (models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_head_is_singleton"),)

    def __str__(self) -> str:
        return f"Audit chain head at #{self.last_event_id}"


class AuditShipCursor(models.Model):
    """The single row that says how far the audit log has been shipped out (keypairs.audit_shipping).

    ``last_event_id`` is the newest event the receiver accepted; the next run starts after it.
    It moves only after a batch was delivered, so a crash between delivery and the move ships
    that batch again (at least once) and never skips an event. Its row lock is also what keeps
    a second shipper from sending the same batch at the same time.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    last_event_id = models.BigIntegerField(default=0)
    # The number of the newest checkpoint shipped (keypairs.audit_checkpoints).
    checkpoint_sequence = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = (models.CheckConstraint(condition=models.Q(id=1), name="audit_ship_cursor_is_singleton"),)

    def __str__(self) -> str:
        return f"Audit log shipped up to #{self.last_event_id}"


class BccInventoryEntry(models.Model):
    """One key pair in the cloud account as the last ``sync_bcc`` saw it, owned in the portal or not.

    ``record`` is the portal's record of it (made, imported, or assigned by an admin); None means
    **unowned**: made outside the portal. ``gone_at`` is set when a sync no longer finds it.
    """

    region = models.CharField(max_length=16)
    keypair_id = models.CharField(max_length=64)
    name = models.CharField(max_length=65)
    description = models.CharField(max_length=140, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    fingerprint = models.CharField(max_length=128, blank=True)
    bcc_created_at = models.DateTimeField(null=True, blank=True)
    record = models.ForeignKey(
        KeyPairRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="inventory_entries"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("BCC inventory entry")
        verbose_name_plural = _("BCC inventory")
        ordering = ("region", "name")
        constraints = (
            models.UniqueConstraint(fields=["region", "keypair_id"], name="inventory_region_keypair_unique"),
        )
        indexes = (models.Index(fields=["gone_at", "record"], name="inventory_drift_idx"),)

    def __str__(self) -> str:
        return f"{self.name} ({self.region}, {self.keypair_id})"


class Departure(models.Model):
    """A person who left or lost the developer role, and what became of their key pairs.

    One row per person (the latest departure). ``delete_after`` is when the ``delete`` policy may
    delete their key pairs (None under ``flag``); ``returned_at`` is set when they came back
    before that, and their key pairs are kept; ``settled_at`` when the policy was applied.
    """

    class Route(models.TextChoices):
        DEACTIVATED = "deactivated", _("Deactivated in the portal")
        ROLE_LOST = "role_lost", _("Identity provider no longer grants the developer role")
        SIGN_IN_REFUSED = "sign_in_refused", _("Identity provider refused the sign-in")
        OFFBOARDED = "offboarded", "manage.py offboard"

    person = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="departure")
    route = models.CharField(max_length=16, choices=Route.choices)
    left_at = models.DateTimeField(default=timezone.now)
    delete_after = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Departure of user {self.person_id} ({self.route})"


class JobLease(models.Model):
    """Which run of a scheduled command holds its job (``keypairs.single_runner``): one at a time.

    Taken and renewed with conditional UPDATEs, which SQLite and PostgreSQL both make atomic,
    so no transaction is held while the job calls BCC or sends mail.
    """

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class AccessRule(models.Model):
    """Who may bind key pairs to which instances: people of one SSO group, instances of one region
    chosen by tag or name prefix, for at most ``max_duration`` (None: no limit), with or without
    approval. No rule, no binding: the default is deny. Portal admins manage rules in the admin.
    """

    name = models.CharField(max_length=100, unique=True)
    # A value of the SSO groups claim (SSO_ROLES_CLAIM), or a Django group's name for local accounts.
    sso_group = models.CharField(max_length=150)
    region = models.CharField(max_length=16)
    tag_key = models.CharField(max_length=64, blank=True)
    tag_value = models.CharField(max_length=64, blank=True)
    name_prefix = models.CharField(max_length=65, blank=True)
    max_duration = models.DurationField(null=True, blank=True)
    requires_approval = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("region", "name")
        constraints = (
            # A rule always selects: never "every instance of a region" by leaving both empty.
            models.CheckConstraint(
                condition=~models.Q(tag_key="") | ~models.Q(name_prefix=""), name="access_rule_selects_instances"
            ),
        )

    def __str__(self) -> str:
        return self.name


class AccessRequest(models.Model):
    """A developer's request to bind a key pair to instances under a rule that requires approval."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        DENIED = "denied", _("Denied")
        EXPIRED = "expired", _("Expired undecided")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    public_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests")
    keypair_request = models.ForeignKey(KeyPairRequest, on_delete=models.PROTECT, related_name="access_requests")
    rule = models.ForeignKey(AccessRule, null=True, on_delete=models.SET_NULL, related_name="access_requests")
    region = models.CharField(max_length=16)
    instance_ids = models.JSONField(default=list)
    duration = models.DurationField(null=True, blank=True)
    reason = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decide_by = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="access_decisions"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("-created_at",)
        permissions = (("approve_accessrequest", "Can approve or deny access requests"),)
        indexes = (models.Index(fields=["status", "decide_by"], name="access_request_open_idx"),)

    def __str__(self) -> str:
        return f"Access request {self.public_id} ({self.status})"

    @property
    def duration_hours(self) -> int | None:
        """The duration asked for, in whole hours (the form asks in hours); None when unlimited."""
        return None if self.duration is None else round(self.duration.total_seconds() / 3600)


class InstanceBinding(models.Model):
    """A key pair the portal bound to an instance, until it was unbound or replaced there.

    ``expires_at``: a time-limited binding, unbound by ``manage.py expire_access`` when it ends.
    ``unbind_attempts`` and ``last_error``: an unbind BCC refused or never answered is retried,
    and shown on an admin page meanwhile, never dropped.
    """

    class State(models.TextChoices):
        BOUND = "bound", _("Bound")
        UNBOUND = "unbound", _("Unbound")
        REPLACED = "replaced", _("Replaced by another key pair")

    keypair_request = models.ForeignKey(KeyPairRequest, on_delete=models.PROTECT, related_name="bindings")
    region = models.CharField(max_length=16)
    instance_id = models.CharField(max_length=64)
    instance_name = models.CharField(max_length=128, blank=True)
    rule = models.ForeignKey(AccessRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="bindings")
    access_request = models.ForeignKey(
        AccessRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="bindings"
    )
    bound_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="bindings_made"
    )
    bound_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The key pair BCC held on the instance before this binding replaced it ("" when none).
    replaced_keypair_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.BOUND)
    ended_at = models.DateTimeField(null=True, blank=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)
    unbind_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ("-bound_at",)
        indexes = (
            models.Index(fields=["state", "expires_at"], name="binding_expiry_idx"),
            models.Index(fields=["region", "instance_id", "state"], name="binding_instance_idx"),
        )

    def __str__(self) -> str:
        return f"{self.keypair_request_id} on {self.instance_id} ({self.state})"


# --- Labels the admin shows, in the reader's language -----------------------------------------
#
# Set on the fields and models after the classes, not as ``verbose_name`` arguments: an explicit
# ``verbose_name`` is part of a field's (and a model's Meta) migration state, so writing the same
# English name as an argument would need a migration that changes nothing in the database. Here
# each keeps its English name (Django's default, from the field's name) and the admin reads the
# translation. ``_verbose_name`` (what migrations read) stays unset.

_MODEL_NAMES = {
    KeyPairRequest: (_("key pair request"), _("key pair requests")),
    AuditEvent: (_("audit event"), _("audit events")),
    AccessRule: (_("access rule"), _("access rules")),
    AccessRequest: (_("access request"), _("access requests")),
    InstanceBinding: (_("instance binding"), _("instance bindings")),
}

_FIELD_NAMES = {
    KeyPairRequest: {
        "public_id": _("public id"),
        "owner": _("owner"),
        "form_token_hash": _("form token hash"),
        "client_token": _("client token"),
        "kind": _("kind"),
        "region": _("region"),
        "name": _("name"),
        "description": _("description"),
        "status": _("status"),
        "keypair_id": _("keypair id"),
        "public_key": _("public key"),
        "fingerprint_bcc": _("fingerprint bcc"),
        "fingerprint_sha256": _("fingerprint sha256"),
        "bcc_created_at": _("bcc created at"),
        "bcc_request_id": _("bcc request id"),
        "error_code": _("error code"),
        "error_message": _("error message"),
        "created_at": _("created at"),
        "completed_at": _("completed at"),
        "deleted_at": _("deleted at"),
        "flagged_at": _("flagged at"),
        "flag_reason": _("flag reason"),
        "expiry_reminder_days": _("expiry reminder days"),
    },
    AuditEvent: {
        "id": _("id"),
        "created_at": _("created at"),
        "actor_username": _("actor username"),
        "actor_subject": _("actor subject"),
        "source_ip": _("source ip"),
        "user_agent": _("user agent"),
        "action": _("action"),
        "outcome": _("outcome"),
        "is_security_event": _("is security event"),
        "region": _("region"),
        "keypair_name": _("keypair name"),
        "keypair_id": _("keypair id"),
        "bcc_request_id": _("bcc request id"),
        "bcc_error_code": _("bcc error code"),
        "latency_ms": _("latency ms"),
        "portal_request_id": _("portal request id"),
        "detail": _("detail"),
        "prev_hash": _("prev hash"),
        "row_hash": _("row hash"),
    },
    BccInventoryEntry: {
        "region": _("region"),
        "keypair_id": _("keypair id"),
        "name": _("name"),
        "description": _("description"),
        "instance_count": _("instance count"),
        "fingerprint": _("fingerprint"),
        "bcc_created_at": _("bcc created at"),
        "record": _("record"),
        "first_seen_at": _("first seen at"),
        "last_seen_at": _("last seen at"),
        "gone_at": _("gone at"),
    },
    AccessRule: {
        "name": _("name"),
        "sso_group": _("sso group"),
        "region": _("region"),
        "tag_key": _("tag key"),
        "tag_value": _("tag value"),
        "name_prefix": _("name prefix"),
        "max_duration": _("max duration"),
        "requires_approval": _("requires approval"),
        "enabled": _("enabled"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
    AccessRequest: {
        "public_id": _("public id"),
        "requester": _("requester"),
        "keypair_request": _("keypair request"),
        "rule": _("rule"),
        "region": _("region"),
        "instance_ids": _("instance ids"),
        "duration": _("duration"),
        "reason": _("reason"),
        "status": _("status"),
        "created_at": _("created at"),
        "decide_by": _("decide by"),
        "decided_by": _("decided by"),
        "decided_at": _("decided at"),
        "decision_reason": _("decision reason"),
    },
    InstanceBinding: {
        "keypair_request": _("keypair request"),
        "region": _("region"),
        "instance_id": _("instance id"),
        "instance_name": _("instance name"),
        "rule": _("rule"),
        "access_request": _("access request"),
        "bound_by": _("bound by"),
        "bound_at": _("bound at"),
        "expires_at": _("expires at"),
        "replaced_keypair_id": _("replaced keypair id"),
        "state": _("state"),
        "ended_at": _("ended at"),
        "expiry_warned_at": _("expiry warned at"),
        "unbind_attempts": _("unbind attempts"),
        "last_error": _("last error"),
    },
}


def _label_for_people() -> None:
    for model, (singular, plural) in _MODEL_NAMES.items():
        model._meta.verbose_name, model._meta.verbose_name_plural = singular, plural
    for model, names in _FIELD_NAMES.items():
        for field_name, label in names.items():
            model._meta.get_field(field_name).verbose_name = label


_label_for_people()
