// Package clickhouse is Linseed's log store for clusters that outgrow one
// machine: ClickHouse (clickhouse-go over the native protocol), one
// MergeTree table per log type, partitioned by day and ordered by
// (cluster, time, id), so that retention drops whole partitions and a
// time range reads only its days. Sharding and replication are
// ClickHouse's own (point Linseed at a Distributed table's cluster).
//
// The SQL runs on ClickHouse 18.16 (Debian's, which the tests use) and on
// current releases: no TTL clauses, no LowCardinality, no JSON functions.
package clickhouse

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store"
)

// SchemaVersion is recorded in the database's _schema table; each
// version's migration is in migrations. Tables gain a type's new columns
// automatically.
const SchemaVersion = 1

var migrations = []func(ctx context.Context, db *sql.DB, database string) error{
	// 0 → 1: the first schema: tables are created as they are needed.
	func(context.Context, *sql.DB, string) error { return nil },
}

// Config says which server and database to use.
type Config struct {
	// Addr is the server's native-protocol address (host:9000).
	Addr string
	// Database is created if missing; default "linseed".
	Database           string
	Username, Password string
	Log                *slog.Logger
}

// Store is the ClickHouse store.
type Store struct {
	db *sql.DB
	// conn is the native API, for column-wise batch inserts (ten times
	// faster than database/sql's row by row).
	conn     driver.Conn
	database string
	log      *slog.Logger

	// mu serialises the writes of one type, so that the check for
	// records already stored and the insert are not interleaved.
	mu     sync.Mutex
	tables map[string]bool
}

var _ store.Store = (*Store)(nil)

// Open connects, creates the database and brings the schema up to date.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Addr == "" {
		return nil, errors.New("clickhouse store: a server address is required")
	}
	if cfg.Database == "" {
		cfg.Database = "linseed"
	}
	if strings.ContainsAny(cfg.Database, "`'\" .") {
		return nil, fmt.Errorf("clickhouse store: invalid database name %q", cfg.Database)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := &ch.Options{
		Addr:        []string{cfg.Addr},
		Auth:        ch.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password},
		DialTimeout: 5 * time.Second,
	}
	admin := ch.OpenDB(opts)
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("clickhouse store %s: %w", cfg.Addr, err)
	}
	_, err := admin.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+store.Ident(cfg.Database))
	admin.Close()
	if err != nil {
		return nil, fmt.Errorf("clickhouse store %s: creating database %s: %w", cfg.Addr, cfg.Database, err)
	}
	opts.Auth.Database = cfg.Database
	db := ch.OpenDB(opts)
	db.SetMaxOpenConns(8)
	conn, err := ch.Open(opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("clickhouse store %s: %w", cfg.Addr, err)
	}
	s := &Store{db: db, conn: conn, database: cfg.Database, log: log, tables: map[string]bool{}}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("clickhouse store %s: %w", cfg.Addr, err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS _schema (version UInt32, at DateTime) ENGINE = TinyLog"); err != nil {
		return fmt.Errorf("creating the schema table: %w", err)
	}
	var v uint32
	if err := s.db.QueryRowContext(ctx, "SELECT max(version) FROM _schema").Scan(&v); err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("the database's schema version %d is newer than this Linseed's (%d)", v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		if err := migrations[v](ctx, s.db, s.database); err != nil {
			return fmt.Errorf("migrating the schema to version %d: %w", v+1, err)
		}
		if err := s.insert(ctx, "_schema", []string{"version", "at"}, [][]any{{v + 1, time.Now()}}); err != nil {
			return fmt.Errorf("recording the schema version: %w", err)
		}
		s.log.Info("log store schema migrated", "version", v+1)
	}
	return nil
}

