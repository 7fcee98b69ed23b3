"""Roles: group ``supervisors`` (read everything, resolve findings) and group ``admins`` (everything).

Superusers count as admins. Group permissions make the Django admin follow the same
roles: supervisors may view, admins may also change.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

SUPERVISORS = "supervisors"
ADMINS = "admins"
# django_celery_beat: admins change the periods of the periodic tasks in the admin; supervisors see them.
ROLE_APPS = ("console", "conversations", "diagnostics", "django_celery_beat")


def is_admin(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or _in_group(user, ADMINS)


def is_supervisor(user) -> bool:
    """Supervisors and admins: everyone allowed to read the console."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return is_admin(user) or _in_group(user, SUPERVISORS)


def _in_group(user, name: str) -> bool:
    cache = getattr(user, "_console_groups", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._console_groups = cache
    return name in cache


def ensure_roles() -> tuple[Group, Group]:
    """Create both groups and give them the permissions of their role (idempotent)."""
    supervisors, _ = Group.objects.get_or_create(name=SUPERVISORS)
    admins, _ = Group.objects.get_or_create(name=ADMINS)
    ours = Permission.objects.filter(content_type__app_label__in=ROLE_APPS)
    admins.permissions.set(ours)
    supervisors.permissions.set(ours.filter(codename__startswith="view_") | ours.filter(codename="change_finding"))
    return supervisors, admins
