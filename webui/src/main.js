// esmon web dashboard: sign-in, the router between pages, the theme, and
// the top bar. Pages live in their own modules; each has init (once),
// show (when its route is opened) and hide.
//
// Routes are in the hash (#/, #/host/<id>, #/alerts, #/rules,
// #/rules/<id>), so every URL the page uses stays relative and it also
// works behind a reverse proxy's path prefix.
import { feed, hooks, model, resetModel, subscribe } from "./live.js";
import { initOverview, showOverview, hideOverview, overviewTick } from "./overview.js";
import { initHost, showHost, hideHost, redrawCharts } from "./host.js";
import { initAlerts, showAlerts, hideAlerts } from "./alerts.js";
import { initRules, showRules, showRule, hideRule } from "./rules.js";
import { caps, detect, initActions, showSilences, showMaintenance, showChannels } from "./actions.js";
import { initAgents, showAgents, hideAgents } from "./agents.js";
import { Chart, align } from "./chart.js";
import { $, api, apiHooks, canChange, refreshTimes } from "./util.js";
import { initPeople, setSession, clearSession, needsSetup, showAccount, showUsers, showAudit } from "./people.js";

const ui = {
  conn: $("conn"),
  nav: $("nav"),
  signout: $("signout"),
  theme: $("theme"),
  counts: $("counts"),
  banner: $("banner"),
  bannerText: $("banner-text"),
  retry: $("retry"),
  main: $("main"),
  signinView: $("signin-view"),
  signin: $("signin"),
  token: $("token"),
  signinError: $("signin-error"),
  signinSubmit: $("signin-submit"),
};

const pages = {
  overview: { view: $("dash-view"), hide: hideOverview },
  host: { view: $("host-view"), hide: hideHost },
  alerts: { view: $("alerts-view"), hide: hideAlerts },
  rules: { view: $("rules-view"), hide: () => {} },
  rule: { view: $("rule-view"), hide: hideRule },
  silences: { view: $("silences-view"), hide: () => {} },
  maintenance: { view: $("maint-view"), hide: () => {} },
  channels: { view: $("channels-view"), hide: () => {} },
  agents: { view: $("agents-view"), hide: hideAgents },
  account: { view: $("account-view"), hide: () => {} },
  users: { view: $("users-view"), hide: () => {} },
  audit: { view: $("audit-view"), hide: () => {} },
};

// The page must work under the core's Content-Security-Policy (no inline
// styles or scripts); anything the browser refuses is kept for the tests.
const cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  cspViolations.push(`${e.violatedDirective} ${e.blockedURI || ""}`.trim());
  console.error(`esmon: CSP refused ${e.violatedDirective} (${e.blockedURI || "inline"})`);
});

let signedIn = false;
let current = null;

// ---- router -------------------------------------------------------------

function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const q = h.indexOf("?");
  const path = (q < 0 ? h : h.slice(0, q)).split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(q < 0 ? "" : h.slice(q + 1));
  return { path, params };
}

