package startup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/datastore"
)

// Config is calico-node's start-up configuration (from its environment).
type Config struct {
	NodeName string
	// IP is "autodetect" (default), an address with prefix length, or
	// "none".
	IP             string
	IPAutodetect   Method
	IPv6           string // "none" (default), "autodetect" or an address
	IPv6Autodetect Method
	// Default pool, created when no IP pool exists.
	NoDefaultPools      bool
	IPv4PoolCIDR        string // default 192.168.0.0/16
	IPv4PoolBlockSize   int    // default 26
	IPv4PoolNATOutgoing bool
	IPv4PoolVXLANMode   string // Never, Always, CrossSubnet
	// IPv4PoolIPIPMode is written into the default pool as asked, though
	// this calico-node does not encapsulate IPIP: the pool, the webhook,
	// readiness and CalicoNodeStatus then say so (internal/node/ipipcheck).
	IPv4PoolIPIPMode string
	// NodenameFile is where the CNI plugin reads the node name from
	// ("" to skip).
	NodenameFile string
}

// ConfigFromEnv reads Calico's environment variables.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		NodeName:            getenv("NODENAME"),
		IP:                  getenv("IP"),
		IPAutodetect:        Method(getenv("IP_AUTODETECTION_METHOD")),
		IPv6:                getenv("IP6"),
		IPv6Autodetect:      Method(getenv("IP6_AUTODETECTION_METHOD")),
		NoDefaultPools:      getenv("NO_DEFAULT_POOLS") == "true",
		IPv4PoolCIDR:        getenv("CALICO_IPV4POOL_CIDR"),
		IPv4PoolNATOutgoing: getenv("CALICO_IPV4POOL_NAT_OUTGOING") != "false",
		NodenameFile:        getenv("CALICO_NODENAME_FILE"),
	}
	if c.NodeName == "" {
		c.NodeName = getenv("HOSTNAME")
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("NODENAME is not set and the hostname is unknown: %w", err)
		}
		c.NodeName = h
	}
	c.NodeName = strings.ToLower(strings.TrimSpace(c.NodeName))
	if c.IPv4PoolCIDR == "" {
		c.IPv4PoolCIDR = "192.168.0.0/16"
	}
	if s := getenv("CALICO_IPV4POOL_BLOCK_SIZE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return c, fmt.Errorf("CALICO_IPV4POOL_BLOCK_SIZE=%q: not a number", s)
		}
		c.IPv4PoolBlockSize = n
	}
	var err error
	if c.IPv4PoolVXLANMode, err = encapMode("CALICO_IPV4POOL_VXLAN", getenv("CALICO_IPV4POOL_VXLAN")); err != nil {
		return c, err
	}
	if c.IPv4PoolIPIPMode, err = encapMode("CALICO_IPV4POOL_IPIP", getenv("CALICO_IPV4POOL_IPIP")); err != nil {
		return c, err
	}
	return c, nil
}

// encapMode reads an encapsulation mode as Calico's start-up does (any
// case; "off" and "cross-subnet" too).
func encapMode(variable, v string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "off", "never":
		return string(v3.EncapNever), nil
	case "crosssubnet", "cross-subnet":
		return string(v3.EncapCrossSubnet), nil
	case "always":
		return string(v3.EncapAlways), nil
	}
	return "", fmt.Errorf("%s=%q: want Always, CrossSubnet or Never", variable, v)
}

// Result is what start-up found out.
type Result struct {
	NodeName string
	IPv4     netip.Prefix // invalid if none
	IPv6     netip.Prefix
}

// Run does calico-node's start-up against the datastore, in the current
// network namespace. It is safe to run again (on every restart).
func Run(ctx context.Context, cfg Config, c *datastore.Client, log *slog.Logger) (*Result, error) {
	res := &Result{NodeName: cfg.NodeName}
	ifaces, err := Interfaces()
	if err != nil {
		return nil, err
	}
	src := Sources{Route: routeSource, Node: KubernetesNode(c.Kube, cfg.NodeName)}
	if res.IPv4, err = address(ctx, cfg.IP, cfg.IPAutodetect, 4, ifaces, src); err != nil {
		return nil, fmt.Errorf("IPv4 address: %w", err)
	}
	ip6 := cfg.IPv6
	if ip6 == "" {
		ip6 = "none"
	}
	if res.IPv6, err = address(ctx, ip6, cfg.IPv6Autodetect, 6, ifaces, src); err != nil {
		return nil, fmt.Errorf("IPv6 address: %w", err)
	}
	log.Info("node addresses", "node", res.NodeName, "ipv4", res.IPv4, "ipv6", res.IPv6)
	if err := annotateNode(ctx, c, res); err != nil {
		return nil, err
	}
	if err := c.EnsureInitialized(ctx); err != nil {
		return nil, err
	}
	// Block affinities written before they carried upstream Calico's
	// labels get them, as upstream's start-up does (UpgradeHost,
	// libcalico-go/lib/ipam/ipam.go), so upstream's IPAM finds this node's
	// blocks.
	uctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	err = c.IPAM().UpgradeHost(uctx, res.NodeName)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("labelling this node's block affinities: %w", err)
	}
	if !cfg.NoDefaultPools {
		if err := defaultPool(ctx, c, cfg, log); err != nil {
			return nil, err
		}
	}
	if cfg.NodenameFile != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.NodenameFile), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(cfg.NodenameFile, []byte(res.NodeName), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", cfg.NodenameFile, err)
		}
	}
	return res, nil
}

