// shell.js — what every page shares with the router: navigation, the page
// heading focus, the state kept across pages (last search, where to return
// after signing in again).  app.js fills in the hooks.

export const shell = {
  route: () => {},
  defaultPage: () => '#/search',
  returnTo: null, // where to go after signing in again
  loginNote: '', // shown above the sign-in form
  lastSearch: null, // {hash, ids: [...]} of the last result page, for j/k in a message
};

// Navigates to a hash route (replace: without a history entry).
export function go(hash, replace = false) {
  if (location.hash === hash) {
    shell.route();
    return;
  }
  if (replace) {
    history.replaceState(null, '', hash);
    shell.route();
  } else {
    location.hash = hash;
  }
}

// Moves focus to the page's heading after navigation, so keyboard and
// screen-reader users start at the top of the new page.
export function focusHeading(main) {
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: true });
  }
}

export function afterLogin() {
  const back = shell.returnTo;
  shell.returnTo = null;
  shell.loginNote = '';
  go(back && !back.startsWith('#/login') ? back : shell.defaultPage(), true);
}

// Builds a hash route with query parameters, leaving out empty ones.
export function hashFor(path, params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '' && v !== false) qs.set(k, String(v));
  const s = qs.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}