function route() {
  if (!signedIn) return;
  const { path, params } = parseHash();
  let name = "overview";
  if (path[0] === "host" && path[1]) name = "host";
  else if (path[0] === "alerts") name = "alerts";
  else if (path[0] === "rules") name = path[1] ? "rule" : "rules";
  else if (caps.alerting && ["silences", "maintenance", "channels"].includes(path[0])) name = path[0];
  else if (path[0] === "agents") name = "agents";
  else if (path[0] === "account") name = "account";
  else if (canChange("admin") && ["users", "audit"].includes(path[0])) name = path[0];
  if (current && current !== name) pages[current].hide();
  const first = current !== name;
  current = name;
  for (const [n, p] of Object.entries(pages)) p.view.hidden = n !== name;
  for (const a of ui.nav.querySelectorAll("a")) {
    const on = a.dataset.nav === (name === "rule" ? "rules" : name === "host" ? "overview" : name);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  switch (name) {
    case "overview":
      document.title = "esmon";
      showOverview(params);
      break;
    case "host":
      showHost(path[1], params);
      break;
    case "alerts":
      showAlerts(params);
      break;
    case "rules":
      showRules();
      break;
    case "rule":
      showRule(path[1]);
      break;
    case "silences":
      showSilences(params);
      break;
    case "maintenance":
      showMaintenance();
      break;
    case "channels":
      showChannels();
      break;
    case "agents":
      showAgents();
      break;
    case "account":
      showAccount();
      break;
    case "users":
      showUsers();
      break;
    case "audit":
      showAudit();
      break;
  }
  if (first) {
    window.scrollTo(0, 0);
    ui.main.focus({ preventScroll: true });
  }
}

// ---- theme ----------------------------------------------------------------

const THEMES = ["auto", "light", "dark"];
const THEME_TEXT = { auto: "Auto", light: "Light", dark: "Dark" };

function applyTheme(t) {
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  ui.theme.textContent = THEME_TEXT[t];
  ui.theme.setAttribute("aria-label", `Colour theme: ${t === "auto" ? "follow the system" : t}. Change`);
  redrawCharts();
}

function storedTheme() {
  try {
    const t = localStorage.getItem("esmon.theme");
    return THEMES.includes(t) ? t : "auto";
  } catch {
    return "auto";
  }
}

// ---- connection state -------------------------------------------------------

hooks.state = (state, text) => {
  ui.conn.dataset.state = state;
  ui.conn.textContent = text;
  document.body.classList.toggle("stale", state === "disconnected" || state === "connecting");
};
hooks.banner = (text) => {
  ui.banner.hidden = !text;
  if (text) ui.bannerText.textContent = text;
};
hooks.sessionEnded = () => showSignIn("Your session has ended. Sign in again.");
hooks.checkSession = checkSession;
apiHooks.onUnauthorized = () => {
  if (signedIn) showSignIn("Your session has ended. Sign in again.");
};

// ---- session --------------------------------------------------------------

// checkSession resolves true when the cookie is valid, false when it is not,
// and null when the core cannot be reached.
async function checkSession() {
  try {
    setSession(await api("GET", "api/v1/session"));
    return true;
  } catch (err) {
    if (err.status === 401) return false;
    return null;
  }
}

function showSignIn(message) {
  signedIn = false;
  clearSession();
  feed.stop();
  if (current) pages[current].hide();
  current = null;
  resetModel();
  hooks.state("idle", "signed out");
  for (const p of Object.values(pages)) p.view.hidden = true;
  ui.nav.hidden = true;
  ui.counts.hidden = true;
  ui.signout.hidden = true;
  $("setup-view").hidden = true;
  $("signin-setup").hidden = true;
  ui.signinView.hidden = false;
  ui.signinError.textContent = message || "";
  ui.token.setAttribute("aria-invalid", message ? "true" : "false");
  ($("signin-name").value ? ui.token : $("signin-name")).focus();
  // A core without users offers its first-run screen on the sign-in card;
  // the answer only shows the offer, it never moves the focus.
  needsSetup().then((needed) => {
    if (!signedIn) $("signin-setup").hidden = !needed;
  });
}

// showApp shows the pages once signed in. probe is a detect() already under
// way (boot starts it beside the session check, saving a round trip before
// the feed opens); without it, showApp asks.
async function showApp(probe) {
  signedIn = true;
  await (probe || detect());
  ui.signinView.hidden = true;
  $("setup-view").hidden = true;
  ui.signinError.textContent = "";
  ui.nav.hidden = false;
  ui.counts.hidden = false;
  ui.signout.hidden = false;
  current = null;
  route();
  ui.main.focus({ preventScroll: true });
  feed.start();
}

async function signIn(e) {
  e.preventDefault();
  // With a user name the field is a password; without one it is the
  // admin token from admin.token, the way in before any user exists.
  const name = $("signin-name").value.trim().toLowerCase();
  const secret = name ? ui.token.value : ui.token.value.trim();
  if (!secret) {
    ui.signinError.textContent = name ? "Enter your password." : "Enter your user name and password, or the admin token.";
    ui.token.setAttribute("aria-invalid", "true");
    ui.token.focus();
    return;
  }
  ui.signinSubmit.disabled = true;
  ui.signinError.textContent = "";
  try {
    setSession(await api("POST", "api/v1/session", name ? { name, password: secret } : { token: secret }));
    ui.token.value = "";
    ui.token.setAttribute("aria-invalid", "false");
    showApp();
  } catch (err) {
    ui.signinError.textContent = err.status ? err.message : "Cannot reach the core. Check the address and try again.";
    ui.token.setAttribute("aria-invalid", "true");
    ui.token.select();
  } finally {
    ui.signinSubmit.disabled = false;
  }
}

async function signOut() {
  feed.stop();
  try {
    await api("DELETE", "api/v1/session");
  } catch {
    // The cookie dies with the session anyway; show sign-in regardless.
  }
  showSignIn();
}

async function boot() {
  initOverview();
  initHost();
  initAlerts();
  initRules();
  initActions();
  initAgents();
  initPeople(showApp);
  subscribe(() => overviewTick()); // the top bar's counts on every page

  ui.signin.addEventListener("submit", signIn);
  ui.signout.addEventListener("click", signOut);
  ui.retry.addEventListener("click", () => feed.retryNow());
  ui.theme.addEventListener("click", () => {
    const next = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
    try {
      localStorage.setItem("esmon.theme", next);
    } catch {
      // private mode: the choice lasts for this page only
    }
    applyTheme(next);
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (storedTheme() === "auto") redrawCharts();
  });
  applyTheme(storedTheme());
  window.addEventListener("hashchange", route);
  window.addEventListener("online", () => feed.retryNow());
  setInterval(refreshTimes, 30000);

  hooks.state("idle", "checking");
  performance.mark("esmon:boot");
  const probe = detect();
  const ok = await checkSession();
  performance.mark("esmon:session-checked");
  if (ok) showApp(probe);
  else showSignIn(ok === null ? "Cannot reach the core. Reload the page to try again." : "");
}

// For tests and the benchmark (BENCHMARKS.md): the model, the feed, and
// the chart code.
window.esmon = { model, feed, Chart, align, cspViolations };

boot();