// insert writes rows as one block. (An INSERT with its VALUES in the
// query text never returns from ClickHouse 18 over this driver: the
// server waits for a data block. Inserts are batches.)
func (s *Store) insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, fmt.Sprintf("INSERT INTO %s (%s)", store.Ident(table), strings.Join(cols, ", ")))
	if err != nil {
		return err
	}
	defer st.Close()
	for _, r := range rows {
		if _, err := st.ExecContext(ctx, r...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close closes the connections.
func (s *Store) Close() error { return errors.Join(s.conn.Close(), s.db.Close()) }

// dedupeChunk is how many IDs one query for stored records asks about.
const dedupeChunk = 5000

func colType(k logtype.Kind) string {
	switch k {
	case logtype.Int:
		return "Int64"
	case logtype.Float:
		return "Float64"
	case logtype.Bool:
		return "UInt8"
	case logtype.List:
		return "Array(String)"
	}
	return "String"
}

// columns are the table's columns and types. None is Nullable: a missing
// value is stored as "", 0 or [] and listed in _nulls.
func columns(t *logtype.Type) [][2]string {
	out := [][2]string{{store.ColCluster, "String"}, {store.ColTime, "Int64"}, {store.ColID, "Int64"}, {store.ColExtra, "String"},
		{store.ColNulls, "Array(UInt16)"}}
	for _, c := range t.Columns {
		out = append(out, [2]string{c.Name, colType(c.Kind)})
	}
	return out
}

// ensureTable creates a type's table, or adds its new columns.
func (s *Store) ensureTable(ctx context.Context, t *logtype.Type) error {
	if s.tables[t.Name] {
		return nil
	}
	var defs []string
	for _, c := range columns(t) {
		defs = append(defs, store.Ident(c[0])+" "+c[1])
	}
	q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s) ENGINE = MergeTree PARTITION BY toYYYYMMDD(toDateTime(intDiv(%s, 1000))) ORDER BY (%s, %s, %s)",
		store.Ident(t.Name), strings.Join(defs, ", "), store.ColTime, store.ColCluster, store.ColTime, store.ColID)
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("creating table %s: %w", t.Name, err)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM system.columns WHERE database = ? AND table = ?", s.database, t.Name)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	rows.Close()
	for _, c := range columns(t) {
		if !have[c[0]] {
			if _, err := s.db.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", store.Ident(t.Name), store.Ident(c[0]), c[1])); err != nil {
				return fmt.Errorf("adding column %s to %s: %w", c[0], t.Name, err)
			}
		}
	}
	s.tables[t.Name] = true
	return nil
}

// Write inserts the rows not stored yet in one INSERT.
func (s *Store) Write(ctx context.Context, t *logtype.Type, cluster string, rows []logtype.Row) (store.WriteResult, error) {
	var res store.WriteResult
	if len(rows) == 0 {
		return res, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureTable(ctx, t); err != nil {
		return res, err
	}
	// Which of these are stored already (a retry)? Asked in chunks: a
	// query's text is limited (max_query_size, 256 KiB).
	stored := map[int64]bool{}
	for start := 0; start < len(rows); start += dedupeChunk {
		chunk := rows[start:min(start+dedupeChunk, len(rows))]
		lo, hi := chunk[0].Time, chunk[0].Time
		ids := make([]string, 0, len(chunk))
		for _, r := range chunk {
			lo, hi = min(lo, r.Time), max(hi, r.Time)
			ids = append(ids, strconv.FormatInt(r.ID, 10))
		}
		q := fmt.Sprintf("SELECT %s FROM %s WHERE %s = ? AND %s >= ? AND %s <= ? AND %s IN (%s)", store.ColID, store.Ident(t.Name),
			store.ColCluster, store.ColTime, store.ColTime, store.ColID, strings.Join(ids, ","))
		existing, err := s.db.QueryContext(ctx, q, cluster, lo, hi)
		if err != nil {
			return res, fmt.Errorf("writing %s: %w", t.Name, err)
		}
		for existing.Next() {
			var id int64
			if err := existing.Scan(&id); err != nil {
				existing.Close()
				return res, err
			}
			stored[id] = true
		}
		existing.Close()
	}

	// Column by column: the block ClickHouse stores.
	cols := columns(t)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = store.Ident(c[0])
	}
	var fresh []logtype.Row
	for _, r := range rows {
		if stored[r.ID] {
			res.Duplicates++
			continue
		}
		stored[r.ID] = true
		fresh = append(fresh, r)
	}
	if len(fresh) == 0 {
		return res, nil
	}
	data := make([]any, 0, len(cols))
	n := len(fresh)
	clusters, extras, nulls := make([]string, n), make([]string, n), make([][]uint16, n)
	times, idCol := make([]int64, n), make([]int64, n)
	for i, r := range fresh {
		clusters[i], times[i], idCol[i] = cluster, r.Time, r.ID
		if len(r.Extra) > 0 {
			b, err := json.Marshal(r.Extra)
			if err != nil {
				return store.WriteResult{}, err
			}
			extras[i] = string(b)
		}
		nulls[i] = []uint16{}
		for ci, v := range r.Values {
			if v == nil {
				nulls[i] = append(nulls[i], uint16(ci))
			}
		}
	}
	data = append(data, clusters, times, idCol, extras, nulls)
	for ci, c := range t.Columns {
		data = append(data, columnData(c.Kind, fresh, ci))
	}
	batch, err := s.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s (%s)", store.Ident(t.Name), strings.Join(names, ", ")))
	if err != nil {
		return store.WriteResult{}, fmt.Errorf("writing %s: %w", t.Name, err)
	}
	for i, d := range data {
		if err := batch.Column(i).Append(d); err != nil {
			_ = batch.Abort()
			return store.WriteResult{}, fmt.Errorf("writing %s: column %s: %w", t.Name, cols[i][0], err)
		}
	}
	if err := batch.Send(); err != nil {
		if diskFull(err) {
			// A MergeTree insert writes a new part whole or not at all.
			return store.WriteResult{}, fmt.Errorf("writing %s: %w: %v", t.Name, store.ErrFull, err)
		}
		return store.WriteResult{}, fmt.Errorf("writing %s: %w", t.Name, err)
	}
	res.Stored = len(fresh)
	return res, nil
}

