// view-login.js — signing in: user and password, the two-factor code when
// the account has one, throttling feedback (429 + Retry-After).

import { h, fill, field, notice } from './dom.js';
import { api, setSession, session } from './api.js';
import { shell, afterLogin, focusHeading } from './shell.js';

// Does this refusal ask for a TOTP code?
const wantsTotp = (e) => /totp|two.?factor|otp|second.?factor/i.test(`${e.code} ${e.message}`);

export async function render(ctx) {
  ctx.title('Sign in');
  const user = field('User', { autocomplete: 'username', required: true, name: 'user' });
  const pass = field('Password', { type: 'password', autocomplete: 'current-password', required: true, name: 'password' });
  const totp = field('Two-factor code', {
    autocomplete: 'one-time-code', inputmode: 'numeric', pattern: '[0-9 ]{6,8}', name: 'totp',
    hint: 'The 6-digit code from your authenticator app.',
  });
  totp.row.hidden = true;
  const submit = h('button', { type: 'submit', text: 'Sign in' });
  const msg = h('div.msg');
  const form = h('form.login', { autocomplete: 'on', 'aria-labelledby': 'login-title' },
                 user.row, pass.row, totp.row, h('div.actions', submit), msg);
  fill(ctx.main,
       h('section.narrow',
         h('h1#login-title', { text: 'Sign in to Vellum' }),
         shell.loginNote ? notice('info', shell.loginNote) : null,
         form));
  let countdown = null;
  ctx.onLeave(() => clearInterval(countdown));

  function throttled(secs) {
    let left = Math.max(1, secs || 30);
    submit.disabled = true;
    const line = notice('error', '');
    fill(msg, line);
    const tick = () => {
      line.textContent = `Too many sign-in attempts. Try again in ${left} s.`;
      if (left-- <= 0) {
        clearInterval(countdown);
        submit.disabled = false;
        line.textContent = 'You can try again now.';
      }
    };
    tick();
    countdown = setInterval(tick, 1000);
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    fill(msg);
    const body = { user: user.input.value, password: pass.input.value };
    const code = totp.input.value.replace(/\s+/g, '');
    if (!totp.row.hidden && code) body.totp = code;
    submit.disabled = true;
    try {
      const data = await api('POST', '/api/v1/session', body, { noExpire: true });
      setSession(data, body.user);
      pass.input.value = '';
      totp.input.value = '';
      afterLogin();
    } catch (err) {
      submit.disabled = false;
      if (err.status === 429) {
        throttled(err.retryAfter);
      } else if ((err.status === 401 || err.status === 400 || err.status === 403) && wantsTotp(err)) {
        const first = totp.row.hidden;
        totp.row.hidden = false;
        totp.input.required = true;
        fill(msg, notice(first && !code ? 'info' : 'error', first && !code
          ? 'This account uses two-factor authentication: enter the code from your authenticator app.'
          : 'That code was not accepted. Wait for the next code and try again.'));
        totp.input.focus();
      } else if (err.code === 'csrf') {
        fill(msg, notice('error', 'This browser still holds a session opened in another tab or window. Reload the page, or close the browser, and try again.'));
      } else if ((err.status === 401 || err.status === 403) && !totp.row.hidden && code) {
        fill(msg, notice('error', 'The password or the two-factor code was not accepted. Codes work once: wait for the next one and try again.'));
        totp.input.select();
      } else if (err.status === 401 || err.status === 403) {
        fill(msg, notice('error', 'Wrong user name or password (or the account is disabled).'));
        pass.input.select();
      } else {
        fill(msg, notice('error', `Sign-in failed: ${err.message}`));
      }
    }
  });
  if (!session.user) (user.input.value ? pass.input : user.input).focus();
  else focusHeading(ctx.main);
}
