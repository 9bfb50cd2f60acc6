// Package ipamgc is calico-kube-controllers' IPAM garbage collector: it
// releases addresses whose owners are gone and cleans up after deleted
// nodes, so nothing a crash or a lost DEL leaves behind leaks for good.
//
// Each pass reads every block once, and lists pods and nodes. An
// allocation whose pod is gone becomes a candidate; it is released once it
// has stayed a candidate for the grace period (a pod being created may not
// have its annotations yet). An allocation of a deleted node is released
// at once. A handle is released only when every one of its allocations
// is: the decision is per handle. The releases of a pass are grouped by
// block, each block written once (compare-and-swap from the pass's read),
// and carry the handle and the block's sequence number at allocation, so
// an address handed to someone else meanwhile is never freed. A block's
// releases land together or not at all; a handle with addresses in several
// blocks (dual stack) is released block by block, and if a block's write
// fails, the pass reports the error, what landed stays released and the
// rest stays a candidate past its grace period, released by the next pass.
// Then the blocks of deleted nodes lose their affinity (and are deleted
// when empty).
package ipamgc

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/ipam"
)

// Cluster is what the collector reads besides IPAM.
type Cluster interface {
	Pods(ctx context.Context) ([]ipam.Pod, error)
	Nodes(ctx context.Context) (map[string]bool, error)
}

// Config assembles a collector.
type Config struct {
	IPAM    *ipam.IPAM
	Cluster Cluster
	// GracePeriod is how long an allocation must look leaked before it is
	// released (default 15m).
	GracePeriod time.Duration
	// Interval between passes (default GracePeriod / 2).
	Interval time.Duration
	Now      func() time.Time
	// Metrics, if set, are where the collector counts; they outlive it, so
	// a collector restarted with new settings carries on counting.
	Metrics *Metrics
	Log     *slog.Logger
	// Trigger, if set, asks for a pass now (a Node was deleted, say).
	Trigger <-chan struct{}
	// AfterPass, if set, runs after each pass with the nodes it saw (the
	// node controller's other clean-ups).
	AfterPass func(ctx context.Context, nodes map[string]bool)
}

// Collector is the garbage collector.
type Collector struct {
	cfg        Config
	candidates map[key]time.Time // first seen leaked
	m          *Metrics
}

// key identifies one allocation (not just one address: a reused address
// is a new allocation).
type key struct {
	addr   netip.Addr
	handle string
	seq    uint64
}

// Metrics are the collector's Prometheus metrics.
type Metrics struct {
	candidates, blocks prometheus.Gauge
	reclaimed          prometheus.Counter
	// inUse and poolSize are by pool (label ippool), as Calico's, for
	// the IPPoolNearlyFull alert.
	inUse, poolSize *prometheus.GaugeVec
}

// NewMetrics makes the metrics and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		inUse:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ipam_allocations_in_use", Help: "Addresses allocated, by IP pool."}, []string{"ippool"}),
		poolSize:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ipam_ippool_size", Help: "Addresses in the IP pool."}, []string{"ippool"}),
		candidates: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ipam_allocations_gc_candidates", Help: "Allocations that look leaked and wait out the grace period."}),
		blocks:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "ipam_blocks", Help: "IPAM blocks."}),
		reclaimed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "ipam_allocations_gc_reclamations", Help: "Leaked allocations released."}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.inUse, m.poolSize, m.candidates, m.blocks, m.reclaimed} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// New makes a collector.
