// The passkey ceremony of SigID's hosted pages (the only script they need): a form marked with
// data-options gets its WebAuthn options from SigID, runs the browser's ceremony through
// @simplewebauthn/browser, and submits the authenticator's answer in the form's "response" field.
(() => {
  const { startAuthentication, startRegistration, browserSupportsWebAuthn } = window.SimpleWebAuthnBrowser;
  if (!browserSupportsWebAuthn()) return;
  for (const form of document.querySelectorAll('form[data-options]')) {
    form.hidden = false;
    const registration = form.dataset.ceremony === 'registration';
    form.addEventListener('submit', async (event) => {
      if (form.elements.response.value) return;
      event.preventDefault();
      const csrf = form.elements.csrf.value;
      try {
        const answer = await fetch(form.dataset.options, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ csrf }),
          credentials: 'same-origin',
        });
        if (!answer.ok) throw new Error('options refused');
        const { options, challengeId } = await answer.json();
        const response = registration
          ? await startRegistration({ optionsJSON: options })
          : await startAuthentication({ optionsJSON: options });
        form.elements.response.value = JSON.stringify(response);
        form.elements.challenge_id.value = challengeId;
        form.submit();
      } catch {
        const alert = document.createElement('p');
        alert.className = 'error';
        alert.setAttribute('role', 'alert');
        alert.textContent = 'The passkey could not be used. Try again, or sign in another way.';
        form.before(alert);
      }
    });
  }
})();
