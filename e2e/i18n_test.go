package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
)

// cutOffJS lists the texts under the elements matching sel that do not fit
// their box (cut off, or spilling out of it) or hang off the side of the
// viewport: Russian runs longer than English, and every control must still
// read whole. (A page may scroll down; menus are checked whole with
// waitOnScreen.)
const cutOffJS = `((sel) => {
  const out = [];
  const W = document.documentElement.clientWidth;
  for (const root of document.querySelectorAll(sel)) {
    if (root.closest('[hidden]') || getComputedStyle(root).display === 'none') continue;
    const els = [root, ...root.querySelectorAll('button, a, p, h1, h2, label, dt, dd, .menu-label, .menu-hint, .select-caption, .btn-text, .e2ee-pill-text')];
    for (const e of els) {
      if (e.closest('[hidden]') || getComputedStyle(e).display === 'none' || getComputedStyle(e).display === 'inline') continue;
      const r = e.getBoundingClientRect();
      if (r.width <= 1 || r.height <= 1) continue; // nothing, or visually hidden (read by screen readers only)
      const name = (e.id ? '#' + e.id : e.tagName.toLowerCase() + '.' + e.className) + ' "' + (e.textContent || e.getAttribute('aria-label') || '').replace(/\s+/g, ' ').trim().slice(0, 40) + '"';
      if (e.scrollWidth > e.clientWidth + 1) out.push(name + ' is ' + e.scrollWidth + ' px wide in ' + e.clientWidth);
      if (r.left < -0.5 || r.right > W + 0.5) out.push(name + ' hangs off the side of the viewport');
    }
  }
  return out.join('; ');
})`

// fits checks that everything under sel reads whole and lies on screen.
func fits(t *testing.T, ctx, tab context.Context, sel string) {
	t.Helper()
	waitFor(t, ctx, sel+" fitting its text", func() (bool, string) {
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](cutOffJS+"("+jsString(sel)+")"))
		if err != nil {
			return false, err.Error()
		}
		return s == "", s
	})
}

