"""Domain signals that are not a model save (the realtime app listens)."""

from django.dispatch import Signal

# A booking attempt lost the slot. kwargs: creneau, requester.
creneau_conflict = Signal()

# A user's password changed or they were deactivated (``User.save``): every session of
# theirs must end. kwargs: user.
access_revoked = Signal()
