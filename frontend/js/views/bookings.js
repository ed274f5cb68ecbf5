// Patient: own bookings, changing state live; cancel; write to the doctor.

import { getAll } from '../api.js';
import * as live from '../live.js';
import { icsButton } from './calendrier.js';
import { askCancel as cancelForm } from './cancel.js';
import { badge, clear, errorMessage, flash, formatSlot, h, personName, toast } from '../ui.js';

export function mount(view, ctx) {
  const items = new Map();
  const upcoming = h('div', { class: 'rdv-list', id: 'rdv-upcoming' });
  const past = h('div', { class: 'rdv-list', id: 'rdv-past' });
  clear(view,
    h('section', { class: 'card' }, h('h2', { text: 'Mes rendez-vous à venir' }), upcoming),
    h('section', { class: 'card' }, h('h2', { text: 'Historique et annulations' }), past));

  function isUpcoming(rdv) {
    return rdv.statut !== 'ANNULE' && new Date(rdv.creneau.fin) > new Date();
  }

  function card(rdv) {
    const actions = h('div', { class: 'actions' });
    const el = h('article', { class: `rdv rdv-${rdv.statut.toLowerCase()}`, 'data-rdv': rdv.id, 'data-statut': rdv.statut },
      h('div', { class: 'rdv-when' }, h('strong', { text: formatSlot(rdv.creneau) }), badge(rdv.statut)),
      h('div', { text: `${personName(rdv.medecin)} — ${rdv.medecin.specialite || ''}` }),
      rdv.motif ? h('div', { class: 'muted', text: `Motif : ${rdv.motif}` }) : null,
      rdv.statut === 'ANNULE' ? h('div', { class: 'muted', text: `Annulé${rdv.annule_par === 'PATIENT' ? ' par vous' : ' par le cabinet'}${rdv.motif_annulation ? ` : ${rdv.motif_annulation}` : ''}` }) : null,
      actions);
    actions.append(h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'message', text: 'Écrire au médecin', onclick: () => ctx.go('messages', { avec: rdv.medecin.id }) }));
    if (isUpcoming(rdv)) {
      actions.append(icsButton(rdv));
      actions.append(h('button', { type: 'button', class: 'btn btn-danger-ghost', 'data-action': 'cancel', text: 'Annuler le rendez-vous', onclick: () => askCancel(rdv, actions) }));
    }
    return el;
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

  const onChange = (payload) => { if (payload.data && payload.data.id) upsert(payload.data, true); };
  const unsubscribe = [
    live.on('rendezvous:created', onChange),
    live.on('rendezvous:confirmed', onChange),
    live.on('rendezvous:cancelled', onChange),
    live.on('rappel:reminder', onChange),
  ];
  load();
  return () => unsubscribe.forEach((off) => off());
}
