package sqlite

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store/storetest"
)

func benchFlows(b testing.TB, n int) (*logtype.Type, []logtype.Row) {
	typ := logtype.All()[logtype.Flows]
	rng := rand.New(rand.NewPCG(1, 2))
	lines := make([]string, n)
	for i := range lines {
		lines[i] = storetest.FlowLine(rng)
	}
	rows := storetest.Rows(b, typ, lines)
	// Records arrive in about the order of their time.
	slices.SortFunc(rows, func(a, b logtype.Row) int { return int(a.Time - b.Time) })
	return typ, rows
}

// reID gives the rows new IDs, so that writing them again stores them.
func reID(rows []logtype.Row) []logtype.Row {
	for i := range rows {
		rows[i].ID = rand.Int64()
	}
	return rows
}
