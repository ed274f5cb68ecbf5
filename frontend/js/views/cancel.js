// The inline "cancel this booking" form, shared by the agenda and the patient's bookings.

import { api } from '../api.js';
import { clear, errorMessage, h, toast } from '../ui.js';

// Replaces `actions` with a reason field and a confirm button; `onCancelled(rdv)` gets the
// booking as the API returns it, `onBack()` restores the actions.
export function askCancel(rdv, actions, { placeholder, onCancelled, onBack }) {
  const motif = h('input', { name: 'motif', placeholder, maxLength: 500, 'aria-label': placeholder || "Motif de l'annulation" });
  const yes = h('button', { type: 'submit', class: 'btn btn-danger', 'data-action': 'cancel-confirm', text: "Confirmer l'annulation" });
  // "Retour" (or Escape) restores the actions, focus back on this booking's cancel button.
  const back = () => {
    onBack();
    document.querySelector(`[data-rdv="${rdv.id}"] [data-action="cancel"]`)?.focus();
  };
  clear(actions, h('form', { class: 'inline-form', 'data-form': 'cancel', onkeydown: (e) => { if (e.key === 'Escape') { e.preventDefault(); back(); } }, onsubmit: async (e) => {
    e.preventDefault();
    yes.disabled = true;
    try {
      onCancelled(await api('POST', `rendezvous/${rdv.id}/cancel/`, { motif: motif.value }));
    } catch (error) {
      toast(errorMessage(error), 'error');
      yes.disabled = false;
    }
  } }, motif, yes, h('button', { type: 'button', class: 'btn btn-ghost', text: 'Retour', onclick: back })));
  motif.focus();
}
