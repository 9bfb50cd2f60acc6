package lab_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/poll"
)

// chromium is Debian's browser, which the console's tests drive.
const chromium = "chromium"

// artifactsDir is where the console's screenshots go: $CALICO_ARTIFACTS
// or a directory under the system's temporary one.
func artifactsDir(t *testing.T) string {
	d := os.Getenv("CALICO_ARTIFACTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), "calico-artifacts")
	}
	d = filepath.Join(d, "console")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestConsole logs in to the lab's console in a real browser (Debian's
// Chromium, headless) as a user would, with the demo's traffic:
//   - the login page refuses a bad token and accepts the administrator's;
//   - the dashboard shows the nodes' health and the denied traffic with the
//     policy that denied it;
//   - the service graph shows the demo namespace, and drilled into it the
//     denied edge from the frontend to the database, and the database
//     workload's pods;
//   - the dark theme (screenshots);
//   - the flows table filtered by action shows the denied flow, and its
//     trace names the policy that decided it, as the flow log says;
//   - the DNS tab shows the frontends' lookups of the backend's Service,
//     answered by CoreDNS;
//   - the endpoints page lists the demo's pods with their node and the
//     policies that apply, in order;
//   - a packet capture started from a frontend pod there runs, is
//     stopped, and its zip downloads;
//   - on the policy board, a new policy (the frontend may reach the
//     database) is previewed (the denied flows it would allow are
//     listed), staged, enforced, and then those flows are allowed; a
//     tier is created and deleted;
//   - a network set is created through the form, a wrong network is
//     refused as typed, and a reader's save is refused by the API server
//     and the console says so;
//   - the timeline shows the network set's creation by the administrator,
//     with what was created;
//   - a user without log access sees no flows, and is told why.
//
// Screenshots of each page are saved (artifactsDir).
func TestConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	netnstest.Require(t)
	netnstest.RequireBinaries(t, "bird", chromium)
	cfg := newConfig(t)
	cfg.Nodes = 2
	cfg.FlowLogsFlushInterval = 3 * time.Second
	var out strings.Builder
	if err := lab.Up(context.Background(), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "The console is at "+cfg.ManagerURL()) {
		t.Errorf("up does not print the console's URL:\n%s", out.String())
	}
	if err := lab.Demo(context.Background(), cfg, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	var envOut strings.Builder
	if err := lab.Env(cfg, &envOut); err != nil {
		t.Fatal(err)
	}
	env := labEnv(t, envOut.String(), "MANAGER_URL", "MANAGER_TOKEN", "CALICO_LAB_CA")
	api := labtest.NewConsole(t, env)

	// The demo's denied flow, as the UI API has it: the policy that
	// decided it is what the trace must show.
	var denied map[string]any
	poll.Until(t, 90*time.Second, "a denied demo flow in the log store", func() bool {
		var page struct {
			Items []map[string]any `json:"items"`
		}
		if api.Post(env["MANAGER_TOKEN"], "/api/flows/logs", `{"namespace":"demo","action":"deny","reporter":"dst"}`, &page) != 200 || len(page.Items) == 0 {
			return false
		}
		denied = page.Items[0]
		return true
	})
	enforced, _ := denied["policies"].(map[string]any)["enforced_policies"].([]any)
	if len(enforced) == 0 {
		t.Fatalf("the denied flow has no policies: %v", denied)
	}
	decidingName := strings.Split(fmt.Sprint(enforced[len(enforced)-1]), "|")[2]

	// A user who may read Kubernetes objects but no logs.
	noLogs := labtest.ServiceAccountToken(t, cfg, "console-no-logs", "view")

	shots := artifactsDir(t)
	bctx, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1440, 900),
		// The lab's CA is not the system's; the test trusts it for the
		// API calls above, the browser is told to accept it.
		chromedp.Flag("ignore-certificate-errors", true))...)
	defer cancel()
	bctx, cancel = chromedp.NewContext(bctx)
	defer cancel()
	// The first run starts the browser, and must not carry a timeout.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	// On failure: what the page says, and a screenshot, read with a
	// context of their own (the step's may have run out).
	failed := func(what string, err error) {
		t.Helper()
		fctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		body, _ := chromedp.Run(fctx, chromedp.Text(chromedp.CSS("body")))
		_ = chromedp.Do(fctx, shot("failed"))
		t.Fatalf("%s: %v\nthe page (failed.png) says:\n%s", what, err, body)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 40*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			failed(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return v
	}
	// paste replaces a text area's content as a paste would, so that the
	// page sees the change.
	paste := func(sel, value string) chromedp.Action[chromedp.Void] {
		v, _ := json.Marshal(value)
		js := fmt.Sprintf(`(() => { const el = document.querySelector(%q);
			Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value").set.call(el, %s);
			el.dispatchEvent(new Event("input", {bubbles: true})); return true })()`, sel, v)
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](js)(ctx, tg)
			return err
		})
	}
	login := func(token string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(env["MANAGER_URL"] + "/graph?range=15m"),
			chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), token),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		}
	}

	do("a bad token is refused", append(login("not-a-token"), chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)), shot("login-refused"))...)
	if msg := text(`[role="alert"]`); !strings.Contains(msg, "refused") {
		t.Errorf("the login page says %q for a bad token", msg)
	}

	do("log in and see the demo namespace", append(login(env["MANAGER_TOKEN"]),
		chromedp.WaitVisible(chromedp.CSS(`g.node[aria-label^="namespace demo"]`)), shot("graph-namespaces"))...)
	deniedEdge := chromedp.CSS(`g.edge.denied[aria-label^="frontend-"]`)
	// clickEdge clicks the middle of an edge's line, as a person would
	// (the middle of its bounding box may be off a bent line).
	clickEdge := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			pt, err := chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => { const p = document.querySelector(%q + " path.line");
				const m = p.getPointAtLength(p.getTotalLength() / 2), c = p.getScreenCTM();
				return [m.x * c.a + m.y * c.c + c.e, m.x * c.b + m.y * c.d + c.f]; })()`, sel))(ctx, tg)
			if err != nil {
				return err
			}
			_, err = chromedp.MouseClickXY(pt[0], pt[1])(ctx, tg)
			return err
		})
	}
	do("drill into demo: the denied edge", chromedp.DoubleClick(chromedp.CSS(`g.node[aria-label^="namespace demo"]`)),
		chromedp.WaitVisible(deniedEdge), clickEdge(`g.edge.denied[aria-label^="frontend-"]`),
		chromedp.WaitVisible(chromedp.CSS(`.side-panel .policies`)), shot("graph-demo"))
	if a, err := chromedp.Run(ctx, chromedp.AttributeValue(deniedEdge, "aria-label")); err != nil || !strings.Contains(a.Value, "database-") {
		t.Errorf("the denied edge is %q (%v), want frontend to database", a.Value, err)
	}
	do("the database workload's pods", chromedp.Click(chromedp.CSS(`g.node[aria-label^="workload database-"]`)),
		chromedp.WaitVisible(chromedp.CSS(`ul[aria-label="Pods"] li`)), shot("graph-workload"))
	if pods := text(`ul[aria-label="Pods"]`); !strings.Contains(pods, "database-") || !strings.Contains(pods, "on node-") {
		t.Errorf("the database workload's pods: %q, want its pod and node", pods)
	}

	do("the flows table, denied only, and a trace", chromedp.Navigate(env["MANAGER_URL"]+"/flows?range=15m&namespace=demo&action=deny&reporter=dst"),
		chromedp.WaitVisible(chromedp.CSS(`table.flows tbody tr`)),
		chromedp.Click(chromedp.CSS(`table.flows tbody tr button.link`)),
		chromedp.WaitVisible(chromedp.CSS(`ol.trace li.decided`)), shot("flows-denied"))
	if trace := text(`ol.trace li.decided`); !strings.Contains(trace, decidingName) || !strings.Contains(trace, "deny") {
		t.Errorf("the trace's deciding line is %q, want %s denying", trace, decidingName)
	}

	// The DNS tab: the demo's frontends resolve the backend's Service
	// through kube-dns, and their node logs the answers (the page reads
	// them once, so first wait until the log store has one).
	poll.Until(t, 90*time.Second, "a demo lookup in the log store", func() bool {
		var page struct {
			Items []map[string]any `json:"items"`
		}
		return api.Post(env["MANAGER_TOKEN"], "/api/dns/logs", `{"namespace":"demo","qname":"backend.*"}`, &page) == 200 && len(page.Items) > 0
	})
	do("the DNS tab", chromedp.Navigate(env["MANAGER_URL"]+"/flows?view=dns&range=15m&namespace=demo&qname=backend.*"),
		chromedp.WaitVisible(chromedp.Search(`//table[@aria-label="DNS logs"]//td[contains(., "backend.demo.svc.cluster.local")]`)), shot("flows-dns"))
	if dns := text(`table[aria-label="DNS logs"] tbody tr`); !strings.Contains(dns, "demo/frontend-") || !strings.Contains(dns, "NOERROR") ||
		!strings.Contains(dns, "kube-system/coredns-") {
		t.Errorf("the DNS tab's first row says %q, want a frontend's NOERROR answer from CoreDNS", dns)
	}

	do("the dashboard", chromedp.Navigate(env["MANAGER_URL"]+"/dashboard?range=15m"),
		chromedp.WaitVisible(chromedp.CSS(`ul[aria-label="Cluster health"]`)),
		chromedp.WaitVisible(chromedp.Search(`//table//td[contains(., "`+decidingName+`")]`)), shot("dashboard"))
	if health := strings.ToLower(text(`ul[aria-label="Cluster health"]`)); !strings.Contains(health, "calico-node\n2 / 2") {
		t.Errorf("the dashboard's health cards say %q, want calico-node of 2", health)
	}
	// The dark theme, for a person to look at: the dashboard and the
	// graph's colours; then back to light.
	toDark, toLight := chromedp.CSS(`button[aria-label="Switch to dark theme"]`), chromedp.CSS(`button[aria-label="Switch to light theme"]`)
	do("the dark theme", chromedp.Click(toDark), chromedp.WaitVisible(chromedp.CSS(`html[data-theme="dark"]`)), shot("dashboard-dark"),
		chromedp.Navigate(env["MANAGER_URL"]+"/graph?range=15m&focus=demo"), chromedp.WaitVisible(deniedEdge), clickEdge(`g.edge.denied[aria-label^="frontend-"]`),
		chromedp.WaitVisible(chromedp.CSS(`.side-panel .policies`)), shot("graph-demo-dark"),
		chromedp.Click(toLight), chromedp.WaitVisible(chromedp.CSS(`html[data-theme="light"]`)))

	do("the endpoints of demo", chromedp.Navigate(env["MANAGER_URL"]+"/endpoints?namespace=demo"),
		chromedp.WaitVisible(chromedp.CSS(`table.endpoints tbody tr`)), shot("endpoints"))
	if eps := text(`table.endpoints`); !strings.Contains(eps, "database-") || !strings.Contains(eps, "pass-demo") || !strings.Contains(eps, "node-") {
		t.Errorf("the endpoints page says:\n%s\nwant the database pod, its node and the security tier's pass-demo", eps)
	}

	// Packet capture, started from a frontend pod on the endpoints page:
	// the form comes with the pod's namespace and labels; a 1-minute
	// TCP/8080 capture starts, captures the frontends' calls to the
	// backend, is stopped, and its zip downloads in the browser.
	choose := func(sel, value string) chromedp.Action[chromedp.Void] {
		js := fmt.Sprintf(`(() => { const el = document.querySelector(%q);
			Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, "value").set.call(el, %q);
			el.dispatchEvent(new Event("change", {bubbles: true})); return true })()`, sel, value)
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](js)(ctx, tg)
			return err
		})
	}
	captureState := func(state string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.Search(`//table[contains(@class,"captures")]//span[contains(@class,"capture-state") and text()="` + state + `"]`))
	}
	do("a capture started from a frontend pod",
		chromedp.Click(chromedp.Search(`//table[contains(@class,"endpoints")]//tr[contains(., "frontend-")]//button[text()="Capture"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="New packet capture"]`)),
		choose(`select[aria-label="Filter 1 protocol"]`, "TCP"),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="Filter 1 ports"]`), "8080"),
		choose(`select[name="duration"]`, "1"),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="New packet capture"] .check.ok`)), shot("capture-new"))
	if sel, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name="selector"]`))); err != nil || sel != `app == "frontend" && tier == "web"` {
		t.Errorf("the capture form's selector is %q (%v), want the pod's labels", sel, err)
	}
	do("the capture runs", chromedp.Click(chromedp.Search(`//button[text()="Start capture"]`)), captureState("Capturing"), shot("captures-running"))
	downloads := t.TempDir()
	do("stop it and download it", chromedp.Click(chromedp.Search(`//table[contains(@class,"captures")]//button[text()="Stop"]`)),
		captureState("Finished"), shot("captures-finished"),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: "allow", DownloadPath: downloads})
			return err
		}),
		chromedp.Click(chromedp.Search(`//table[contains(@class,"captures")]//button[text()="Download"]`)))
	poll.Until(t, 20*time.Second, "the capture's zip to land in the browser's downloads", func() bool {
		zips, _ := filepath.Glob(filepath.Join(downloads, "capture-*.zip"))
		if len(zips) != 1 {
			return false
		}
		zr, err := zip.OpenReader(zips[0])
		if err != nil {
			return false
		}
		defer zr.Close()
		return len(zr.File) > 0 && strings.HasPrefix(zr.File[0].Name, "frontend-")
	})

	// The policy board: a new policy, previewed against the recorded
	// flows, staged, enforced; the traffic it allows then appears.
	defaultTier := `//section[@aria-label="tier default"]`
	do("the policy board", chromedp.Navigate(env["MANAGER_URL"]+"/policies?range=15m"),
		chromedp.WaitVisible(chromedp.Search(defaultTier+`//li[contains(@aria-label, "demo/database")]`)), shot("policies"))
	do("a new policy, previewed", chromedp.Click(chromedp.Search(defaultTier+`//button[text()="New policy"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#policy-yaml`)), paste(`#policy-yaml`, allowFrontendToDatabase),
		chromedp.WaitVisible(chromedp.CSS(`.policy-editor .check.ok`)),
		chromedp.Click(chromedp.Search(`//button[text()="Preview"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Flows that would change verdict"] tbody tr`)), shot("policy-preview"))
	if p := text(`table[aria-label="Flows that would change verdict"]`); !strings.Contains(p, "frontend-") || !strings.Contains(p, "database-") ||
		!strings.Contains(p, "Deny") || !strings.Contains(p, "Allow") {
		t.Errorf("the preview lists:\n%s\nwant frontend to database going from Deny to Allow", p)
	}
	do("stage it", chromedp.Click(chromedp.Search(`//button[text()="Save as staged"]`)),
		chromedp.WaitVisible(chromedp.CSS(`li.policy-card.staged[aria-label="staged policy demo/allow-frontend-db"]`)), shot("policy-staged"))
	enforcedAt := time.Now()
	do("enforce it", chromedp.Click(chromedp.Search(`//li[@aria-label="staged policy demo/allow-frontend-db"]//button[text()="Enforce"]`)),
		chromedp.WaitVisible(chromedp.CSS(`li.policy-card[aria-label="namespaced policy demo/allow-frontend-db"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`li.policy-card.staged[aria-label="staged policy demo/allow-frontend-db"]`)), shot("policy-enforced"))
	// A tier, created from the board and deleted again (the page's
	// confirmation accepted).
	const newTier = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: console-test\nspec:\n  order: 450\n  defaultAction: Pass\n"
	acceptConfirm := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`window.confirm = () => true; true`)(ctx, tg)
		return err
	})
	do("a new tier", chromedp.Click(chromedp.Search(`//button[text()="New tier"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tier-yaml`)), paste(`#tier-yaml`, newTier),
		chromedp.WaitVisible(chromedp.CSS(`[aria-label="New tier"] .check.ok`)),
		chromedp.Click(chromedp.Search(`//div[@aria-label="New tier"]//button[text()="Save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`section[aria-label="tier console-test"]`)), shot("tier-new"))
	if head := text(`section[aria-label="tier console-test"] header`); !strings.Contains(head, "order 450") || !strings.Contains(head, "then Pass") {
		t.Errorf("the new tier's column says %q, want order 450, then Pass", head)
	}
	do("delete the tier", acceptConfirm, chromedp.Click(chromedp.CSS(`button[aria-label="Delete tier console-test"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`section[aria-label="tier console-test"]`)))

	// The board's live counters: the security tier's pass-demo passes
	// every demo connection.
	passes := `li.policy-card[aria-label="global policy security.pass-demo"] .count.pass`
	poll.Until(t, 60*time.Second, "pass-demo's pass counter on the board", func() bool {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(pctx, chromedp.Navigate(env["MANAGER_URL"]+"/policies?range=15m"), chromedp.WaitVisible(chromedp.CSS(passes))); err != nil {
			return false
		}
		v, err := chromedp.Run(pctx, chromedp.Text(chromedp.CSS(passes)))
		n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(v, "↷")))
		return err == nil && n > 0
	})
	do("the board with its counters", shot("policies-counters"))
	poll.Until(t, 90*time.Second, "the frontend's calls to the database allowed", func() bool {
		var page struct {
			Items []map[string]any `json:"items"`
		}
		q := fmt.Sprintf(`{"from":%q,"source_namespace":"demo","source_name":"frontend-*","dest_name":"database-*","action":"allow","reporter":"dst"}`,
			enforcedAt.UTC().Format(time.RFC3339))
		return api.Post(env["MANAGER_TOKEN"], "/api/flows/logs", q, &page) == 200 && len(page.Items) > 0
	})

	// Network sets: created through the form, checked as typed (a dry run
	// of the write), refused by the API server when wrong.
	do("create a network set", chromedp.Navigate(env["MANAGER_URL"]+"/networksets"),
		chromedp.Click(chromedp.Search(`//button[text()="New network set"]`)),
		chromedp.SendKeys(chromedp.CSS(`form.editor input[name="name"]`), "blocked"),
		chromedp.SendKeys(chromedp.CSS(`form.editor textarea[name="labels"]`), "role=blocked"),
		chromedp.SendKeys(chromedp.CSS(`form.editor textarea[name="nets"]`), "10.9.9.0/24"),
		chromedp.WaitVisible(chromedp.CSS(`.check.ok`)), shot("networkset-new"),
		chromedp.Click(chromedp.Search(`//button[text()="Save"]`)),
		chromedp.WaitVisible(chromedp.Search(`//table//td[contains(., "default/blocked")]`)), shot("networksets"))
	do("a wrong network is refused as typed", chromedp.Navigate(env["MANAGER_URL"]+"/networksets?edit=NetworkSet/default/blocked"),
		chromedp.SendKeys(chromedp.CSS(`form.editor textarea[name="nets"]`), "\n10.9.9.0/33"),
		chromedp.WaitVisible(chromedp.CSS(`.check.bad`)), shot("networkset-invalid"))
	if msg := text(`.check.bad`); !strings.Contains(msg, "10.9.9.0/33") {
		t.Errorf("the editor says %q for a bad CIDR, want the API server's refusal naming it", msg)
	}

	// The timeline: the admin's creation of the set, as the audit log has
	// it, with what was created.
	do("the timeline shows the network set's creation", chromedp.Navigate(env["MANAGER_URL"]+"/timeline?type=calico&range=15m&name=blocked"),
		chromedp.WaitVisible(chromedp.Search(`//ol[contains(@class,"timeline-list")]//button[contains(., "create networksets default/blocked")]`)),
		chromedp.Click(chromedp.Search(`//ol[contains(@class,"timeline-list")]//button[contains(., "create networksets default/blocked")]`)),
		chromedp.WaitVisible(chromedp.CSS(`pre.diff .add`)), shot("timeline"))
	if d := text(`pre.diff`); !strings.Contains(d, "10.9.9.0/24") {
		t.Errorf("the timeline's change shows:\n%s\nwant the created network", d)
	}

	// Security: a rule on the demo's denied flows raises events; the
	// alerts page lists them and one is dismissed; the rule's editor
	// tests it against recent data; the feeds page shows a feed's sync.
	feedSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "# console feed\n203.0.113.9\n") }))
	defer feedSrv.Close()
	secYAML := filepath.Join(t.TempDir(), "security.yaml")
	if err := os.WriteFile(secYAML, []byte(fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalAlert
metadata: {name: demo-denied}
spec:
  summary: "${count} denied flows from ${source_namespace}/${source_name_aggr}"
  description: Denied flows by source workload
  severity: 80
  dataSet: flows
  query: action = "deny" AND source_namespace = "demo"
  aggregateBy: [source_namespace, source_name_aggr]
  metric: count
  condition: gt
  threshold: 0
  period: 1h
  lookback: 15m
---
apiVersion: projectcalico.org/v3
kind: GlobalThreatFeed
metadata: {name: console-feed}
spec:
  description: Addresses the console test lists
  globalNetworkSet: {labels: {threat: console}}
  pull: {http: {url: '%s/feed.txt'}}
`, feedSrv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := kubectl(t, cfg, "apply", "-f", secYAML); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, o)
	}
	poll.Until(t, 60*time.Second, "the rule's event", func() bool {
		var page struct {
			Items []map[string]any `json:"items"`
		}
		return api.Post(env["MANAGER_TOKEN"], "/api/events", `{"origin":"demo-denied"}`, &page) == 200 && len(page.Items) > 0
	})
	poll.Until(t, 60*time.Second, "the feed's first sync", func() bool {
		o, _ := kubectl(t, cfg, "get", "globalthreatfeeds.projectcalico.org", "console-feed", "-o", "jsonpath={.status.lastSuccessfulSync}")
		return strings.TrimSpace(o) != ""
	})
	events := chromedp.CSS(`table[aria-label="Security events"] tbody tr`)
	do("the alerts page, and an event's detail", chromedp.Navigate(env["MANAGER_URL"]+"/security?range=15m"),
		chromedp.WaitVisible(events), shot("security-alerts"),
		chromedp.Click(chromedp.CSS(`table[aria-label="Security events"] tbody tr button.link`)),
		chromedp.WaitVisible(chromedp.CSS(`.event-detail`)), shot("security-event"))
	if row := text(`table[aria-label="Security events"] tbody tr`); !strings.Contains(row, "denied flows from demo/frontend-") || !strings.Contains(row, "High 80") {
		t.Errorf("the first event row says %q, want the rule's summary and its severity", row)
	}
	do("dismiss the event", chromedp.Click(chromedp.Search(`//table[@aria-label="Security events"]//button[text()="Dismiss"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Event dismissed")]`)))
	var all struct {
		Items []struct {
			Dismissed bool `json:"dismissed"`
		} `json:"items"`
	}
	if api.Post(env["MANAGER_TOKEN"], "/api/events", `{"origin":"demo-denied","include_dismissed":true}`, &all) != 200 || len(all.Items) == 0 || !all.Items[0].Dismissed {
		t.Errorf("after Dismiss, the rule's newest event: %+v", all.Items)
	}
	do("the rule, tested against recent data", chromedp.Navigate(env["MANAGER_URL"]+"/security?view=rules&range=15m"),
		chromedp.WaitVisible(chromedp.Search(`//table[@aria-label="Alert rules"]//td[contains(., "demo-denied")]`)), shot("security-rules"),
		chromedp.Click(chromedp.Search(`//table[@aria-label="Alert rules"]//button[text()="Edit"]`)),
		chromedp.Click(chromedp.Search(`//button[text()="Test against recent data"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.test-result`)), shot("security-rule-test"))
	if r := text(`.test-result`); !strings.Contains(r, "denied flows from demo/frontend-") {
		t.Errorf("the rule's test says %q, want the events it would raise", r)
	}
	do("the threat feeds", chromedp.Navigate(env["MANAGER_URL"]+"/security?view=feeds"),
		chromedp.WaitVisible(chromedp.Search(`//table[@aria-label="Threat feeds"]//td[contains(., "console-feed")]`)), shot("security-feeds"))
	if row := text(`table[aria-label="Threat feeds"] tbody tr`); !strings.Contains(row, "threatfeed.console-feed") {
		t.Errorf("the feed's row says %q, want its network set", row)
	}
	if synced := text(`table[aria-label="Threat feeds"] tbody tr td:nth-child(4)`); strings.HasPrefix(synced, "not yet") {
		t.Errorf("the feed's last sync says %q after it synced", synced)
	}

	// Compliance: scheduled reports over the demo and the nodes, each
	// generated over the last ten minutes by the reporter as a report job
	// runs it.
	compYAML := filepath.Join(t.TempDir(), "compliance.yaml")
	if err := os.WriteFile(compYAML, []byte(`apiVersion: projectcalico.org/v3
kind: GlobalReport
metadata: {name: demo-inventory}
spec:
  reportType: inventory
  schedule: "0 * * * *"
  endpoints: {namespaces: {names: [demo]}}
---
apiVersion: projectcalico.org/v3
kind: GlobalReport
metadata: {name: nodes-cis}
spec:
  reportType: cis-benchmark
  schedule: "0 * * * *"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := kubectl(t, cfg, "apply", "-f", compYAML); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, o)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, name := range []string{"demo-inventory", "nodes-cis"} {
		cmd := exec.Command(filepath.Join(mustBin(t), "calico-compliance"), "reporter")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cfg.KubeconfigPath(), "LINSEED_URL="+cfg.LinseedURL(), "LINSEED_CA="+cfg.CAPath(),
			"LINSEED_CLIENT_CERT="+cfg.LinseedClientCert(), "LINSEED_CLIENT_KEY="+cfg.LinseedClientKey(), "LINSEED_TOKEN="+cfg.LinseedTokenFile(),
			"REPORT_NAME="+name, "REPORT_START="+now.Add(-10*time.Minute).Format(time.RFC3339), "REPORT_END="+now.Format(time.RFC3339))
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("calico-compliance reporter %s: %v\n%s", name, err, o)
		}
	}
	do("the compliance page", chromedp.Navigate(env["MANAGER_URL"]+"/compliance"),
		chromedp.WaitVisible(chromedp.Search(`//ul[@aria-label="Generated reports"]//h3[text()="nodes-cis"]`)),
		chromedp.WaitVisible(chromedp.Search(`//ul[@aria-label="Generated reports"]//h3[text()="demo-inventory"]`)), shot("compliance"))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('ul[aria-label="Generated reports"] > li').length`)); err != nil || n != 2 {
		t.Errorf("the compliance page shows %d reports (%v), want 2", n, err)
	}
	if card := text(`ul[aria-label="Generated reports"] > li:nth-child(2)`) + text(`ul[aria-label="Generated reports"] > li:nth-child(1)`); !strings.Contains(card, "Protected ingress") ||
		!strings.Contains(card, "endpoints.csv") || !strings.Contains(card, "node-summary.csv") {
		t.Errorf("the report cards say %q, want the summaries' widgets and the downloads", card)
	}
	if rows := text(`table[aria-label="Scheduled reports"] tbody`); !strings.Contains(rows, "demo-inventory") || !strings.Contains(rows, "CIS benchmark") {
		t.Errorf("the scheduled reports say %q", rows)
	}

	// A reader: sees the network sets, cannot save; the console says why.
	reader := labtest.ServiceAccountToken(t, cfg, "console-reader", readerRole(t, cfg))
	do("log in as a reader", append(append([]chromedp.Action[chromedp.Void]{
		chromedp.Click(chromedp.Search(`//button[text()="Log out"]`))}, login(reader)...),
		chromedp.WaitVisible(chromedp.CSS(`svg[role="group"], .empty`)),
		chromedp.Navigate(env["MANAGER_URL"]+"/networksets?edit=NetworkSet/default/blocked"),
		chromedp.SendKeys(chromedp.CSS(`form.editor textarea[name="labels"]`), "\nowner=me"),
		chromedp.Click(chromedp.Search(`//button[text()="Save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.editor [role="alert"]`)), shot("networkset-reader-refused"))...)
	if msg := text(`form.editor [role="alert"]`); !strings.Contains(msg, "refused") || !strings.Contains(msg, "forbidden") {
		t.Errorf("a reader's save says %q, want the API server's refusal", msg)
	}

	noAccess := chromedp.Search(`//strong[text()="You may not see flow logs"]`)
	do("log out, and in as a user without log access", append(append([]chromedp.Action[chromedp.Void]{
		chromedp.Click(chromedp.Search(`//button[text()="Log out"]`))}, login(noLogs)...),
		chromedp.WaitVisible(noAccess), shot("graph-no-log-access"),
		chromedp.Navigate(env["MANAGER_URL"]+"/flows?range=15m"), chromedp.WaitVisible(noAccess), shot("flows-no-log-access"))...)
	// The flows page has the rows' table only when there are rows: the
	// denied demo flows are in range, so an admin sees some here.
	if rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('table[aria-label="Flow logs"] tbody tr').length`)); err != nil || rows != 0 {
		t.Errorf("a user without log access sees %d flow rows (%v)", rows, err)
	}
	do("the dashboard and endpoints without log or metrics access",
		chromedp.Navigate(env["MANAGER_URL"]+"/dashboard?range=15m"), chromedp.WaitVisible(noAccess),
		chromedp.WaitVisible(chromedp.Search(`//div[contains(., "may not query metrics")]`)), shot("dashboard-no-access"),
		chromedp.Navigate(env["MANAGER_URL"]+"/endpoints?namespace=demo"), chromedp.WaitVisible(chromedp.CSS(`table.endpoints tbody tr`)),
		shot("endpoints-view-role"))
	if code := api.Post(noLogs, "/api/flows/logs", `{}`, nil); code != http.StatusForbidden {
		t.Errorf("the UI API gives flows to a user without log access: %d", code)
	}

	// Prometheus through the console's /prometheus/: the user's own RBAC
	// decides (cluster-admin may query; view has no services/proxy).
	var ans struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if code := api.Get(env["MANAGER_TOKEN"], "/prometheus/api/v1/query?query=up", &ans); code != 200 || ans.Status != "success" || len(ans.Data.Result) == 0 {
		t.Errorf("the administrator's query through /prometheus/: HTTP %d, %+v", code, ans)
	}
	if code := api.Get(noLogs, "/prometheus/api/v1/query?query=up", nil); code != http.StatusForbidden {
		t.Errorf("a user without metrics access through /prometheus/: HTTP %d, want 403", code)
	}
	t.Logf("screenshots in %s", shots)
}

// readerRole is a ClusterRole that reads everything of Calico's and the
// flow logs, and writes nothing.
func readerRole(t *testing.T, cfg lab.Config) string {
	t.Helper()
	c, err := datastore.Connect(cfg.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	const name = "console-reader"
	read := []string{"get", "list", "watch"}
	if _, err := c.Kube.RbacV1().ClusterRoles().Create(context.Background(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"projectcalico.org"}, Resources: []string{"*"}, Verbs: read},
			{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "serviceaccounts"}, Verbs: read},
			{APIGroups: []string{"lma.tigera.io"}, Resources: []string{"cluster"}, ResourceNames: []string{"flows"}, Verbs: []string{"get"}},
		}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// allowFrontendToDatabase is the policy the console test creates: the
// demo's frontend may reach the database, which the demo denies.
const allowFrontendToDatabase = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-frontend-db
  namespace: demo
spec:
  tier: default
  order: 50
  selector: app == 'database'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: app == 'frontend'
    destination:
      ports: [5432]
`
