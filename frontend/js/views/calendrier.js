// A booking's .ics (the API wants the token: fetched, then saved as a file).

import { accessToken, refreshTokens, secondsLeft } from '../api.js';
import { h, toast } from '../ui.js';

export async function downloadIcs(rdv) {
  if (secondsLeft() < 10) await refreshTokens();
  const response = await fetch(`/api/rendezvous/${rdv.id}/ics/`, {
    headers: { Authorization: `Bearer ${accessToken()}`, Accept: 'text/calendar' },
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error((body && body.message) || 'Fichier agenda indisponible');
  }
  const url = URL.createObjectURL(await response.blob());
  const link = h('a', { href: url, download: `rendezvous-${rdv.id}.ics`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function icsButton(rdv) {
  return h('button', {
    type: 'button', class: 'btn btn-ghost', 'data-action': 'ics', text: 'Ajouter à mon agenda (.ics)',
    onclick: () => downloadIcs(rdv).catch((error) => toast(error.message, 'error')),
  });
}
