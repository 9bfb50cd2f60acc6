package typha_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/pki"
	"github.com/calicong/calico/internal/typha/client"
	"github.com/calicong/calico/internal/typha/server"
	"github.com/calicong/calico/internal/typha/snapcache"
	"github.com/calicong/calico/internal/typha/tlsauth"
	"github.com/calicong/calico/internal/typha/typhatest"
	"github.com/calicong/calico/internal/typha/wire"
)

// The benchmarks run Typha (cache and server) in the test process and the
// clients in a child process (this test binary again, TYPHA_BENCH_ROLE=
// clients), so Typha's memory and CPU are measured alone. All traffic is
// mutual TLS over loopback. The child's clients read every frame,
// decompress the snapshot and parse every entry; decoding values into Go
// objects is measured with one full client (the one calico-node runs)
// separately, since in a cluster each node does that on its own CPU.

func TestMain(m *testing.M) {
	if os.Getenv("TYPHA_BENCH_ROLE") == "clients" {
		os.Exit(runClients())
	}
	os.Exit(m.Run())
}

// benchTypha is a loaded cache served with TLS.
type benchTypha struct {
	cache   *snapcache.Cache
	srv     *server.Server
	addr    string
	certEnv []string
	stop    func()
}

func startBenchTypha(b *testing.B, pods int) *benchTypha {
	b.Helper()
	dir := b.TempDir()
	ca, _, err := pki.NewAuthority("bench-ca")
	if err != nil {
		b.Fatal(err)
	}
	files := func(name string, req pki.Request) tlsauth.Files { return typhatest.Certs(b, dir, ca, name, req) }
	sf := files("typha", pki.Request{CommonName: "typha", Server: true})
	cf := files("felix", pki.Request{CommonName: "felix", Client: true})
	srvTLS, err := tlsauth.Server(sf, tlsauth.Identity{CN: "felix"})
	if err != nil {
		b.Fatal(err)
	}

	cache := snapcache.New(snapcache.Config{SyncerType: "felix"})
	cache.OnStatusUpdated(model.ResyncInProgress)
	batch := make([]model.Update, 0, 1000)
	flush := func() { cache.OnUpdates(batch); batch = batch[:0] }
	for i := range pods {
		batch = append(batch, typhatest.WEP(i, 1000, 1000, "a", i+1))
		if len(batch) == cap(batch) {
			flush()
		}
	}
	for i := range 1000 {
		p := &v3.Profile{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kns.ns-%d", i), Labels: map[string]string{"team": fmt.Sprint(i % 10)}}}
		batch = append(batch, model.Update{KVPair: model.KVPair{Key: model.Key{Kind: model.KindProfile, Name: p.Name}, Value: p, Revision: "1"}, UpdateType: model.UpdateTypeNew})
	}
	for i := range 500 {
		g := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gnp-%d", i)},
			Spec: v3.GlobalNetworkPolicySpec{Selector: fmt.Sprintf("app == 'app-%d'", i%50), Ingress: []v3.Rule{{Action: "Allow"}}}}
		batch = append(batch, model.Update{KVPair: model.KVPair{Key: model.Key{Kind: "GlobalNetworkPolicy", Name: g.Name}, Value: g, Revision: "1"}, UpdateType: model.UpdateTypeNew})
	}
	flush()
	cache.OnStatusUpdated(model.InSync)

	srv := server.New(server.Config{Caches: map[string]*snapcache.Cache{"felix": cache}, TLS: srvTLS, Name: "bench"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln)
	}()
	t := &benchTypha{cache: cache, srv: srv, addr: ln.Addr().String(), stop: func() { cancel(); <-done },
		certEnv: []string{"BENCH_CA=" + cf.CAFile, "BENCH_CERT=" + cf.CertFile, "BENCH_KEY=" + cf.KeyFile}}
	b.Cleanup(t.stop)
	return t
}

