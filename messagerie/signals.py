"""Domain signals that are not a model save (the realtime app listens)."""

from django.dispatch import Signal

# Messages were read. kwargs: conversation, lecteur, message_ids, auteurs, lu_at.
messages_read = Signal()