// diskFull tells whether ClickHouse refused a write for want of disk:
// ENOSPC while writing a part, or its own reservation check.
func diskFull(err error) bool {
	var ex *ch.Exception
	if errors.As(err, &ex) && ex.Code == 243 { // NOT_ENOUGH_SPACE
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "No space left on device") || strings.Contains(msg, "not enough space")
}

// columnData is one column of rows as the driver appends it.
func columnData(k logtype.Kind, rows []logtype.Row, ci int) any {
	n := len(rows)
	switch k {
	case logtype.List:
		vals := make([][]string, n)
		for i, r := range rows {
			if vals[i], _ = r.Values[ci].([]string); vals[i] == nil {
				vals[i] = []string{}
			}
		}
		return vals
	case logtype.Int:
		vals := make([]int64, n)
		for i, r := range rows {
			vals[i], _ = r.Values[ci].(int64)
		}
		return vals
	case logtype.Float:
		vals := make([]float64, n)
		for i, r := range rows {
			vals[i], _ = r.Values[ci].(float64)
		}
		return vals
	case logtype.Bool:
		vals := make([]uint8, n)
		for i, r := range rows {
			if b, _ := r.Values[ci].(bool); b {
				vals[i] = 1
			}
		}
		return vals
	}
	vals := make([]string, n)
	for i, r := range rows {
		vals[i], _ = r.Values[ci].(string)
	}
	return vals
}

// toCH converts a value set by an update.
func toCH(k logtype.Kind, v any) any {
	if b, ok := v.(bool); ok {
		if b {
			return uint8(1)
		}
		return uint8(0)
	}
	return v
}

