// Patient: own bookings, changing state live; cancel or move (before the practice's
// deadline, shown on each booking); write to the doctor.

import { ApiError, api, get, getAll } from '../api.js';
import * as live from '../live.js';
import { icsButton } from './calendrier.js';
import { askCancel as cancelForm } from './cancel.js';
import { slotPicker } from './slotpicker.js';
import { offerText } from '../notif-text.js';
import { zoneOf } from '../dates.js';
import { badge, clear, errorMessage, flash, formatDay, formatSlot, formatWhen, h, localDate, personName, toast } from '../ui.js';

export function mount(view, ctx) {
  const items = new Map();
  const upcoming = h('div', { class: 'rdv-list', id: 'rdv-upcoming' });
  const past = h('div', { class: 'rdv-list', id: 'rdv-past' });
  const waiting = h('div', { class: 'waitlist-list', id: 'waitlist' });
  const waitingCard = h('section', { class: 'card', id: 'waitlist-card', hidden: true, 'aria-labelledby': 'waitlist-title' },
    h('h2', { id: 'waitlist-title', text: "Mes inscriptions sur liste d'attente" }), waiting);
  clear(view,
    h('section', { class: 'card' }, h('h2', { text: 'Mes rendez-vous à venir' }), upcoming),
    waitingCard,
    h('section', { class: 'card' }, h('h2', { text: 'Historique et annulations' }), past));

  function isUpcoming(rdv) {
    return rdv.statut !== 'ANNULE' && new Date(rdv.creneau.fin) > new Date();
  }

  // Until when this patient may still cancel or move it online (null: no deadline).
  const open = (rdv) => !rdv.annulable_jusqu_a || new Date(rdv.annulable_jusqu_a) > new Date();

  function card(rdv) {
    const actions = h('div', { class: 'actions' });
    const moveBox = h('div', { class: 'move-box', hidden: true });
    const upcomingRdv = isUpcoming(rdv);
    const el = h('article', { class: `rdv rdv-${rdv.statut.toLowerCase()}`, 'data-rdv': rdv.id, 'data-statut': rdv.statut, 'data-creneau': rdv.creneau.id },
      h('div', { class: 'rdv-when' }, h('strong', { text: formatSlot(rdv.creneau) }), badge(rdv.statut),
        rdv.deplace_at ? h('span', { class: 'badge badge-info', text: 'Déplacé' }) : null),
      h('div', { text: `${personName(rdv.medecin)} — ${rdv.medecin.specialite || ''}` }),
      rdv.motif_consultation ? h('div', { class: 'muted', text: `Motif : ${rdv.motif_consultation.libelle}` }) : null,
      rdv.motif ? h('div', { class: 'muted', text: rdv.motif_consultation ? rdv.motif : `Motif : ${rdv.motif}` }) : null,
      rdv.statut === 'ANNULE' ? h('div', { class: 'muted', text: `Annulé${rdv.annule_par === 'PATIENT' ? ' par vous' : ' par le cabinet'}${rdv.motif_annulation ? ` : ${rdv.motif_annulation}` : ''}` }) : null,
      upcomingRdv && rdv.annulable_jusqu_a ? h('div', { class: `rules-note${open(rdv) ? '' : ' late'}`, 'data-testid': 'annulable',
        text: open(rdv)
          ? `Annulation ou déplacement possible jusqu'au ${formatWhen(rdv.annulable_jusqu_a, zoneOf(rdv))}.`
          : `Délai dépassé depuis le ${formatWhen(rdv.annulable_jusqu_a, zoneOf(rdv))} : pour annuler ou déplacer, appelez le cabinet.` }) : null,
      actions, moveBox);
    actions.append(h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'message', text: 'Écrire au médecin', onclick: () => ctx.go('messages', { avec: rdv.medecin.id }) }));
    if (upcomingRdv) actions.append(icsButton(rdv));
    if (upcomingRdv && open(rdv)) {
      actions.append(
        h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'move', text: 'Déplacer', 'aria-expanded': 'false',
          onclick: (e) => toggleMove(rdv, moveBox, e.target) }),
        h('button', { type: 'button', class: 'btn btn-danger-ghost', 'data-action': 'cancel', text: 'Annuler le rendez-vous', onclick: () => askCancel(rdv, actions) }));
    }
    return el;
  }

  // The slot picker on the same doctor; a pick moves the booking (one request, atomic).
  let picker = null;
  function toggleMove(rdv, box, button) {
    if (picker) { picker.destroy(); picker = null; }
    if (!box.hidden) { box.hidden = true; button.setAttribute('aria-expanded', 'false'); return; }
    button.setAttribute('aria-expanded', 'true');
    const error = h('div', { class: 'banner-area' });
    const list = h('div', {});
    clear(box, h('p', { class: 'muted', text: 'Choisissez le nouveau créneau :' }), error, list);
    box.hidden = false;
    picker = slotPicker(list, {
      medecins: [rdv.medecin], medecinId: rdv.medecin.id, day: localDate(rdv.creneau.debut), idPrefix: `move-${rdv.id}`,
      exclude: (s) => s.id === rdv.creneau.id,
      onPick: async (slot) => {
        for (const b of box.querySelectorAll('.move-target')) b.disabled = true;
        try {
          const moved = await api('POST', `rendezvous/${rdv.id}/move/`, { creneau: slot.id });
          if (picker) { picker.destroy(); picker = null; }
          upsert(moved, true);
          toast(`Rendez-vous déplacé au ${formatSlot(moved.creneau)}`, 'success');
        } catch (err) {
          clear(error, h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'move-error', text: errorMessage(err) }));
          if (err instanceof ApiError && err.status === 409 && picker) picker.remove(slot.id);
          for (const b of box.querySelectorAll('.move-target')) b.disabled = false;
        }
      },
    });
  }

  function askCancel(rdv, actions) {
    cancelForm(rdv, actions, {
      placeholder: "Motif de l'annulation (facultatif)",
      onCancelled: (cancelled) => {
        upsert(cancelled);
        toast('Votre annulation a bien été prise en compte', 'warning');
      },
      onBack: render,
    });
  }

  function render() {
    if (picker) { picker.destroy(); picker = null; }
    const all = [...items.values()].sort((a, b) => a.creneau.debut.localeCompare(b.creneau.debut));
    const next = all.filter(isUpcoming);
    const rest = all.filter((r) => !isUpcoming(r)).reverse();
    clear(upcoming, next.length ? next.map(card) : h('p', { class: 'muted', text: 'Aucun rendez-vous à venir.' }, ' ',
      h('a', { href: '#/rdv', text: 'Prendre rendez-vous' })));
    clear(past, rest.length ? rest.map(card) : h('p', { class: 'muted', text: 'Rien pour le moment.' }));
  }

  function upsert(rdv, highlight = false) {
    items.set(rdv.id, rdv);
    render();
    if (highlight) flash(view.querySelector(`[data-rdv="${rdv.id}"]`));
  }

  async function load() {
    try {
      const list = await getAll('rendezvous/');
      items.clear();
      for (const rdv of list) items.set(rdv.id, rdv);
      render();
    } catch (error) {
      toast(errorMessage(error), 'error');
    }
  }

  // --- the waiting list: each entry, its live offer (booked from the booking panel, where
  // the slot is already held for this patient), and "Quitter la liste".
  const doctors = new Map();
  let entries = [];
  async function loadWaiting() {
    try {
      const [list, medecins] = await Promise.all([get('liste-attente/'), doctors.size ? null : getAll('medecins/')]);
      for (const m of medecins || []) doctors.set(m.id, m);
      entries = Array.isArray(list) ? list : list.results || [];
      renderWaiting();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 403)) toast(errorMessage(error), 'error');
    }
  }

  function renderWaiting() {
    waitingCard.hidden = !entries.length;
    clear(waiting, entries.map((entry) => {
      const medecin = doctors.get(entry.medecin);
      const offer = entry.offre && new Date(entry.offre.expire_at) > new Date() ? entry.offre : null;
      return h('article', { class: 'waitlist-entry', 'data-liste-attente': entry.id, 'data-offre': offer ? offer.creneau.id : '' },
        h('strong', { text: medecin ? `${personName(medecin)} — ${medecin.specialite}` : `Médecin n° ${entry.medecin}` }),
        h('span', { text: `Du ${formatDay(entry.date_from)} au ${formatDay(entry.date_to)}${entry.motif ? ` — ${entry.motif.libelle}` : ''}` }),
        offer ? h('p', { class: 'waitlist-offer', 'data-testid': 'offer', text: offerText(offer) }) : h('span', { class: 'muted', text: 'En attente d’un créneau libéré.' }),
        h('div', { class: 'actions' },
          offer ? h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'book-offer', text: 'Réserver',
            onclick: () => ctx.go('rdv', { medecin: entry.medecin, date: localDate(offer.creneau.debut), creneau: offer.creneau.id }) }) : null,
          h('button', { type: 'button', class: 'btn btn-danger-ghost', 'data-action': 'leave', text: 'Quitter la liste',
            onclick: (e) => leave(entry, e.currentTarget) })));
    }));
  }

  async function leave(entry, button) {
    button.disabled = true;
    try {
      await api('DELETE', `liste-attente/${entry.id}/`);
      entries = entries.filter((x) => x.id !== entry.id);
      renderWaiting();
      toast("Vous avez quitté la liste d'attente", 'success');
    } catch (error) {
      toast(errorMessage(error), 'error');
      button.disabled = false;
      loadWaiting();
    }
  }

  const onChange = (payload, event) => {
    if (payload.data && payload.data.id) upsert(payload.data, true);
    if (event === 'rendezvous:created' || event === 'rendezvous:moved') loadWaiting(); // an offer used up
  };
  const unsubscribe = [
    live.on('rendezvous:created', onChange),
    live.on('rendezvous:confirmed', onChange),
    live.on('rendezvous:cancelled', onChange),
    live.on('rendezvous:moved', onChange),
    live.on('rappel:reminder', onChange),
    live.on('creneau:offered', loadWaiting),
    live.on(':connect', loadWaiting),
  ];
  load();
  loadWaiting();
  return () => {
    if (picker) picker.destroy();
    unsubscribe.forEach((off) => off());
  };
}
