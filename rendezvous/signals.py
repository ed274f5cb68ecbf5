"""Domain signals that are not a model save (the realtime app listens)."""

from django.dispatch import Signal

# A booking attempt lost the slot. kwargs: creneau, requester.
creneau_conflict = Signal()