// clientResult is what the child process reports.
type clientResult struct {
	// Snapshot mode.
	ConnectedS   float64 `json:"connectedS"`   // all clients past the handshake
	AllSnapshotS float64 `json:"allSnapshotS"` // every client has the whole snapshot
	P50SnapshotS float64 `json:"p50SnapshotS"`
	Entries      int     `json:"entries"`
	FullClientS  float64 `json:"fullClientS"` // one full client to InSync
	FullClientMB float64 `json:"fullClientMB"`
	// Fan-out mode.
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50Ms"`
	P99Ms   float64 `json:"p99Ms"`
	MaxMs   float64 `json:"maxMs"`
	Errors  int     `json:"errors"`
	Error   string  `json:"error,omitempty"`
}

// spawnClients starts the child; it prints "connected" once every
// client is streaming and its result on stdin's close.
type children struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	exited <-chan error
}

func spawnClients(b *testing.B, ty *benchTypha, mode string, n int) *children {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(ty.certEnv, "TYPHA_BENCH_ROLE=clients", "BENCH_MODE="+mode,
		"BENCH_ADDR="+ty.addr, "BENCH_CLIENTS="+strconv.Itoa(n), "BENCH_ENTRIES="+strconv.Itoa(ty.cache.Len()))...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ex := make(chan error, 1)
	go func() { ex <- cmd.Wait() }()
	c := &children{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout), exited: ex}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	return c
}

func (c *children) line(b *testing.B) string {
	b.Helper()
	if !c.lines.Scan() {
		b.Fatalf("client process ended: %v", <-c.exited)
	}
	return c.lines.Text()
}

func (c *children) result(b *testing.B) clientResult {
	b.Helper()
	var r clientResult
	if err := json.Unmarshal([]byte(c.line(b)), &r); err != nil || r.Error != "" {
		b.Fatalf("client process: %v %s", err, r.Error)
	}
	return r
}

// status is a field of /proc/self/status in MB: VmRSS now, VmHWM the peak
// since the last resetPeak.
func status(field string) float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func peakRSS() float64 { return status("VmHWM") }
func rss() float64     { return status("VmRSS") }

