"""One active offer per waiting-list entry (a partial unique index).

Rows written before it may hold several active offers for one entry: the first one made
stays, the others are closed as expired, so the index can be built. Their slots are then
free and unheld; the scheduler's next pass (``offrir_creneaux_libres``) offers them to the
next in line or leaves them to everyone."""

from django.conf import settings
from django.db import migrations, models


def close_extra_offers(apps, schema_editor):
    Retenue = apps.get_model("attente", "Retenue")
    seen: set[int] = set()
    extra: list[int] = []
    rows = (Retenue.objects.filter(active=True, offre__isnull=False)
            .order_by("offre_id", "created_at", "id").values_list("id", "offre_id"))
    for pk, offre_id in rows.iterator():
        if offre_id in seen:
            extra.append(pk)
        seen.add(offre_id)
    if extra:
        Retenue.objects.filter(pk__in=extra).update(active=False, issue="EXPIREE")


class Migration(migrations.Migration):

    dependencies = [
        ('attente', '0001_initial'),
        ('rendezvous', '0004_practice_workflow'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(close_extra_offers, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='retenue',
            constraint=models.UniqueConstraint(condition=models.Q(('active', True), ('offre__isnull', False)), fields=('offre',), name='une_offre_active_par_inscription'),
        ),
    ]
