"""Personas shared by the tests: a supervisor, an admin, an outsider with no role."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from console.roles import ensure_roles


@pytest.fixture
def roles(db):
    return ensure_roles()


@pytest.fixture
def supervisor(roles):
    supervisors, _ = roles
    user = get_user_model().objects.create_user("sam-supervisor", password="pw-supervisor-1", is_staff=True)
    user.groups.add(supervisors)
    return user


@pytest.fixture
def admin_user(roles):
    _, admins = roles
    user = get_user_model().objects.create_user("ada-admin", password="pw-admin-1", is_staff=True)
    user.groups.add(admins)
    return user


@pytest.fixture
def outsider(db):
    return get_user_model().objects.create_user("oscar-outsider", password="pw-outsider-1")