func resetPeak() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkSnapshot200: 200 clients connect at once to a Typha holding
// 150,000 workload endpoints (plus 1,000 profiles and 500 policies) and
// receive the whole snapshot.
func BenchmarkSnapshot200(b *testing.B) {
	const pods, clients = 150_000, 200
	ty := startBenchTypha(b, pods)
	snap, err := ty.cache.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	cacheRSS := rss()
	b.ResetTimer()
	var last clientResult
	var peak float64
	for range b.N {
		resetPeak()
		ch := spawnClients(b, ty, "snapshot", clients)
		last = ch.result(b)
		peak = max(peak, peakRSS())
		_ = ch.stdin.Close()
		<-ch.exited
		if last.Entries != ty.cache.Len() {
			b.Fatalf("clients got %d entries, the cache holds %d", last.Entries, ty.cache.Len())
		}
	}
	b.ReportMetric(last.AllSnapshotS, "all-clients-s")
	b.ReportMetric(last.P50SnapshotS, "p50-client-s")
	b.ReportMetric(last.FullClientS, "full-client-s")
	b.ReportMetric(last.FullClientMB, "full-client-heap-MB")
	b.ReportMetric(peak, "typha-peak-rss-MB")
	b.ReportMetric(cacheRSS, "typha-idle-rss-MB")
	b.ReportMetric(float64(len(snap.Frame))/(1<<20), "snapshot-MB")
	b.ReportMetric(float64(snap.RawBytes)/(1<<20), "snapshot-raw-MB")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkFanout1000: 1,000 connected clients while the cache takes 100
// updates per second for 10 s; latency is from the update entering the
// cache to a client having read and parsed it, over every client.
func BenchmarkFanout1000(b *testing.B) {
	const clients, rate, secs = 1000, 100, 10
	ty := startBenchTypha(b, 10_000)
	b.ResetTimer()
	var res clientResult
	var cpuPerClient, kbPerClient float64
	for range b.N {
		resetPeak()
		before := rss()
		ch := spawnClients(b, ty, "fanout", clients)
		if l := ch.line(b); l != "connected" {
			b.Fatalf("client process said %q", l)
		}
		runtime.GC()
		connected := rss()
		cpu0, t0 := cpuSeconds(), time.Now()
		tick := time.NewTicker(time.Second / rate)
		for i := 0; i < rate*secs; i++ {
			<-tick.C
			u := typhatest.WEP(i%10_000, 1000, 1000, fmt.Sprint("g", i), 0)
			// The revision carries the time the update entered the cache.
			u.Revision = strconv.FormatInt(time.Now().UnixNano(), 10)
			ty.cache.OnUpdates([]model.Update{u})
		}
		tick.Stop()
		cpu := cpuSeconds() - cpu0
		wall := time.Since(t0).Seconds()
		_ = ch.stdin.Close()
		res = ch.result(b)
		<-ch.exited
		cpuPerClient = cpu / wall / clients * 100
		kbPerClient = (connected - before) * 1024 / clients
		if res.Samples < clients*rate*secs*99/100 {
			b.Fatalf("clients saw %d updates of %d", res.Samples, clients*rate*secs)
		}
	}
	b.ReportMetric(res.P50Ms, "p50-ms")
	b.ReportMetric(res.P99Ms, "p99-ms")
	b.ReportMetric(res.MaxMs, "max-ms")
	b.ReportMetric(cpuPerClient, "typha-cpu-%-per-client")
	b.ReportMetric(kbPerClient, "typha-KB-per-client")
	b.ReportMetric(0, "ns/op")
}

// ---- the child process ----

func runClients() int {
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		f, _ := os.Create(p)
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	res, err := clientsMain()
	if err != nil {
		res.Error = err.Error()
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return 0
}

func clientsMain() (clientResult, error) {
	var res clientResult
	n, _ := strconv.Atoi(os.Getenv("BENCH_CLIENTS"))
	entries, _ := strconv.Atoi(os.Getenv("BENCH_ENTRIES"))
	addr := os.Getenv("BENCH_ADDR")
	files := tlsauth.Files{CAFile: os.Getenv("BENCH_CA"), CertFile: os.Getenv("BENCH_CERT"), KeyFile: os.Getenv("BENCH_KEY")}
	cliTLS, err := tlsauth.Client(files, tlsauth.Identity{CN: "typha"})
	if err != nil {
		return res, err
	}
	mode := os.Getenv("BENCH_MODE")
	start := time.Now()
	type light struct {
		nc   net.Conn
		r    *wire.Reader
		done time.Duration
		lat  []time.Duration
		n    int
		err  error
	}
	cs := make([]*light, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // handshakes in flight
	for i := range cs {
		cs[i] = &light{}
		wg.Add(1)
		go func(l *light) {
			defer wg.Done()
			sem <- struct{}{}
			l.nc, l.r, l.err = dialLight(addr, cliTLS)
			<-sem
		}(cs[i])
	}
	wg.Wait()
	for _, l := range cs {
		if l.err != nil {
			return res, l.err
		}
	}
	res.ConnectedS = time.Since(start).Seconds()
	stop := make(chan struct{})
	var synced sync.WaitGroup // every client has its snapshot
	synced.Add(len(cs))
	for _, l := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if l.n < entries {
					synced.Done() // failed before its snapshot was whole
				}
			}()
			l.err = readLight(l.nc, l.r, func(e wire.Entry, inSnapshot bool) {
				if inSnapshot {
					l.n++
					if l.n == entries {
						l.done = time.Since(start)
						synced.Done()
					}
					return
				}
				if sent, err := strconv.ParseInt(e.Revision, 10, 64); err == nil && sent > 0 {
					l.lat = append(l.lat, time.Since(time.Unix(0, sent)))
				}
			}, func() bool {
				if mode == "snapshot" {
					return l.n >= entries
				}
				select {
				case <-stop:
					return true
				default:
					return false
				}
			})
		}()
	}
	if mode == "snapshot" {
		wg.Wait()
		var ds []time.Duration
		for _, l := range cs {
			if l.err != nil {
				return res, l.err
			}
			res.Entries = l.n
			ds = append(ds, l.done)
		}
		slices.Sort(ds)
		res.AllSnapshotS = ds[len(ds)-1].Seconds()
		res.P50SnapshotS = ds[len(ds)/2].Seconds()
		for _, l := range cs {
			l.nc.Close()
		}
		// One full client: the one calico-node runs, decoding every value.
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		cnt := &counter{synced: make(chan struct{})}
		fc := client.New(client.Config{SyncerType: "felix", Hostname: "full", TLS: cliTLS,
			Addresses: func(context.Context) ([]string, error) { return []string{addr}, nil }}, cnt)
		ctx, cancel := context.WithCancel(context.Background())
		t0 := time.Now()
		go func() { _ = fc.Run(ctx) }()
		select {
		case <-cnt.synced:
		case <-time.After(2 * time.Minute):
			cancel()
			return res, fmt.Errorf("the full client did not sync")
		}
		res.FullClientS = time.Since(t0).Seconds()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		res.FullClientMB = float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		runtime.KeepAlive(cnt)
		cancel()
		return res, nil
	}
	synced.Wait()
	for _, l := range cs {
		if l.err != nil {
			return res, l.err
		}
	}
	fmt.Println("connected")
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin when done
	close(stop)
	for _, l := range cs {
		_ = l.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range cs {
		all = append(all, l.lat...)
	}
	if len(all) == 0 {
		return res, fmt.Errorf("no updates seen")
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	res.Samples = len(all)
	res.P50Ms, res.P99Ms, res.MaxMs = ms(all[len(all)/2]), ms(all[len(all)*99/100]), ms(all[len(all)-1])
	return res, nil
}

// counter is a consumer that keeps every value, as Felix's would.
type counter struct {
	values map[model.Key]any
	synced chan struct{}
}

func (c *counter) OnUpdates(us []model.Update) {
	if c.values == nil {
		c.values = map[model.Key]any{}
	}
	for _, u := range us {
		c.values[u.Key] = u.Value
	}
}

func (c *counter) OnStatusUpdated(s model.SyncStatus) {
	if s == model.InSync {
		close(c.synced)
	}
}

func dialLight(addr string, cfg *tls.Config) (net.Conn, *wire.Reader, error) {
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, nil, err
	}
	h, _ := json.Marshal(wire.Hello{Version: wire.ProtocolVersion, SyncerType: "felix", Hostname: "bench"})
	if _, err := nc.Write(wire.AppendFrame(nil, wire.MsgHello, h)); err != nil {
		return nil, nil, err
	}
	r := wire.NewReader(bufio.NewReaderSize(nc, 256<<10))
	t, p, err := r.Next()
	if err != nil {
		return nil, nil, err
	}
	if t != wire.MsgServerHello {
		return nil, nil, fmt.Errorf("refused: %s", p)
	}
	return nc, r, nil
}

// readLight reads frames until done says so, parsing every entry.
func readLight(nc net.Conn, r *wire.Reader, entry func(wire.Entry, bool), done func() bool) error {
	for !done() {
		t, p, body, err := r.NextStreaming(wire.MsgSnapshot)
		if err != nil {
			if done() {
				return nil
			}
			return err
		}
		switch t {
		case wire.MsgPing:
			if _, err := nc.Write(wire.AppendFrame(nil, wire.MsgPong, p)); err != nil {
				return err
			}
		case wire.MsgKVs:
			if err := wire.Entries(p, func(e wire.Entry) error { entry(e, false); return nil }); err != nil {
				return err
			}
		case wire.MsgSnapshot:
			sr := wire.NewReader(s2.NewReader(body))
			for {
				st, q, err := sr.Next()
				if err == io.EOF {
					_, _ = io.Copy(io.Discard, body)
					break
				}
				if err != nil {
					return err
				}
				if st == wire.MsgKVs {
					if err := wire.Entries(q, func(e wire.Entry) error { entry(e, true); return nil }); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}