func New(cfg Config) (*Collector, error) {
	if cfg.GracePeriod == 0 {
		cfg.GracePeriod = 15 * time.Minute
	}
	if cfg.Interval == 0 {
		cfg.Interval = cfg.GracePeriod / 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Collector{cfg: cfg, candidates: map[key]time.Time{}, m: cfg.Metrics}
	if c.m == nil {
		c.m, _ = NewMetrics(nil)
	}
	return c, nil
}

// Result is what one pass did.
type Result struct {
	Released   []netip.Addr
	Candidates int
	// NodesCleaned are deleted nodes whose affinities were released.
	NodesCleaned []string
}

// Sync makes one pass.
func (c *Collector) Sync(ctx context.Context) (Result, error) {
	var r Result
	blocks, err := c.cfg.IPAM.ReadBlocks(ctx)
	if err != nil {
		return r, fmt.Errorf("reading allocations: %w", err)
	}
	all := blocks.Allocations()
	pods, err := c.cfg.Cluster.Pods(ctx)
	if err != nil {
		return r, fmt.Errorf("listing pods: %w", err)
	}
	nodes, err := c.cfg.Cluster.Nodes(ctx)
	if err != nil {
		return r, fmt.Errorf("listing nodes: %w", err)
	}
	owners := ipam.OwnersFromPods(pods, nodes)
	now := c.cfg.Now()
	seen := map[key]bool{}
	// A handle's allocations are released together or not at all.
	byHandle := map[string][]ipam.Allocation{}
	ready := map[string]bool{}
	notReady := map[string]bool{}
	for _, al := range all {
		if al.Released {
			continue
		}
		k := key{al.Addr, al.Handle, al.SequenceNumber}
		byHandle[al.Handle] = append(byHandle[al.Handle], al)
		ok, why := owners.Valid(al)
		if ok {
			delete(c.candidates, k)
			notReady[al.Handle] = true
			continue
		}
		seen[k] = true
		first, was := c.candidates[k]
		if !was {
			first = now
			c.candidates[k] = now
			c.cfg.Log.Info("allocation looks leaked", "ip", al.Addr, "handle", al.Handle, "why", why)
		}
		if ipam.NodeGone(al, nodes) || now.Sub(first) >= c.cfg.GracePeriod {
			ready[al.Handle] = true
		} else {
			notReady[al.Handle] = true
		}
	}
	for k := range c.candidates {
		if !seen[k] {
			delete(c.candidates, k) // released by someone else, or valid again
		}
	}
	// Every handle ready for release, all at once: one write per block.
	var opts []ipam.ReleaseOptions
	releasing := map[netip.Addr]ipam.Allocation{}
	for h := range ready {
		if notReady[h] {
			continue
		}
		for _, al := range byHandle[h] {
			seq := al.SequenceNumber
			opts = append(opts, ipam.ReleaseOptions{Address: al.Addr, Handle: al.Handle, SequenceNumber: &seq})
			releasing[al.Addr] = al
		}
	}
	rep, err := c.cfg.IPAM.ReleaseFrom(ctx, blocks, opts...)
	for _, a := range rep.Released {
		al := releasing[a]
		delete(c.candidates, key{al.Addr, al.Handle, al.SequenceNumber})
		r.Released = append(r.Released, a)
		c.m.reclaimed.Inc()
		c.cfg.Log.Info("released a leaked address", "ip", a, "handle", al.Handle)
	}
	for _, a := range rep.NotAllocated {
		// Released by someone else, or reallocated since.
		al := releasing[a]
		delete(c.candidates, key{al.Addr, al.Handle, al.SequenceNumber})
	}
	slices.SortFunc(r.Released, netip.Addr.Compare)
	if err != nil {
		// The failed blocks' allocations stay candidates: the next pass
		// releases them without waiting again.
		r.Candidates = len(c.candidates)
		c.m.candidates.Set(float64(r.Candidates))
		return r, fmt.Errorf("releasing leaked addresses (%d released, %d left for the next pass): %w", len(rep.Released), len(rep.Failed), err)
	}
	affine, err := c.cfg.IPAM.AffineNodes(ctx)
	if err != nil {
		return r, err
	}
	for _, n := range affine {
		if nodes[n] {
			continue
		}
		if err := c.cfg.IPAM.ReleaseNodeAffinities(ctx, n); err != nil {
			return r, fmt.Errorf("releasing deleted node %s's blocks: %w", n, err)
		}
		r.NodesCleaned = append(r.NodesCleaned, n)
		c.cfg.Log.Info("released a deleted node's blocks", "node", n)
	}
	r.Candidates = len(c.candidates)
	c.m.candidates.Set(float64(r.Candidates))
	if usage, err := c.cfg.IPAM.PoolUsage(ctx, all); err != nil {
		c.cfg.Log.Warn("IP pool usage", "err", err)
	} else {
		c.m.inUse.Reset()
		c.m.poolSize.Reset()
		for _, u := range usage {
			n := u.InUse
			for _, a := range r.Released {
				if u.CIDR.Contains(a) {
					n--
				}
			}
			c.m.inUse.WithLabelValues(u.Name).Set(float64(n))
			c.m.poolSize.WithLabelValues(u.Name).Set(u.Size)
		}
	}
	if len(r.NodesCleaned) == 0 {
		c.m.blocks.Set(float64(blocks.Len()))
	} else if n, err := c.cfg.IPAM.BlockCount(ctx); err == nil {
		c.m.blocks.Set(float64(n))
	}
	if c.cfg.AfterPass != nil {
		c.cfg.AfterPass(ctx, nodes)
	}
	return r, nil
}

// Run makes a pass every Interval until ctx ends. ok reports each pass's
// outcome (for health). First it brings every block affinity stored by
// an older version into Calico's form (ipam.IPAM.UpgradeHost for every
// owner), so that Calico's IPAM and BGP syncer find them; a failure is
// logged, and the passes go ahead.
func (c *Collector) Run(ctx context.Context, ok func(error)) {
	if err := c.cfg.IPAM.UpgradeHost(ctx, ""); err != nil {
		c.cfg.Log.Warn("upgrading block affinities", "err", err)
	}
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		_, err := c.Sync(ctx)
		if err != nil {
			c.cfg.Log.Warn("IPAM garbage collection", "err", err)
		}
		if ok != nil {
			ok(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.cfg.Trigger:
		}
	}
}
