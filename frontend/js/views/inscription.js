// Sign-up (#/inscription, logged out): POST /api/auth/register/. A new patient is logged in
// at once (201); the e-mail of a record a practice made on the phone gets a link to claim
// it (202 compte_a_activer: nobody is logged in). The API's French messages land next to
// their fields.

import { login, publicPost } from '../api.js';
import { clearFieldErrors, failureText, field, setFieldError, showFieldErrors } from '../forms.js';
import { clear, h } from '../ui.js';

export const CLAIM_MESSAGE = 'Un e-mail vous a été envoyé pour rattacher votre dossier';

// root: the page's #app; done(): logged in; back(message?): to the login screen.
export function mount(root, { done, back }) {
  const input = (id, name, type, autocomplete, extra = {}) => h('input', { id, name, type, autocomplete, ...extra });
  const fields = {
    first_name: field('Prénom', input('su-first-name', 'first_name', 'text', 'given-name', { required: true, maxLength: 150 })),
    last_name: field('Nom', input('su-last-name', 'last_name', 'text', 'family-name', { required: true, maxLength: 150 })),
    email: field('Adresse e-mail', input('su-email', 'email', 'email', 'email', { required: true, maxLength: 254 })),
    telephone: field('Téléphone portable (facultatif)', input('su-telephone', 'telephone', 'tel', 'tel', { maxLength: 30 }),
      'Pour recevoir vos rappels par SMS, par exemple 06 12 34 56 78.'),
    password: field('Mot de passe', input('su-password', 'password', 'password', 'new-password', { required: true, maxLength: 128 }),
      '8 caractères au moins, pas uniquement des chiffres.'),
    password2: field('Confirmez le mot de passe', input('su-password-2', 'password2', 'password', 'new-password', { required: true, maxLength: 128 })),
  };
  const banner = h('div', { class: 'banner-area', id: 'signup-result' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'signup-submit', text: 'Créer mon compte' });
  const form = h('form', { class: 'login-form signup-form', id: 'signup-form', noValidate: true, onsubmit: onSubmit },
    Object.values(fields).map((f) => f.wrap), banner, submit);

  clear(root, h('main', { class: 'login-page' },
    h('section', { class: 'card login-card' },
      h('div', { class: 'brand brand-large' }, h('span', { class: 'brand-logo', 'aria-hidden': 'true', text: '✚' }), 'Cabinet en ligne'),
      h('h1', { class: 'page-title', text: 'Créer un compte patient' }),
      h('p', { class: 'muted', text: 'Votre cabinet a déjà créé votre dossier par téléphone ? Inscrivez-vous avec la même adresse e-mail : un lien vous permettra de le rattacher à votre compte.' }),
      form,
      h('p', {}, 'Déjà un compte ? ', h('a', { href: '/login', id: 'to-login', text: 'Se connecter', onclick: (e) => { e.preventDefault(); back(); } })))));
  fields.first_name.input.focus();

  function say(kind, text, id) {
    clear(banner, h('p', { class: `alert alert-${kind}`, role: kind === 'error' ? 'alert' : 'status', id, text }));
  }

  async function onSubmit(event) {
    event.preventDefault();
    clearFieldErrors(fields);
    clear(banner);
    const value = (name) => fields[name].input.value;
    // The practice needs a name to call a patient by: required here (the API lets them out).
    const missing = ['first_name', 'last_name', 'email', 'password'].filter((name) => !value(name).trim());
    for (const name of missing) setFieldError(fields[name], 'Ce champ est obligatoire.');
    if (!missing.includes('password') && value('password') !== value('password2')) {
      setFieldError(fields.password2, 'Les deux mots de passe ne sont pas identiques.');
      missing.push('password2');
    }
    if (missing.length) {
      fields[missing[0]].input.focus();
      return;
    }
    submit.disabled = true;
    const body = {
      email: value('email').trim(), password: value('password'),
      first_name: value('first_name').trim(), last_name: value('last_name').trim(),
    };
    if (value('telephone').trim()) body.telephone = value('telephone').trim();
    try {
      const answer = await publicPost('auth/register/', body);
      if (answer && answer.code === 'compte_a_activer') {
        // A record made on the phone: claimed through the e-mail's link, never here.
        form.replaceWith(h('div', { class: 'stack', id: 'signup-claim' },
          h('p', { class: 'alert alert-success', role: 'status', id: 'signup-claim-message', text: `${CLAIM_MESSAGE}.` }),
          h('p', { class: 'muted', text: `Ouvrez le lien reçu à ${body.email} pour choisir votre mot de passe : vos rendez-vous pris par téléphone seront dans votre compte.` })));
        return;
      }
      await login(body.email, body.password);
      done();
    } catch (error) {
      let shown;
      if (error && error.code === 'email_exists') {
        setFieldError(fields.email, error.message);
        fields.email.input.focus();
        shown = ['email'];
      } else shown = showFieldErrors(fields, error); // focuses the first field in error
      say('error', failureText(error, { fieldsShown: shown }), 'signup-error');
      submit.disabled = false;
    }
  }
}