func (s *Store) hasTable(ctx context.Context, t *logtype.Type) (bool, error) {
	s.mu.Lock()
	known := s.tables[t.Name]
	s.mu.Unlock()
	if known {
		return true, nil
	}
	var n uint64
	if err := s.db.QueryRowContext(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", s.database, t.Name).Scan(&n); err != nil {
		return false, err
	}
	if n == 0 {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return true, s.ensureTable(ctx, t)
}

// selectList reads a row: time, id, extra, the missing columns, then
// each column.
func selectList(t *logtype.Type) string {
	cols := []string{store.ColTime, store.ColID, store.ColExtra, store.ColNulls}
	for _, c := range t.Columns {
		cols = append(cols, store.Ident(c.Name))
	}
	return strings.Join(cols, ", ")
}

// fetchChunk is how many records one query fetches by key (each ID
// takes 20 bytes of the query's text, which ClickHouse limits to 256 KiB).
const fetchChunk = 2000

// List returns a page.
func (s *Store) List(ctx context.Context, t *logtype.Type, q store.Query) (store.Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	if ok, err := s.hasTable(ctx, t); err != nil || !ok {
		return store.Page{Rows: []logtype.Row{}}, err
	}
	b := store.SQL{D: store.ClickHouse, T: t}
	where, args, err := b.Where(q, true)
	if err != nil {
		return store.Page{}, err
	}
	order, err := b.OrderBy(q)
	if err != nil {
		return store.Page{}, err
	}
	// First the page's keys, reading only the columns the query and its
	// order need; then the records, by key, from the few parts that
	// hold them. Reading every column of the whole range to keep a page
	// cost 160 ms for one namespace's last hour of 10 million flow logs.
	keys, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s ORDER BY %s LIMIT %d",
		store.ColTime, store.ColID, store.Ident(t.Name), where, order, limit+1), args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("listing %s: %w", t.Name, err)
	}
	type key struct{ time, id int64 }
	var pageKeys []key
	for keys.Next() {
		var k key
		if err := keys.Scan(&k.time, &k.id); err != nil {
			keys.Close()
			return store.Page{}, err
		}
		pageKeys = append(pageKeys, k)
	}
	keys.Close()
	if err := keys.Err(); err != nil {
		return store.Page{}, err
	}
	more := len(pageKeys) > limit
	pageKeys = pageKeys[:min(len(pageKeys), limit)]
	found := make(map[key]logtype.Row, len(pageKeys))
	for start := 0; start < len(pageKeys); start += fetchChunk {
		chunk := pageKeys[start:min(start+fetchChunk, len(pageKeys))]
		lo, hi := chunk[0].time, chunk[0].time
		ids := make([]string, len(chunk))
		for i, k := range chunk {
			lo, hi = min(lo, k.time), max(hi, k.time)
			ids[i] = strconv.FormatInt(k.id, 10)
		}
		rows, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s = ? AND %s BETWEEN %d AND %d AND %s IN (%s)",
			selectList(t), store.Ident(t.Name), store.ColCluster, store.ColTime, lo, hi, store.ColID, strings.Join(ids, ",")), q.Cluster)
		if err != nil {
			return store.Page{}, fmt.Errorf("listing %s: %w", t.Name, err)
		}
		for rows.Next() {
			r, err := scanRow(rows, t)
			if err != nil {
				rows.Close()
				return store.Page{}, err
			}
			found[key{r.Time, r.ID}] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return store.Page{}, err
		}
	}
	var page store.Page
	for _, k := range pageKeys {
		r, ok := found[k]
		if !ok {
			// Deleted between the two reads (events are deleted).
			continue
		}
		page.Rows = append(page.Rows, r)
	}
	if more && len(page.Rows) > 0 {
		page.Next = store.CursorAfter(t, q, page.Rows[len(page.Rows)-1])
	}
	if page.Total, err = s.Count(ctx, t, q); err != nil {
		return store.Page{}, err
	}
	return page, nil
}

func scanRow(rows *sql.Rows, t *logtype.Type) (logtype.Row, error) {
	dest := make([]any, 4+len(t.Columns))
	ptrs := make([]any, len(dest))
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return logtype.Row{}, err
	}
	r := logtype.Row{Values: make([]any, len(t.Columns))}
	r.Time, _ = dest[0].(int64)
	r.ID, _ = dest[1].(int64)
	if e, _ := dest[2].(string); e != "" {
		if err := json.Unmarshal([]byte(e), &r.Extra); err != nil {
			return logtype.Row{}, fmt.Errorf("reading a stored record's extra fields: %w", err)
		}
	}
	nulls, _ := dest[3].([]uint16)
	for i, c := range t.Columns {
		v := dest[4+i]
		if c.Kind == logtype.Bool {
			b, _ := v.(uint8)
			v = b != 0
		}
		r.Values[i] = v
	}
	for _, i := range nulls {
		if int(i) < len(r.Values) {
			r.Values[i] = nil
		}
	}
	return r, nil
}

