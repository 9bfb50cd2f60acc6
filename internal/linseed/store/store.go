// Package store is Linseed's log store: the interface both backends
// (store/sqlite, embedded; store/clickhouse, at scale) implement, the
// queries they answer, and the SQL both build from a query (each with its
// own dialect). store/storetest is the conformance suite they share.
//
// Contract: a Write is all or nothing and durable once it returns; a
// record written twice (the same JSON: a shipper's retry) is stored
// once; clusters never see each other's records; records are kept in
// whole days, and Retain drops whole days. The package is pure: the
// backends import the drivers.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/logquery"
)

// Store keeps the records of every log type.
type Store interface {
	// Write stores rows of one type for one cluster, in one
	// transaction. Rows already stored (by ID) are skipped and counted.
	Write(ctx context.Context, t *logtype.Type, cluster string, rows []logtype.Row) (WriteResult, error)
	// List returns a page of the records a query selects, and how many
	// it selects in all.
	List(ctx context.Context, t *logtype.Type, q Query) (Page, error)
	// Count returns how many records a query selects.
	Count(ctx context.Context, t *logtype.Type, q Query) (int64, error)
	// Aggregate groups the records a query selects.
	Aggregate(ctx context.Context, t *logtype.Type, q Query, a Aggregation) ([]Bucket, error)
	// Update sets columns of the records a query selects (q's paging is
	// ignored) and returns how many it changed.
	Update(ctx context.Context, t *logtype.Type, q Query, set map[string]any) (int64, error)
	// Delete removes the records a query selects (paging ignored).
	Delete(ctx context.Context, t *logtype.Type, q Query) (int64, error)
	// Retain drops the days of a type that end before the cutoff, and
	// returns how many it dropped.
	Retain(ctx context.Context, t *logtype.Type, before time.Time) (int, error)
	Close() error
}

// WriteResult says what a Write did.
type WriteResult struct {
	// Stored are the rows written, Duplicates those already there.
	Stored, Duplicates int
}

// Query selects records of one type in one cluster.
type Query struct {
	Cluster string
	// From and To bound the records' times: From ≤ time < To; zero
	// values leave that side open.
	From, To time.Time
	// Where is a checked query over the type's fields (nil: all).
	Where logquery.Node
	// Sort orders the records, by field; the record's time (newest
	// first) and ID break ties. Empty: newest first.
	Sort []Sort
	// Limit is the page size (List); 0 means DefaultLimit.
	Limit int
	// After continues from a previous page's Next.
	After *Cursor
}

// Sort is one ordering key.
type Sort struct {
	Field      string
	Descending bool
}

// DefaultLimit and MaxLimit bound a page.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// Page is one page of records.
type Page struct {
	Rows []logtype.Row
	// Next continues after the last row; nil on the last page.
	Next *Cursor
	// Total is how many records the query selects in all pages.
	Total int64
}

// Cursor is a position in a sort order: the last row's sort values,
// time and ID.
type Cursor struct {
	Values []any `json:"v,omitempty"`
	Time   int64 `json:"t"`
	ID     int64 `json:"i"`
}

// Aggregation groups records by fields and computes metrics per group.
type Aggregation struct {
	// GroupBy are the fields (Text, Int, Bool columns) to group by;
	// none gives one group.
	GroupBy []string
	// Metrics are computed per group, besides the count.
	Metrics []Metric
	// Limit bounds the groups (largest counts first); 0 means 1000.
	Limit int
}

// Metric is one aggregate of a numeric field.
type Metric struct {
	Op    MetricOp
	Field string
}

// MetricOp is an aggregate function.
type MetricOp string

// Aggregate functions.
const (
	Sum MetricOp = "sum"
	Min MetricOp = "min"
	Max MetricOp = "max"
	Avg MetricOp = "avg"
)

// Bucket is one group.
type Bucket struct {
	// Key holds the group's values, by GroupBy: string, int64, bool or
	// nil.
	Key   []any
	Count int64
	// Metrics are by Aggregation.Metrics (0 for a group without values).
	Metrics []float64
}

// Errors the backends return.
var (
	// ErrFull: the store's disk is full; nothing of the write was kept.
	ErrFull = errors.New("the log store's disk is full")
	// ErrBadQuery: the query names something the type cannot be
	// sorted, grouped or updated by.
	ErrBadQuery = errors.New("bad query")
)
