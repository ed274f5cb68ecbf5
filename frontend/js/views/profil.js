// My profile (#/profil, every role): name and phone number (PATCH /api/me/, the number to
// E.164 or the API's French error under the field), the e-mail read-only (the account's
// identifier); the password with the current one (POST /api/me/password/: this device gets
// a new session, the others are logged out); "log out everywhere" (POST
// /api/auth/logout-all/: every token and socket of the account, this one included).

import { adoptTokens, api, clearSession } from '../api.js';
import { clearFieldErrors, failureText, field, setFieldError, showFieldErrors } from '../forms.js';
import { clear, h, toast } from '../ui.js';

export function mount(view, ctx) {
  const me = ctx.me;
  clear(view, h('div', { class: 'columns reverse profile-columns' },
    h('section', { class: 'card main-col', 'aria-labelledby': 'profile-title' },
      h('h2', { class: 'page-title', id: 'profile-title', text: 'Mon profil' }),
      profileForm(ctx)),
    h('div', { class: 'sidebar stack' },
      h('section', { class: 'card', 'aria-labelledby': 'password-title' },
        h('h2', { id: 'password-title', text: 'Changer de mot de passe' }), passwordForm()),
      h('section', { class: 'card', 'aria-labelledby': 'sessions-title' },
        h('h2', { id: 'sessions-title', text: 'Vos appareils' }),
        h('p', { class: 'muted', text: "Un téléphone perdu, un ordinateur partagé ? Fermez toutes les sessions de votre compte, celle-ci comprise : il faudra vous reconnecter partout." }),
        h('button', { type: 'button', class: 'btn btn-danger', id: 'logout-all', text: 'Se déconnecter de tous les appareils',
          onclick: (e) => logoutAll(ctx, e.currentTarget) })))));
  return () => {};

  function profileForm() {
    const fields = {
      first_name: field('Prénom', h('input', { id: 'pf-first-name', name: 'first_name', type: 'text', autocomplete: 'given-name', maxLength: 150, value: me.first_name || '' })),
      last_name: field('Nom', h('input', { id: 'pf-last-name', name: 'last_name', type: 'text', autocomplete: 'family-name', maxLength: 150, value: me.last_name || '' })),
      telephone: field('Téléphone', h('input', { id: 'pf-telephone', name: 'telephone', type: 'tel', autocomplete: 'tel', maxLength: 30, value: me.telephone || '' }),
        'Par exemple 06 12 34 56 78 ou +33 6 12 34 56 78 ; enregistré au format international.'),
    };
    const email = h('input', { id: 'pf-email', type: 'email', value: me.email, readOnly: true, 'aria-describedby': 'pf-email-hint' });
    const result = h('div', { class: 'banner-area', id: 'profile-result' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'profile-submit', text: 'Enregistrer' });
    return h('form', { class: 'stack', id: 'profile-form', noValidate: true, onsubmit: async (event) => {
      event.preventDefault();
      clearFieldErrors(fields);
      clear(result);
      submit.disabled = true;
      try {
        const updated = await api('PATCH', 'me/', {
          first_name: fields.first_name.input.value.trim(), last_name: fields.last_name.input.value.trim(),
          telephone: fields.telephone.input.value.trim(),
        });
        Object.assign(me, updated);
        fields.telephone.input.value = updated.telephone || '';
        ctx.showName();
        clear(result, h('p', { class: 'alert alert-success', role: 'status', id: 'profile-saved', text: 'Profil enregistré.' }));
      } catch (error) {
        const shown = showFieldErrors(fields, error);
        clear(result, h('p', { class: 'alert alert-error', role: 'alert', id: 'profile-error', text: failureText(error, { fieldsShown: shown }) }));
      } finally {
        submit.disabled = false;
      }
    } },
    Object.values(fields).map((f) => f.wrap),
    h('div', { class: 'field' }, h('label', { for: 'pf-email', text: 'Adresse e-mail' }), email,
      h('p', { class: 'muted field-hint', id: 'pf-email-hint', text: "L'identifiant de votre compte : elle ne se modifie pas ici." })),
    result, submit);
  }

  function passwordForm() {
    const fields = {
      current_password: field('Mot de passe actuel', h('input', { id: 'pw-current', name: 'current_password', type: 'password', autocomplete: 'current-password', required: true, maxLength: 128 })),
      new_password: field('Nouveau mot de passe', h('input', { id: 'pw-new', name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, maxLength: 128 }),
        '8 caractères au moins, pas uniquement des chiffres.'),
      new_password2: field('Confirmez le nouveau mot de passe', h('input', { id: 'pw-new-2', name: 'new_password2', type: 'password', autocomplete: 'new-password', required: true, maxLength: 128 })),
    };
    const result = h('div', { class: 'banner-area', id: 'password-result' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'password-submit', text: 'Changer le mot de passe' });
    return h('form', { class: 'stack', id: 'password-form', noValidate: true, onsubmit: async (event) => {
      event.preventDefault();
      clearFieldErrors(fields);
      clear(result);
      const [current, next, again] = Object.values(fields).map((f) => f.input.value);
      const missing = Object.entries(fields).filter(([, f]) => !f.input.value);
      for (const [, f] of missing) setFieldError(f, 'Ce champ est obligatoire.');
      if (!missing.length && next !== again) {
        setFieldError(fields.new_password2, 'Les deux mots de passe ne sont pas identiques.');
        missing.push(['new_password2', fields.new_password2]);
      }
      if (missing.length) { missing[0][1].input.focus(); return; }
      submit.disabled = true;
      try {
        const answer = await api('POST', 'me/password/', { current_password: current, new_password: next });
        adoptTokens(answer); // this device stays logged in, on a new session
        for (const f of Object.values(fields)) f.input.value = '';
        clear(result, h('p', { class: 'alert alert-success', role: 'status', id: 'password-changed', text: `${answer.message}.` }));
      } catch (error) {
        const shown = showFieldErrors(fields, error);
        clear(result, h('p', { class: 'alert alert-error', role: 'alert', id: 'password-error', text: failureText(error, { fieldsShown: shown }) }));
      } finally {
        submit.disabled = false;
      }
    } }, Object.values(fields).map((f) => f.wrap), result, submit);
  }
}

async function logoutAll(ctx, button) {
  button.disabled = true;
  try {
    const answer = await api('POST', 'auth/logout-all/');
    clearSession();
    ctx.loggedOut(`${answer.message}.`);
  } catch (error) {
    toast(failureText(error), 'error');
    button.disabled = false;
  }
}
