// Confirming a booking, the same from the doctor's agenda and the secretary's day.
import { api } from '../api.js';
import { errorMessage, toast } from '../ui.js';

export async function confirmRendezvous(rdv, button, onConfirmed) {
  button.disabled = true;
  try {
    onConfirmed(await api('POST', `rendezvous/${rdv.id}/confirm/`));
  } catch (error) {
    toast(errorMessage(error), 'error');
    button.disabled = false;
  }
}
