"""Create the demo ``supervisor`` and ``admin`` users (embedded default) and print their passwords."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from console.roles import ensure_roles


class Command(BaseCommand):
    help = "Create or reset the demo users 'supervisor' and 'admin' with fresh random passwords and print them."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Use this password for both users instead of random ones")

    def handle(self, *args, **options):
        supervisors, admins = ensure_roles()
        User = get_user_model()
        for username, group, superuser in (("supervisor", supervisors, False), ("admin", admins, True)):
            password = options["password"] or secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = True
            user.is_superuser = superuser
            user.set_password(password)
            user.save()
            user.groups.add(group)
            self.stdout.write(f"  {username:<10} password: {password}")
