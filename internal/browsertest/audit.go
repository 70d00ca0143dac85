package browsertest

import (
	"encoding/json"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// auditJS checks the shown part of the page under scope the way an
// accessibility audit would, in plain JavaScript (no tool loaded into the
// page, so the page's Content-Security-Policy stays as it is): every
// control has a name a screen reader can say, no positive tabindex
// reorders the keyboard, every text has WCAG AA contrast against the
// background it is drawn on (4.5:1, 3:1 for large text; disabled
// controls are exempt, as in WCAG), and nothing is wider than the window.
// It returns one line per problem.
const auditJS = `((scope) => {
  const root = document.querySelector(scope) || document.body;
  const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const problems = [];
  const where = (e) => {
    const id = e.id ? "#" + e.id : "";
    const cls = typeof e.className === "string" && e.className ? "." + e.className.trim().split(/\s+/).join(".") : "";
    const text = (e.textContent || "").trim().slice(0, 30);
    return e.tagName.toLowerCase() + id + cls + (text ? ' "' + text + '"' : "");
  };
  const named = (e) => {
    if ((e.getAttribute("aria-label") || "").trim()) return true;
    const by = e.getAttribute("aria-labelledby");
    if (by && by.split(/\s+/).some((id) => (document.getElementById(id)?.textContent || "").trim())) return true;
    if (e.labels && [...e.labels].some((l) => l.textContent.trim())) return true;
    if ((e.getAttribute("title") || "").trim()) return true;
    if (e.tagName === "BUTTON" || e.tagName === "A" || e.tagName === "SUMMARY") {
      if ((e.textContent || "").trim()) return true;
      if ([...e.querySelectorAll("img[alt],svg[aria-label]")].some((i) => (i.getAttribute("alt") || i.getAttribute("aria-label")).trim())) return true;
    }
    if (e.tagName === "INPUT" && ["submit", "button", "reset"].includes(e.type) && e.value) return true;
    return false;
  };
  for (const e of root.querySelectorAll("input:not([type=hidden]),select,textarea,button,a[href],summary,[role=button],[tabindex]")) {
    if (!shown(e)) continue;
    if (!named(e) && !e.matches("[tabindex='-1']")) problems.push("no accessible name: " + where(e));
    if (e.tabIndex > 0) problems.push("tabindex " + e.tabIndex + " reorders the keyboard: " + where(e));
  }
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1);
  };
  const background = (e) => {
    const layers = [];
    for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const seen = new Set();
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    if (!t.nodeValue.trim()) continue;
    const e = t.parentElement;
    if (!e || seen.has(e) || !shown(e) || e.closest("[disabled],[aria-disabled=true],.sr-only,canvas,option")) continue;
    seen.add(e);
    const cs = getComputedStyle(e);
    if (cs.clip === "rect(0px, 0px, 0px, 0px)") continue;
    const fg = parse(cs.color);
    if (!fg) continue;
    const bg = background(e);
    const f = over(fg, bg);
    const l1 = lum(f), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    if (ratio < need) problems.push("contrast " + ratio.toFixed(2) + " < " + need + " (" + cs.color + " on rgb(" + bg.slice(0, 3).map(Math.round).join(",") + ")): " + where(e));
  }
  if (document.documentElement.scrollWidth > document.documentElement.clientWidth + 1) {
    const cw = document.documentElement.clientWidth;
    const over = (e) => shown(e) && e.getBoundingClientRect().right > cw + 1 && !e.parentElement?.closest(".table-wrap");
    // The innermost elements that stick out are the ones to fix.
    const culprits = [...root.querySelectorAll("*")].filter((e) => over(e) && ![...e.children].some(over)).slice(0, 3).map(where);
    problems.push("the page is " + document.documentElement.scrollWidth + " px wide in a " + cw + " px window: " + culprits.join("; "));
  }
  return problems;
})`

// Audit checks the shown part of the page inside the element that scope
// (a CSS selector) finds: names of controls, tab order, text contrast
// and width, as auditJS says. It returns the problems found, none when
// the page passes; tests assert on the list so that a failure says what
// and where.
func (p *Page) Audit(scope string) []string {
	p.T.Helper()
	q, _ := json.Marshal(scope)
	out, err := chromedp.Run(p.Ctx, chromedp.Evaluate[[]string](auditJS+"("+string(q)+")"))
	if err != nil {
		p.T.Fatalf("audit %s: %v", scope, err)
	}
	return out
}

// focusJS describes the focused element: its name, whether it shows that
// it has the focus (an outline or a ring of box-shadow), whether it is in
// the window, and whether it lies inside the element scope finds.
const focusJS = `((scope) => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const cs = getComputedStyle(e);
  const r = e.getBoundingClientRect();
  const label = (e.getAttribute("aria-label") || e.textContent || "").trim().slice(0, 30);
  return {
    name: e.id ? "#" + e.id : e.tagName.toLowerCase() + (label ? ' "' + label + '"' : ""),
    ring: (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) || (!!cs.boxShadow && cs.boxShadow !== "none"),
    shown: r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth,
    inside: !!document.querySelector(scope)?.contains(e),
  };
})`

// Focus is where one press of Tab put the keyboard focus.
type Focus struct {
	Name   string `json:"name"`   // #id, or the tag and its label
	Ring   bool   `json:"ring"`   // an outline or box-shadow shows it
	Shown  bool   `json:"shown"`  // it is inside the window
	Inside bool   `json:"inside"` // it is inside the scope Tab was given
}

// Tab presses the Tab key up to n times from where the focus is and
// returns what each press focused, in order (the page itself, between the
// last control and the browser's own, is left out). A Focus without Ring
// or Shown is a keyboard user who cannot see where they are.
func (p *Page) Tab(n int, scope string) []Focus {
	p.T.Helper()
	q, _ := json.Marshal(scope)
	var out []Focus
	for range n {
		if err := chromedp.Do(p.Ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			p.T.Fatalf("press Tab: %v", err)
		}
		f, err := chromedp.Run(p.Ctx, chromedp.Evaluate[*Focus](focusJS+"("+string(q)+")"))
		if err != nil {
			p.T.Fatalf("focused element: %v", err)
		}
		if f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// TimeZone makes the page's clock read in zone (an IANA name such as
// "Pacific/Chatham"), as if the viewer sat there; "" restores the
// machine's.
func (p *Page) TimeZone(zone string) {
	p.T.Helper()
	if _, err := chromedp.Call(p.Ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
		p.T.Fatalf("time zone %s: %v", zone, err)
	}
}

// Unseen lists the stops of a Tab walk where the focus could not be seen.
func Unseen(walk []Focus) []string {
	var bad []string
	for _, f := range walk {
		switch {
		case !f.Ring:
			bad = append(bad, f.Name+" (no focus ring)")
		case !f.Shown:
			bad = append(bad, f.Name+" (off screen)")
		}
	}
	return bad
}
