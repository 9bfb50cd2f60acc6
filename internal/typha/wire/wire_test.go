package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/typha/typhatest"
	"github.com/calicong/calico/internal/typha/wire"
)

func TestEntriesRoundTrip(t *testing.T) {
	w := typhatest.WEP(7, 3, 2, "a", 42)
	val, err := wire.EncodeValue(w.Value)
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
	for kind, v := range map[string]any{
		model.KindKubernetesNetworkPolicy: &v3.NetworkPolicy{},
		model.KindEndpointSlice:           &discoveryv1.EndpointSlice{},
		model.KindProfile:                 &v3.Profile{},
		model.KindNode:                    &v3.Node{},
		"GlobalNetworkPolicy":             &v3.GlobalNetworkPolicy{},
	} {
		b, err := wire.EncodeValue(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.DecodeValue(kind, "1", b)
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if gt, wt := typeName(got), typeName(v); gt != wt {
			t.Errorf("%s decoded as %s, want %s", kind, gt, wt)
		}
	}
	if _, err := wire.DecodeValue("FutureKind", "1", []byte("{}")); !errors.Is(err, wire.ErrUnknownKind) {
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
