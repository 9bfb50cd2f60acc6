package cni

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/crdclient"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/ipam/kdd"
)

// failingHandles is an IPAM store whose reads of handles fail as an
// overloaded API server's do.
type failingHandles struct{ ipam.Store }

func (f failingHandles) Get(ctx context.Context, kind v3.KindInfo, name string) (v3.Object, error) {
	if kind.Kind == ipam.KindHandle.Kind {
		return nil, kdd.Wrap(apierrors.NewServiceUnavailable("injected: etcd is slow"))
	}
	return f.Store.Get(ctx, kind, name)
}

// TestAddFailsWhenEarlierAddressesCannotBeRead: if IPAM cannot say whether
// the container holds addresses already, the ADD fails (try again later,
// CNI code 11) and allocates nothing, rather than give the container a
// second set.
func TestAddFailsWhenEarlierAddressesCannotBeRead(t *testing.T) {
	skipShort(t)
	makePool(t, "cni-hfail", "10.82.0.0/24", 26)
	makePod(t, "cni-hfail", "p", "cni-node-hfail", nil)
	t.Cleanup(func() { _ = testLab.Client.IPAM().ReleaseNodeAffinities(context.Background(), "cni-node-hfail") })
	conf, err := ParseConf(fmt.Appendf(nil, `{"cniVersion": "1.1.0", "name": "k8s-pod-network", "type": "calico", "nodename": "cni-node-hfail",
		"ipam_lock_file": %q, "ipam": {"type": "calico-ipam", "ipv4_pools": ["cni-hfail"]}}`, filepath.Join(t.TempDir(), "ipam.lock")))
	if err != nil {
		t.Fatal(err)
	}
	client, err := crdclient.New(testLab.REST)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{conf: conf, node: "cni-node-hfail", client: client, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.ctx, s.cancel = context.WithTimeout(context.Background(), time.Minute)
	defer s.close()
	if s.core, err = newCore(client.Config); err != nil {
		t.Fatal(err)
	}
	s.ipam = ipam.New(ipam.Options{Store: failingHandles{kdd.New(client)}})
	args := &skel.CmdArgs{ContainerID: "hfail-1", IfName: "eth0", Args: "K8S_POD_NAMESPACE=cni-hfail;K8S_POD_NAME=p"}
	ips, _, err := s.assign(args)
	if err == nil {
		t.Fatalf("ADD with the handle unreadable gave %v", ips)
	}
	cerr := asCNIError(err, "calico ADD")
	if cerr.Code != types.ErrTryAgainLater || !strings.Contains(cerr.Msg, HandleID("k8s-pod-network", "hfail-1")) || !strings.Contains(cerr.Msg, "injected") {
		t.Errorf("got code %d %q; want code %d naming the handle and the cause", cerr.Code, cerr.Msg, types.ErrTryAgainLater)
	}
	if n, _ := checkPool(t, "10.82.0.0/24"); n != 0 {
		t.Errorf("%d address(es) allocated by the failed ADD", n)
	}
}