// Count counts the records a query selects.
func (s *Store) Count(ctx context.Context, t *logtype.Type, q store.Query) (int64, error) {
	if ok, err := s.hasTable(ctx, t); err != nil || !ok {
		return 0, err
	}
	where, args, err := store.SQL{D: store.ClickHouse, T: t}.Where(q, false)
	if err != nil {
		return 0, err
	}
	var n uint64
	if err := s.db.QueryRowContext(ctx, fmt.Sprintf("SELECT count() FROM %s WHERE %s", store.Ident(t.Name), where), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting %s: %w", t.Name, err)
	}
	return int64(n), nil
}

// Aggregate groups the records a query selects.
func (s *Store) Aggregate(ctx context.Context, t *logtype.Type, q store.Query, a store.Aggregation) ([]store.Bucket, error) {
	sel, group, _, err := store.AggregateSQL(store.ClickHouse, t, a)
	if err != nil {
		return nil, err
	}
	if ok, err := s.hasTable(ctx, t); err != nil || !ok {
		return []store.Bucket{}, err
	}
	where, args, err := store.SQL{D: store.ClickHouse, T: t}.Where(q, false)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, store.AggregateQuery(sel, store.Ident(t.Name), where, group, a.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("aggregating %s: %w", t.Name, err)
	}
	defer rows.Close()
	return store.ScanBuckets(rows, t, a)
}

// Update sets columns of the records a query selects. ClickHouse applies
// it as a mutation; Update waits until it is done.
func (s *Store) Update(ctx context.Context, t *logtype.Type, q store.Query, set map[string]any) (int64, error) {
	var set_ []string
	for k, v := range set {
		if v == nil {
			return 0, fmt.Errorf("%w: %s: the ClickHouse store cannot set a field to null", store.ErrBadQuery, k)
		}
		i, ok := t.ColumnIndex(k)
		if ok {
			set_ = append(set_, strconv.Itoa(i))
		}
	}
	assign, vals, err := store.UpdateSQL(t, set, toCH)
	if err != nil {
		return 0, err
	}
	// The fields set have values now.
	slices.Sort(set_)
	assign += fmt.Sprintf(", %s = arrayFilter(x -> NOT has([%s], x), %s)", store.ColNulls, strings.Join(set_, ", "), store.ColNulls)
	return s.mutate(ctx, t, q, "UPDATE "+assign, vals)
}

// Delete removes the records a query selects (a mutation, waited for).
func (s *Store) Delete(ctx context.Context, t *logtype.Type, q store.Query) (int64, error) {
	return s.mutate(ctx, t, q, "DELETE", nil)
}

func (s *Store) mutate(ctx context.Context, t *logtype.Type, q store.Query, what string, pre []any) (int64, error) {
	n, err := s.Count(ctx, t, q)
	if err != nil || n == 0 {
		return 0, err
	}
	where, args, err := store.SQL{D: store.ClickHouse, T: t}.Where(q, false)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s %s WHERE %s", store.Ident(t.Name), what, where), append(slices.Clone(pre), args...)...); err != nil {
		return 0, fmt.Errorf("changing %s: %w", t.Name, err)
	}
	// Wait for the mutation (ClickHouse 18 has no mutations_sync).
	for {
		var pending uint64
		if err := s.db.QueryRowContext(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND table = ? AND is_done = 0", s.database, t.Name).Scan(&pending); err != nil {
			return 0, err
		}
		if pending == 0 {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Retain drops the day partitions that end before the cutoff.
func (s *Store) Retain(ctx context.Context, t *logtype.Type, before time.Time) (int, error) {
	if ok, err := s.hasTable(ctx, t); err != nil || !ok {
		return 0, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active", s.database, t.Name)
	if err != nil {
		return 0, err
	}
	var parts []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return 0, err
		}
		parts = append(parts, p)
	}
	rows.Close()
	slices.Sort(parts)
	dropped := 0
	for _, p := range parts {
		day, err := time.Parse("20060102", p)
		if err != nil || day.Add(24*time.Hour).After(before) {
			continue
		}
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %s", store.Ident(t.Name), p)); err != nil {
			return dropped, fmt.Errorf("dropping %s's partition %s: %w", t.Name, p, err)
		}
		s.log.Info("log store: dropped a day past retention", "table", t.Name, "partition", p)
		dropped++
	}
	return dropped, nil
}