func address(ctx context.Context, setting string, method Method, family int, ifaces []Interface, src Sources) (netip.Prefix, error) {
	switch strings.TrimSpace(setting) {
	case "none":
		return netip.Prefix{}, nil
	case "", "autodetect":
		return DetectWith(ctx, method, family, ifaces, src)
	}
	p, err := netip.ParsePrefix(setting)
	if err != nil {
		a, aerr := netip.ParseAddr(setting)
		if aerr != nil {
			return netip.Prefix{}, fmt.Errorf("%q is neither autodetect, none nor an address", setting)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if (family == 4) != p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv%d address", setting, family)
	}
	return p, nil
}

// Interfaces lists the current namespace's interfaces and addresses.
func Interfaces() ([]Interface, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []Interface
	for _, l := range links {
		attrs := l.Attrs()
		ifc := Interface{Name: attrs.Name, Up: attrs.OperState == netlink.OperUp || attrs.Flags&1 != 0}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", attrs.Name, err)
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok {
				continue
			}
			ones, _ := a.Mask.Size()
			ifc.Addrs = append(ifc.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
		}
		out = append(out, ifc)
	}
	return out, nil
}

func routeSource(dst netip.Addr) (netip.Addr, error) {
	routes, err := netlink.RouteGet(dst.AsSlice())
	if err != nil {
		return netip.Addr{}, err
	}
	for _, r := range routes {
		if a, ok := netip.AddrFromSlice(r.Src); ok {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, errors.New("the route has no source address")
}

// annotateNode records the node's addresses on its Kubernetes Node, as
// Calico does, so BGP peers and other nodes can find it.
func annotateNode(ctx context.Context, c *datastore.Client, res *Result) error {
	ann := map[string]any{}
	set := func(key string, p netip.Prefix) {
		if p.IsValid() {
			ann[key] = p.String()
		} else {
			ann[key] = nil
		}
	}
	set(v3.AnnotationNodeIPv4Address, res.IPv4)
	set(v3.AnnotationNodeIPv6Address, res.IPv6)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	_, err := c.Kube.CoreV1().Nodes().Patch(ctx, res.NodeName, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("node %q does not exist in Kubernetes (is NODENAME right, and is the kubelet registered?)", res.NodeName)
	}
	if err != nil {
		return fmt.Errorf("annotate node %q: %w", res.NodeName, err)
	}
	return nil
}

// defaultPool creates the default IPv4 pool when no pool exists at all.
func defaultPool(ctx context.Context, c *datastore.Client, cfg Config, log *slog.Logger) error {
	kind, _ := v3.KindFor("IPPool")
	pools, err := c.List(ctx, kind, "")
	if err != nil {
		return fmt.Errorf("list IP pools: %w", err)
	}
	if len(pools) > 0 {
		return nil
	}
	pool := &v3.IPPool{
		ObjectMeta: metav1.ObjectMeta{Name: "default-ipv4-ippool"},
		Spec: v3.IPPoolSpec{
			CIDR: cfg.IPv4PoolCIDR, BlockSize: cfg.IPv4PoolBlockSize, NATOutgoing: cfg.IPv4PoolNATOutgoing,
			VXLANMode: v3.EncapMode(cfg.IPv4PoolVXLANMode), IPIPMode: v3.EncapMode(cfg.IPv4PoolIPIPMode), NodeSelector: "all()",
		},
	}
	pool.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
	v3.Default(pool)
	if errs := validation.Validate(pool); len(errs) > 0 {
		return fmt.Errorf("default IP pool from CALICO_IPV4POOL_*: %v", errs.ToAggregate())
	}
	if _, err := c.Create(ctx, pool); err != nil && !datastore.IsAlreadyExists(err) {
		return fmt.Errorf("create default IP pool: %w", err)
	}
	log.Info("created the default IP pool", "cidr", pool.Spec.CIDR, "vxlanMode", pool.Spec.VXLANMode, "ipipMode", pool.Spec.IPIPMode)
	if m := pool.Spec.IPIPMode; m != "" && m != v3.EncapNever {
		log.Warn("the default IP pool asks for IPIP (CALICO_IPV4POOL_IPIP), which this calico-node does not implement: "+
			"its traffic is routed without encapsulation; use CALICO_IPV4POOL_VXLAN=Always or CrossSubnet instead",
			"pool", pool.Name, "ipipMode", m)
	}
	return nil
}
