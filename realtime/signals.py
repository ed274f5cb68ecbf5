"""Signals realtime sends for others to hook on, without realtime importing them."""

from django.dispatch import Signal

# Sent by ``send_events`` inside the writing transaction, once the events are in the log:
# ``events`` (the ``Event`` rows, ids set) and ``rooms`` (each event's rooms, same order).
# A receiver writing rows (the outbox) writes them in the same transaction as the fact.
events_written = Signal()
