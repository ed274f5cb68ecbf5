from django.core.management.base import BaseCommand

from attente.scheduler import passe


class Command(BaseCommand):
    help = "Ferme les créneaux retenus expirés et propose les créneaux libres à la liste d'attente."

    def handle(self, *args, **options):
        expirees, offertes = passe()
        self.stdout.write(f"{expirees} retenue(s) expirée(s), {offertes} offre(s)")