// attr is an attribute of the element sel ("" without one).
func attr(t *testing.T, tab context.Context, sel, name string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+jsString(sel)+`); return (e && e.getAttribute(`+jsString(name)+`)) || ''; })()`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// text is the text of the element sel, spaces collapsed.
func text(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.textContent.replace(/\s+/g, ' ').trim() : ''; })()`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitText waits until the element sel's text contains want.
func waitText(t *testing.T, ctx, tab context.Context, sel, want string) {
	t.Helper()
	waitFor(t, ctx, sel+" saying "+want, func() (bool, string) {
		s := text(t, tab, sel)
		return strings.Contains(s, want), s
	})
}

// wantAttrs checks attributes of elements: selector, attribute, value.
func wantAttrs(t *testing.T, tab context.Context, want [][3]string) {
	t.Helper()
	for _, w := range want {
		if got := attr(t, tab, w[0], w[1]); got != w[2] {
			t.Errorf("%s %s = %q, want %q", w[0], w[1], got, w[2])
		}
	}
}

// A browser whose language is Russian (Chromium's --lang=ru; headless
// Chromium takes navigator.languages from --accept-lang alone) shows Parley in
// Russian: the landing and not-found pages, the lobby, the toolbar's names, the
// language and More menus, the settings, with counts in Russian's plural forms
// and no accessibility violation axe-core finds. Choosing English in Settings turns it all to English at
// once, in the call, and the choice outlives a reload; the lobby's own menu
// turns it back. Russian runs longer than
// English: on a laptop and on a phone every text fits and stays on screen.
func TestRussianInterface(t *testing.T) {
	axe := axeSource(t)
	srv, _ := startRecordingServer(t)
	const pass = "#e2ee=correct-horse"
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			browser := newBrowser(t, chromedp.Flag("lang", "ru"), chromedp.Flag("accept-lang", "ru"))
			room := "peregovory-" + vp.name
			hostURL := strings.Replace(claimsURL(t, srv, auth.Claims{Subject: "olga", Name: "Ольга Смирнова", Room: room, Languages: []string{"en", "ru"},
				Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe, auth.GrantModerate, auth.GrantRecord}}), "&autojoin=1", "", 1) + pass
			guestURL := claimsURL(t, srv, auth.Claims{Subject: "james", Name: "James Whitfield", Room: room,
				Grants: []auth.Grant{auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe}}) + pass

			host := newTab(t, browser)
			if err := chromedp.Do(host, emulate(vp)); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(host, chromedp.Navigate(hostURL)); err != nil {
				t.Fatal(err)
			}
			langs, err := chromedp.Run(host, chromedp.Evaluate[[]string](`navigator.languages`))
			if err != nil || len(langs) == 0 || langs[0] != "ru" {
				t.Fatalf("navigator.languages = %v (%v), want ru first", langs, err)
			}

			// The lobby.
			waitText(t, ctx, host, "#join-btn", "Присоединиться")
			waitFor(t, ctx, "the camera on in the lobby", func() (bool, string) {
				s := attr(t, host, "#lobby-cam", "aria-label")
				return s == "Выключить камеру", s
			})
			wantAttrs(t, host, [][3]string{
				{"html", "lang", "ru"},
				{"#lobby-mic", "aria-label", "Выключить микрофон"},
				{"#preview-col", "aria-label", "Проверка камеры и микрофона"},
				{"#sel-mic-label", "data-i18n", "devices.mic"},
			})
			if got := text(t, host, "#sel-mic-label"); got != "Микрофон" {
				t.Errorf("the microphone menu is named %q", got)
			}
			for sel, want := range map[string]string{
				".eyebrow":        "Готовы присоединиться?",
				"#lobby-sub":      "Проверьте камеру и микрофон перед входом.",
				"#joining-as":     "Вы входите как Ольга Смирнова",
				".switch-title":   "Сквозное шифрование",
				"#e2ee-from-link": "из вашей ссылки",
			} {
				if got := text(t, host, sel); got != want {
					t.Errorf("%s says %q, want %q", sel, got, want)
				}
			}
			if err := evalVoid(host, `document.getElementById('join-btn').scrollIntoView({block: 'nearest'})`); err != nil {
				t.Fatal(err)
			}
			fits(t, ctx, host, ".join-col")
			screenshot(t, host, "ru-"+vp.name+"-lobby")

			// The call, with someone else in it.
			click(t, host, "#join-btn")
			if err := waitJoined(ctx, host); err != nil {
				t.Fatal(err)
			}
			guest := joinTab(t, ctx, browser, guestURL)
			_ = guest
			waitText(t, ctx, host, "#stage", "James Whitfield")
			waitFor(t, ctx, "the toolbar named in Russian", func() (bool, string) {
				s := attr(t, host, "#btn-people", "aria-label")
				return s == "Показать участников, участников: 2", s
			})
			wantAttrs(t, host, [][3]string{
				{"#btn-mic", "aria-label", "Выключить микрофон"},
				{"#btn-cam", "aria-label", "Выключить камеру"},
				{"#btn-leave", "aria-label", "Выйти из встречи"},
				{"#btn-lang", "aria-label", "Язык: исходный звук"},
				{"#btn-chat", "aria-label", "Показать чат"},
				{"#btn-more", "aria-label", "Другие действия"},
				{".controls", "aria-label", "Управление встречей"},
			})
			if got := text(t, host, ".tile.self .tile-name"); got != "Ольга Смирнова (вы)" {
				t.Errorf("own tile says %q", got)
			}
			fits(t, ctx, host, ".controls")
			screenshot(t, host, "ru-"+vp.name+"-call")

			// Counts take Russian's three plural forms.
			forms, err := chromedp.Run(host, chromedp.Evaluate[string](`import('/assets/i18n.js').then((m) => [1, 2, 5, 11, 21, 22].map((n) => m.t('stage.listening', {count: n})).join(', '))`, chromedp.EvalAwaitPromise))
			if want := "1 слушатель, 2 слушателя, 5 слушателей, 11 слушателей, 21 слушатель, 22 слушателя"; err != nil || forms != want {
				t.Errorf("plural forms: %q (%v), want %q", forms, err, want)
			}

			// The record's and the encryption's popovers, the longest texts of the call.
			if err := evalVoid(host, `parleyTest.record(true)`); err != nil {
				t.Fatal(err)
			}
			waitOnScreen(t, ctx, host, "#rec-pill")
			waitText(t, ctx, host, "#rec-pill", "Запись")
			click(t, host, "#rec-pill")
			waitOnScreen(t, ctx, host, "#rec-pop")
			waitText(t, ctx, host, "#rec-pop", "Эта встреча записывается")
			waitText(t, ctx, host, "#rec-pop", "Подписано вами контрольных точек")
			fits(t, ctx, host, "#rec-pop")
			screenshot(t, host, "ru-"+vp.name+"-record")
			click(t, host, "#rec-pill")
			click(t, host, "#e2ee-pill")
			waitOnScreen(t, ctx, host, "#e2ee-pop")
			waitText(t, ctx, host, "#e2ee-pop", "Эта встреча защищена сквозным шифрованием")
			waitFor(t, ctx, "the key's renewals counted in Russian", func() (bool, string) {
				s := text(t, host, "#e2ee-renewed")
				return strings.HasPrefix(s, "обновлён ") && strings.Contains(s, " раз"), s
			})
			fits(t, ctx, host, "#e2ee-pop")
			screenshot(t, host, "ru-"+vp.name+"-e2ee")
			click(t, host, "#e2ee-pill")

			// The language menu: the room's languages named in Russian.
			click(t, host, "#btn-lang")
			waitOnScreen(t, ctx, host, "#lang-menu")
			for _, want := range []string{"Слушать", "Исходный звук", "Английский", "Русский", "нет переводчика", "Громкость оригинала при переводе"} {
				waitText(t, ctx, host, "#lang-menu", want)
			}
			fits(t, ctx, host, "#lang-menu")
			screenshot(t, host, "ru-"+vp.name+"-language")
			checkAxe(t, host, axe, vp.name+" Russian call, language menu open")
			if err := chromedp.Do(host, chromedp.KeyEvent("\x1b")); err != nil {
				t.Fatal(err)
			}

			// Settings: on a phone under More.
			settings := "#btn-settings"
			if vp.phone {
				settings = "#more-settings"
				click(t, host, "#btn-more")
				waitOnScreen(t, ctx, host, "#more-menu")
				for _, want := range []string{"Показать экран", "Остановить запись", "Открыть запись", "Настройки"} {
					waitText(t, ctx, host, "#more-menu", want)
				}
				fits(t, ctx, host, "#more-menu")
				screenshot(t, host, "ru-"+vp.name+"-more")
			}
			click(t, host, settings)
			waitOnScreen(t, ctx, host, "#settings")
			waitText(t, ctx, host, "#settings-title", "Настройки")
			waitText(t, ctx, host, "#ui-lang-label", "Язык интерфейса")
			if got, _ := chromedp.Run(host, chromedp.Evaluate[string](`[...document.querySelectorAll('#ui-lang option')].map((o) => o.textContent).join(' ')`)); got != "English Русский" {
				t.Errorf("the language menu offers %q, want each language in itself", got)
			}
			if got, _ := chromedp.Run(host, chromedp.Evaluate[string](`document.getElementById('ui-lang').value`)); got != "ru" {
				t.Errorf("the language menu shows %q, want ru", got)
			}
			fits(t, ctx, host, "#settings")
			screenshot(t, host, "ru-"+vp.name+"-settings")

			// English, at once, in the call.
			if err := evalVoid(host, `(() => { const s = document.getElementById('ui-lang'); s.focus(); s.value = 'en'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`); err != nil {
				t.Fatal(err)
			}
			waitText(t, ctx, host, "#settings-title", "Settings")
			wantAttrs(t, host, [][3]string{
				{"html", "lang", "en"},
				{"#btn-mic", "aria-label", "Turn off microphone"},
				{"#btn-leave", "aria-label", "Leave the meeting"},
				{"#btn-lang", "aria-label", "Language: original audio"},
				{"#btn-people", "aria-label", "Show participants, 2 in the meeting"},
				{"#settings-close", "aria-label", "Close settings"},
			})
			for sel, want := range map[string]string{
				"#ui-lang-label":        "Language",
				".tile.self .tile-name": "Ольга Смирнова (You)",
				"#rec-confirm-cancel":   "Keep recording",
				"#listen-title":         "Listen to",
			} {
				if got := text(t, host, sel); got != want {
					t.Errorf("after choosing English, %s says %q, want %q", sel, got, want)
				}
			}
			screenshot(t, host, "ru-"+vp.name+"-settings-english")
			click(t, host, "#settings-close")
			click(t, host, "#btn-lang")
			waitText(t, ctx, host, "#lang-menu", "Original audio")
			waitText(t, ctx, host, "#lang-menu", "Russian")
			if err := chromedp.Do(host, chromedp.KeyEvent("\x1b")); err != nil {
				t.Fatal(err)
			}

			// The choice outlives the page: the lobby after a reload is English.
			if err := chromedp.Do(host, chromedp.Reload()); err != nil {
				t.Fatal(err)
			}
			waitText(t, ctx, host, "#join-btn", "Join now")
			if got := attr(t, host, "html", "lang"); got != "en" {
				t.Errorf("after a reload the page's language is %q, want en", got)
			}

			// The lobby has a language menu of its own: back to Russian before joining.
			if got, _ := chromedp.Run(host, chromedp.Evaluate[string](`document.getElementById('lobby-lang').value`)); got != "en" {
				t.Errorf("the lobby's language menu shows %q, want en", got)
			}
			if err := evalVoid(host, `(() => { const s = document.getElementById('lobby-lang'); s.value = 'ru'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`); err != nil {
				t.Fatal(err)
			}
			waitText(t, ctx, host, "#join-btn", "Присоединиться")
			waitText(t, ctx, host, "#lobby-sub", "Проверьте камеру и микрофон перед входом.")
			if got := attr(t, host, "#lobby-cam", "aria-label"); got != "Выключить камеру" && got != "Включить камеру" {
				t.Errorf("the lobby's camera button is named %q", got)
			}
			fits(t, ctx, host, ".brandbar")
			screenshot(t, host, "ru-"+vp.name+"-lobby-again")

			// The landing page and the page of an address that leads nowhere, in a tab
			// of their own, after the call. (Opened first, in a fresh profile, they were
			// followed now and then by a room page whose signing key never came: its
			// IndexedDB did not answer, and an encrypted join waits for the key.)
			pages := newTab(t, browser)
			if err := chromedp.Do(pages, emulate(vp)); err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct{ path, sel, want string }{
				{"/", "h1", "Защищённые видеовстречи на вашем собственном сервере."},
				{"/no/such/page", "h1", "По этому адресу ничего нет"},
			} {
				if err := chromedp.Do(pages, chromedp.Navigate(srv.URL()+p.path)); err != nil {
					t.Fatal(err)
				}
				waitText(t, ctx, pages, p.sel, p.want)
				if got := attr(t, pages, "html", "lang"); got != "ru" {
					t.Errorf("%s: the page's language is %q, want ru", p.path, got)
				}
				fits(t, ctx, pages, "main")
				screenshot(t, pages, "ru-"+vp.name+"-page"+strings.ReplaceAll(p.path, "/", "-"))
			}
		})
	}
}
