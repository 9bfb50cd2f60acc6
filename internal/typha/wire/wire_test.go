package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/typha/typhatest"
	"github.com/calicong/calico/internal/typha/wire"
)

func TestEntriesRoundTrip(t *testing.T) {
	w := typhatest.WEP(7, 3, 2, "a", 42)
	val, err := wire.EncodeValue(w.Key, w.Value)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(val, []byte("resourceVersion")) {
		t.Fatalf("encoded value keeps its resourceVersion: %s", val)
	}
	if w.Value.(*v3.WorkloadEndpoint).ResourceVersion != "42" {
		t.Fatal("EncodeValue modified its argument")
	}
	gone := model.Key{Kind: "GlobalNetworkPolicy", Name: "gone"}
	invalid := model.Key{Kind: "NetworkPolicy", Namespace: "x", Name: "bad"}
	entries := [][]byte{
		wire.AppendEntry(nil, model.UpdateTypeNew, w.Key, w.Revision, val, true),
		wire.AppendEntry(nil, model.UpdateTypeDeleted, gone, "43", nil, false),
		wire.AppendEntry(nil, model.UpdateTypeUpdated, invalid, "44", nil, false),
	}
	stream := wire.AppendKVsFrame(nil, entries)
	stream = wire.AppendStatusFrame(stream, model.InSync)
	r := wire.NewReader(bytes.NewReader(stream))
	typ, p, err := r.Next()
	if err != nil || typ != wire.MsgKVs {
		t.Fatalf("first frame: %v %v", typ, err)
	}
	var got []model.Update
	err = wire.Entries(p, func(e wire.Entry) error {
		u, err := wire.DecodeUpdate(e)
		got = append(got, u)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d entries", len(got))
	}
	dw := got[0].Value.(*v3.WorkloadEndpoint)
	if got[0].Key != w.Key || got[0].UpdateType != model.UpdateTypeNew || dw.ResourceVersion != "42" ||
		dw.Spec.IPNetworks[0] != w.Value.(*v3.WorkloadEndpoint).Spec.IPNetworks[0] || dw.Labels["gen"] != "a" {
		t.Errorf("workload endpoint came back as %+v", got[0])
	}
	if !bytes.Equal(typhatest.Canonical(dw), typhatest.Canonical(w.Value)) {
		t.Errorf("workload endpoint changed in transit:\n%s\n%s", typhatest.Canonical(dw), typhatest.Canonical(w.Value))
	}
	if got[1].Key != gone || got[1].UpdateType != model.UpdateTypeDeleted || got[1].Value != nil || got[1].Revision != "43" {
		t.Errorf("delete came back as %+v", got[1])
	}
	if got[2].Key != invalid || got[2].Value != nil || got[2].UpdateType != model.UpdateTypeUpdated {
		t.Errorf("invalid value came back as %+v", got[2])
	}
	typ, p, err = r.Next()
	if err != nil || typ != wire.MsgStatus || model.SyncStatus(p[0]) != model.InSync {
		t.Fatalf("status frame: %v %v %v", typ, p, err)
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
}

func TestSynthesisedKindsDecode(t *testing.T) {
	knp := &v3.NetworkPolicy{TypeMeta: metav1.TypeMeta{Kind: "NetworkPolicy", APIVersion: "projectcalico.org/v3"},
		ObjectMeta: metav1.ObjectMeta{Name: "knp.default.web", Namespace: "default", ResourceVersion: "9"}}
	for _, tc := range []struct {
		key model.Key
		v   any
	}{
		// The value's name differs from the key's: it must survive.
		{model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: "default", Name: "web"}, knp},
		{model.Key{Kind: model.KindEndpointSlice, Namespace: "default", Name: "s"}, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}}},
		// No type meta: none is added.
		{model.Key{Kind: model.KindProfile, Name: "kns.a"}, &v3.Profile{ObjectMeta: metav1.ObjectMeta{Name: "kns.a"}}},
		{model.Key{Kind: model.KindNode, Name: "n"}, &v3.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"a": "b"}}}},
		{model.Key{Kind: "GlobalNetworkPolicy", Name: "g"}, &v3.GlobalNetworkPolicy{TypeMeta: metav1.TypeMeta{Kind: "GlobalNetworkPolicy", APIVersion: "projectcalico.org/v3"}, ObjectMeta: metav1.ObjectMeta{Name: "g"}}},
	} {
		b, err := wire.EncodeValue(tc.key, tc.v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.DecodeValue(tc.key, "9", b)
		if err != nil {
			t.Errorf("%s: %v", tc.key, err)
			continue
		}
		if gt, wt := typeName(got), typeName(tc.v); gt != wt {
			t.Errorf("%s decoded as %s, want %s", tc.key, gt, wt)
		}
		if g, w := typhatest.Canonical(got), typhatest.Canonical(tc.v); !bytes.Equal(g, w) {
			t.Errorf("%s changed in transit:\n%s\n%s", tc.key, g, w)
		}
	}
	if _, err := wire.DecodeValue(model.Key{Kind: "FutureKind"}, "1", []byte("\x00{}")); !errors.Is(err, wire.ErrUnknownKind) {
		t.Errorf("unknown kind: %v", err)
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

func TestMalformedInput(t *testing.T) {
	good := wire.AppendKVsFrame(nil, [][]byte{wire.AppendEntry(nil, model.UpdateTypeNew, model.Key{Kind: "Tier", Name: "a"}, "1", []byte("{}"), true)})
	_, payload, err := wire.NewReader(bytes.NewReader(good)).Next()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(payload); i++ {
		if err := wire.Entries(payload[:i], func(wire.Entry) error { return nil }); !errors.Is(err, wire.ErrMalformed) {
			t.Fatalf("payload cut to %d bytes: %v", i, err)
		}
	}
	if _, _, err := wire.NewReader(bytes.NewReader(good[:len(good)-1])).Next(); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated frame: %v", err)
	}
	huge := []byte{byte(wire.MsgKVs), 0xff, 0xff, 0xff, 0xff, 0x0f}
	if _, _, err := wire.NewReader(bytes.NewReader(huge)).Next(); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Errorf("oversized frame: %v", err)
	}
}
