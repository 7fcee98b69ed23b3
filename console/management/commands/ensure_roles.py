"""Create the supervisors and admins groups with their permissions (run after every migrate)."""

from django.core.management.base import BaseCommand

from console.roles import ensure_roles


class Command(BaseCommand):
    help = "Create or update the 'supervisors' and 'admins' groups and their permissions."

    def handle(self, *args, **options):
        supervisors, admins = ensure_roles()
        counts = f"supervisors: {supervisors.permissions.count()}, admins: {admins.permissions.count()}"
        self.stdout.write(f"roles ready ({counts} permissions)")
