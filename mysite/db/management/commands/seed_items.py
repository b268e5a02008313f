"""``manage.py seed_items``: fill the database views' table; a second run changes nothing."""

from django.core.management.base import BaseCommand
from django.db import transaction

from mysite.db.models import Item
from mysite.db.seed import SEED_ROWS, seed_row


class Command(BaseCommand):
    help = f"Seed {SEED_ROWS} rows into the database views' table (idempotent)."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            # An upsert: rows that exist are rewritten to their seeded values, so a table
            # someone edited is put back, and a second run changes nothing.
            Item.objects.bulk_create(
                [Item(**seed_row(pk)) for pk in range(1, SEED_ROWS + 1)],
                update_conflicts=True,
                unique_fields=["id"],
                update_fields=["name", "value"],
            )
            Item.objects.filter(pk__gt=SEED_ROWS).delete()
        self.stdout.write(f"{Item.objects.count()} rows in {Item._meta.db_table}")
