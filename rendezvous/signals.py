"""Domain signals that are not a model save (the realtime app listens)."""

from django.dispatch import Signal

# A booking attempt lost the slot. kwargs: creneau, requester.
creneau_conflict = Signal()

# A user's password changed or they were deactivated (``User.save``): every session of
# theirs must end. kwargs: user.
access_revoked = Signal()

# Slots made by generation from weekly hours (``rendezvous.agenda``), inserted together:
# each is published like any other slot. kwargs: creneaux (saved, active).
creneaux_publies = Signal()

# Free slots withdrawn together (an hours change, an absence): each is withdrawn like
# ``withdraw_creneau`` does it. kwargs: creneaux (saved, inactive).
creneaux_retires = Signal()

# A booking moved onto another slot (``move_rendezvous``), sent inside its transaction.
# kwargs: rdv (saved on its new slot), ancien (the slot it left).
rendezvous_moved = Signal()
