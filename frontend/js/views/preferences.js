// Reaching me outside the app: mobile number, e-mail/SMS per kind of message, and the
// secret address of my calendar feed.

import { api, get } from '../api.js';
import { clear, errorMessage, h, toast } from '../ui.js';

const KINDS = [
  ['confirmation', 'Confirmation de rendez-vous'],
  ['modification', 'Rendez-vous déplacé'],
  ['annulation', 'Rendez-vous annulé'],
  ['rappel', 'Rappel avant le rendez-vous'],
];

export function mount(view, ctx) {
  const prefsBox = h('div', { id: 'prefs-kinds' }, h('p', { class: 'muted', text: 'Chargement…' }));
  const phone = h('input', { type: 'tel', id: 'pref-telephone', name: 'telephone', autocomplete: 'tel',
    value: ctx.me.telephone || '', placeholder: '06 12 34 56 78', maxLength: 30 });
  const phoneError = h('p', { class: 'alert alert-error', id: 'pref-telephone-error', role: 'alert', hidden: true });
  const phoneForm = h('form', { class: 'inline-form', id: 'pref-telephone-form', onsubmit: async (event) => {
    event.preventDefault();
    phoneError.hidden = true;
    try {
      ctx.me = await api('PATCH', 'me/', { telephone: phone.value.trim() });
      phone.value = ctx.me.telephone;
      toast('Numéro enregistré', 'success');
      await loadPrefs();
    } catch (error) {
      phoneError.textContent = errorMessage(error);
      phoneError.hidden = false;
      phone.focus();
    }
  } },
  h('label', { for: 'pref-telephone', text: 'Téléphone mobile (pour les SMS)' }), phone,
  h('button', { type: 'submit', class: 'btn btn-primary', text: 'Enregistrer' }));

  const feedUrl = h('input', { type: 'text', id: 'calendar-url', readOnly: true, 'aria-label': "Adresse d'abonnement", hidden: true });
  const feedHint = h('p', { class: 'muted', id: 'calendar-hint' });
  const revoke = h('button', { type: 'button', class: 'btn btn-danger-ghost', id: 'calendar-revoke', text: "Révoquer l'adresse", hidden: true,
    onclick: () => run(async () => { await api('DELETE', 'me/calendrier/'); showFeed(null); toast('Adresse révoquée', 'warning'); }) });
  const make = h('button', { type: 'button', class: 'btn btn-ghost', id: 'calendar-make', text: 'Créer une adresse',
    onclick: () => run(async () => { showFeed((await api('POST', 'me/calendrier/')).url); toast('Nouvelle adresse créée', 'success'); }) });

  clear(view,
    h('section', { class: 'card' }, h('h2', { text: 'Messages en dehors de l’application' }),
      h('p', { class: 'muted', text: 'Les notifications dans l’application arrivent toujours. Choisissez en plus l’e-mail et le SMS.' }),
      phoneForm, phoneError, prefsBox),
    h('section', { class: 'card' }, h('h2', { text: 'Mon agenda' }),
      h('p', { class: 'muted', text: 'Abonnez votre agenda (Google, Apple, Outlook) à cette adresse secrète pour y voir vos rendez-vous. Ne la partagez pas ; renouvelez-la en cas de doute.' }),
      feedHint, feedUrl, h('div', { class: 'actions' }, make, revoke)));

  async function run(fn) {
    try { await fn(); } catch (error) { toast(errorMessage(error), 'error'); }
  }

  function showFeed(url) {
    feedUrl.value = url || '';
    feedUrl.hidden = !url;
    revoke.hidden = !url;
    make.textContent = url ? "Renouveler l'adresse" : 'Créer une adresse';
    feedHint.textContent = url ? 'Adresse actuelle :' : 'Aucune adresse pour le moment.';
  }

  function renderPrefs(prefs) {
    clear(prefsBox, KINDS.map(([kind, label]) => h('fieldset', { class: 'prefs-kind', 'data-kind': kind },
      h('legend', { text: label }),
      ['email', 'sms'].map((canal) => {
        const id = `pref-${kind}-${canal}`;
        const box = h('input', { type: 'checkbox', id, name: id, checked: Boolean(prefs[kind][canal]),
          disabled: canal === 'sms' && !prefs.sms_possible,
          onchange: () => run(async () => {
            renderPrefs(await api('PATCH', 'me/preferences/', { [kind]: { [canal]: box.checked } }));
            toast('Préférences enregistrées', 'success');
          }) });
        return h('label', { for: id, class: 'check' }, box, canal === 'email' ? ' E-mail' : ' SMS');
      }))),
    prefs.sms_possible ? null : h('p', { class: 'muted', id: 'prefs-sms-hint', text: 'Indiquez un numéro de mobile pour recevoir des SMS.' }));
  }

  async function loadPrefs() {
    try { renderPrefs(await get('me/preferences/')); } catch (error) { toast(errorMessage(error), 'error'); }
  }

  loadPrefs();
  get('me/calendrier/').then((data) => showFeed(data.url)).catch((error) => toast(errorMessage(error), 'error'));
}
