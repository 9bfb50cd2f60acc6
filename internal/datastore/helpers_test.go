package datastore_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/syncer"
)

func intstrFromInt(i int) intstr.IntOrString { return intstr.FromInt32(int32(i)) }

func mustKind(name string) v3.KindInfo {
	k, ok := v3.KindFor(name)
	if !ok {
		panic("unknown kind " + name)
	}
	return k
}

// mustSources returns the syncer sources for every stored kind, by name.
func mustSources(t *testing.T) map[string]syncer.Source {
	t.Helper()
	srcs, err := testLab.Client.Sources([]string{"GlobalNetworkSet"}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]syncer.Source{}
	for _, s := range srcs {
		out[s.Name] = s
	}
	return out
}

func componentPID(t *testing.T, name string) int {
	t.Helper()
	st, err := lab.ReadStatus(testLab.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Components {
		if c.Name == name {
			return c.PID
		}
	}
	return 0
}
