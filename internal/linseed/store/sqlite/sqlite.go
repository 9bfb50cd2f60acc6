// Package sqlite is Linseed's embedded log store: one SQLite database
// (modernc.org/sqlite, no cgo) in WAL mode, with one table per log type
// and day (`flows_20261206`), so that retention drops whole tables. A
// write is one transaction, synced to disk before it returns.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store"
)

// SchemaVersion is the database's schema version (PRAGMA user_version).
// Each version's migration is in migrations; tables of a type gain the
// type's new columns automatically.
const SchemaVersion = 2

// migrations[i] upgrades a database from version i to i+1.
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	// 0 → 1: the first schema: day tables are created as they are needed.
	func(context.Context, *sql.Tx) error { return nil },
	// 1 → 2: the query planner's statistics for every day table (plan).
	func(ctx context.Context, tx *sql.Tx) error {
		// ANALYZE creates sqlite_stat1 (and may not be asked to: the name
		// is reserved); looking at a few rows of each index is enough,
		// since plan replaces what it finds.
		if _, err := tx.ExecContext(ctx, "PRAGMA analysis_limit = 100"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "ANALYZE"); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
		if err != nil {
			return err
		}
		var tables []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return err
			}
			if dayTable.MatchString(name) {
				tables = append(tables, name)
			}
		}
		rows.Close()
		for _, table := range tables {
			if err := plan(ctx, tx, table); err != nil {
				return err
			}
		}
		return nil
	},
}

// plan writes a day table's statistics for SQLite's query planner, in
// place of ANALYZE: every record has the same cluster (the first column
// of every index, so it narrows nothing), an indexed field's value (a
// namespace, say) picks few records, and a time picks one or two. From
// these the planner searches the namespace indexes within the time range
// rather than scanning the range by the primary key: a console's query
// for one namespace over the last hour of 10 million flow logs reads its
// few thousand records, not the hour's 400,000. ANALYZE would have to
// read the whole table to learn as much (sampling reads only its
// beginning, which is one namespace), and the shape does not change with
// the data. The statements run in the transaction that creates the
// table, so every connection loads them with the new schema.
func plan(ctx context.Context, tx *sql.Tx, table string) error {
	rows, err := tx.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", table)
	if err != nil {
		return err
	}
	var indexes []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		indexes = append(indexes, name)
	}
	rows.Close()
	stats := map[string]string{
		// The primary key, (cluster, time, ID).
		"sqlite_autoindex_" + table + "_1": "1000000 1000000 2 1",
	}
	for _, ix := range indexes {
		var keys int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pragma_index_xinfo(?) WHERE key = 1", ix).Scan(&keys); err != nil {
			return err
		}
		// (cluster, fields…, time): the average records per value of
		// each prefix, of a nominal million.
		stat := []string{"1000000", "1000000"}
		for i, per := 0, 10000; i < keys-2; i, per = i+1, max(per/10, 3) {
			stat = append(stat, strconv.Itoa(per))
		}
		stats[ix] = strings.Join(append(stat, "2"), " ")
	}
	for ix, stat := range stats {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sqlite_stat1 WHERE tbl = ? AND idx = ?", table, ix); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", table, ix, stat); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, "ANALYZE sqlite_schema")
	return err
}

// Config says where the database is.
type Config struct {
	// Path is the database file; its directory is created.
	Path string
	Log  *slog.Logger
}

// insertChunk is the most rows one INSERT statement writes.
const insertChunk = 32

// Store is the SQLite store.
type Store struct {
	db   *sql.DB
	log  *slog.Logger
	path string

	// mu guards days and w, and serialises writers (SQLite has one
	// writer).
	mu sync.Mutex
	// w writes records (Write); schema changes, updates and deletes go
	// through db.
	w *writer
	// days are the existing day tables of each type, oldest first.
	days map[string][]string
}

var _ store.Store = (*Store)(nil)

// Open opens (or creates) the database and brings its schema up to date.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite store: a database path is required")
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dsn := "file:" + cfg.Path + "?_pragma=journal_mode(WAL)"
	for _, p := range pragmas {
		dsn += "&_pragma=" + p
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db, log: log, path: cfg.Path, days: map[string][]string{}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	if err := s.loadDays(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	if s.w, err = openWriter(cfg.Path, pragmas); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	return s, nil
}

// pragmas are every connection's settings. The database is in WAL mode
// (set once, it stays), so a write appends to the log and readers go on
// beside it. synchronous=FULL syncs the log at every commit, so that an
// acknowledged write survives a crash of the machine. At 10 million flow
// logs the default 2 MiB page cache made every index insert read pages
// back from the file, hence 64 MiB, and checkpoints every 10,000 pages
// rather than 1,000.
var pragmas = []string{"busy_timeout(10000)", "synchronous(FULL)", "foreign_keys(OFF)", "cache_size(-65536)", "wal_autocheckpoint(10000)"}

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("the database's schema version %d is newer than this Linseed's (%d)", v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := migrations[v](ctx, tx); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrating the schema to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		s.log.Info("log store schema migrated", "version", v+1)
	}
	return nil
}

var dayTable = regexp.MustCompile(`^([a-z_]+)_(\d{8})$`)

func (s *Store) loadDays(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if m := dayTable.FindStringSubmatch(name); m != nil {
			s.days[m[1]] = append(s.days[m[1]], name)
		}
	}
	for _, d := range s.days {
		slices.Sort(d)
	}
	return rows.Err()
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	werr := s.w.close()
	s.mu.Unlock()
	return errors.Join(werr, s.db.Close())
}

func tableFor(t *logtype.Type, ms int64) string {
	return t.Name + "_" + time.UnixMilli(ms).UTC().Format("20060102")
}

// dayOf is the UTC day a time in milliseconds falls on, as a number: rows
// of one day share a table, and comparing days is cheaper than naming
// tables.
func dayOf(ms int64) int64 {
	const day = 24 * 60 * 60 * 1000
	if ms < 0 {
		return (ms - day + 1) / day
	}
	return ms / day
}

func sqlType(k logtype.Kind) string {
	switch k {
	case logtype.Int, logtype.Bool:
		return "INTEGER"
	case logtype.Float:
		return "REAL"
	}
	return "TEXT"
}

// ensureTable creates a day table, or adds the type's new columns to
// one (inside the write's transaction).
func (s *Store) ensureTable(ctx context.Context, tx *sql.Tx, t *logtype.Type, table string) error {
	if slices.Contains(s.days[t.Name], table) {
		return nil
	}
	var cols []string
	cols = append(cols, store.ColCluster+" TEXT NOT NULL", store.ColTime+" INTEGER NOT NULL", store.ColID+" INTEGER NOT NULL", store.ColExtra+" TEXT")
	for _, c := range t.Columns {
		cols = append(cols, store.Ident(c.Name)+" "+sqlType(c.Kind))
	}
	// The table is ordered by cluster and time (records arrive roughly
	// in time order, so writes append), and the key, with the record's
	// ID, makes a repeated record a no-op.
	cols = append(cols, fmt.Sprintf("PRIMARY KEY (%s, %s, %s)", store.ColCluster, store.ColTime, store.ColID))
	stmts := []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s) WITHOUT ROWID", store.Ident(table), strings.Join(cols, ", ")),
	}
	for i, ix := range t.Indexes {
		var names []string
		for _, n := range ix {
			names = append(names, store.Ident(n))
		}
		stmts = append(stmts, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s, %s, %s)", store.Ident(fmt.Sprintf("%s_ix%d", table, i)),
			store.Ident(table), store.ColCluster, strings.Join(names, ", "), store.ColTime))
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("creating table %s: %w", table, err)
		}
	}
	if err := plan(ctx, tx, table); err != nil {
		return fmt.Errorf("creating table %s: the planner's statistics: %w", table, err)
	}
	if err := addMissingColumns(ctx, tx, t, table); err != nil {
		return err
	}
	return nil
}

// addMissingColumns brings an older day table up to the type's columns.
func addMissingColumns(ctx context.Context, tx *sql.Tx, t *logtype.Type, table string) error {
	rows, err := tx.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
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
	for _, c := range t.Columns {
		if !have[c.Name] {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", store.Ident(table), store.Ident(c.Name), sqlType(c.Kind))); err != nil {
				return fmt.Errorf("adding column %s to %s: %w", c.Name, table, err)
			}
		}
	}
	return nil
}

// Write stores rows in one transaction.
func (s *Store) Write(ctx context.Context, t *logtype.Type, cluster string, rows []logtype.Row) (store.WriteResult, error) {
	var res store.WriteResult
	if len(rows) == 0 {
		return res, nil
	}
	// The rows' SQL values are made before taking the writers' lock, so
	// concurrent requests convert in parallel and the single writer only
	// binds and inserts.
	width := 4 + len(t.Columns)
	vals := make([]any, 0, len(rows)*width)
	for _, r := range rows {
		var extra any
		if len(r.Extra) > 0 {
			b, err := json.Marshal(r.Extra)
			if err != nil {
				return res, err
			}
			extra = string(b)
		}
		vals = append(vals, cluster, r.Time, r.ID, extra)
		for i, c := range t.Columns {
			vals = append(vals, toSQL(c.Kind, r.Values[i]))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := s.ensureTables(ctx, t, rows); err != nil {
		return res, wrapErr("writing", err)
	}
	if err := s.w.exec("BEGIN IMMEDIATE"); err != nil {
		return res, wrapErr("starting a write", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = s.w.exec("ROLLBACK")
		}
	}()
	// Rows go in statements of up to insertChunk rows (one statement
	// per row costs three times as much), prepared once per table and
	// size.
	for start := 0; start < len(rows); {
		day := dayOf(rows[start].Time)
		end := start + 1
		for end < len(rows) && end-start < insertChunk && dayOf(rows[end].Time) == day {
			end++
		}
		k := stmtKey{tableFor(t, rows[start].Time), end - start}
		n, err := s.w.insert(k, func() string { return insertSQL(t, k) }, vals[start*width:end*width])
		if err != nil {
			return res, wrapErr("writing", err)
		}
		res.Stored += n
		res.Duplicates += k.rows - n
		start = end
	}
	if err := s.w.exec("COMMIT"); err != nil {
		return store.WriteResult{}, wrapErr("committing a write", err)
	}
	committed = true
	return res, nil
}

// ensureTables creates the day tables rows need that do not exist yet,
// in a transaction of their own before the write.
func (s *Store) ensureTables(ctx context.Context, t *logtype.Type, rows []logtype.Row) error {
	var missing []string
	for i, r := range rows {
		if i > 0 && dayOf(r.Time) == dayOf(rows[i-1].Time) {
			continue // rows mostly come in time order
		}
		if table := tableFor(t, r.Time); !slices.Contains(s.days[t.Name], table) && !slices.Contains(missing, table) {
			missing = append(missing, table)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, table := range missing {
		if err := s.ensureTable(ctx, tx, t, table); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.days[t.Name] = append(s.days[t.Name], missing...)
	slices.Sort(s.days[t.Name])
	return nil
}

// insertSQL is the INSERT of k.rows records of t into k.table.
func insertSQL(t *logtype.Type, k stmtKey) string {
	colNames := []string{store.ColCluster, store.ColTime, store.ColID, store.ColExtra}
	for _, c := range t.Columns {
		colNames = append(colNames, store.Ident(c.Name))
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(colNames)), ", ") + ")"
	return fmt.Sprintf("INSERT OR IGNORE INTO %s (%s) VALUES %s", store.Ident(k.table), strings.Join(colNames, ", "),
		strings.TrimSuffix(strings.Repeat(one+", ", k.rows), ", "))
}

func toSQL(k logtype.Kind, v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case bool:
		if v {
			return int64(1)
		}
		return int64(0)
	case []string:
		return logtype.ListJSON(v)
	}
	return v
}

// wrapErr names a full disk as store.ErrFull.
func wrapErr(what string, err error) error {
	if isFull(err) {
		return fmt.Errorf("%s: %w (%v)", what, store.ErrFull, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// tablesFor lists the day tables a query's time range touches, newest
// first.
func (s *Store) tablesFor(t *logtype.Type, q store.Query) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tablesLocked(t, q)
}

func (s *Store) tablesLocked(t *logtype.Type, q store.Query) []string {
	all := s.days[t.Name]
	var out []string
	for i := len(all) - 1; i >= 0; i-- {
		day, err := time.Parse("20060102", all[i][len(t.Name)+1:])
		if err != nil {
			continue
		}
		if !q.From.IsZero() && !day.Add(24*time.Hour).After(q.From) {
			continue
		}
		if !q.To.IsZero() && !day.Before(q.To) {
			continue
		}
		out = append(out, all[i])
	}
	return out
}

func selectList(t *logtype.Type) string {
	cols := []string{store.ColTime, store.ColID, store.ColExtra}
	for _, c := range t.Columns {
		cols = append(cols, store.Ident(c.Name))
	}
	return strings.Join(cols, ", ")
}

// List returns a page. Sorted by time (the default), it reads the day
// tables newest first and stops once the page is full; other orders
// read the union of the days.
func (s *Store) List(ctx context.Context, t *logtype.Type, q store.Query) (store.Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	b := store.SQL{D: store.SQLite, T: t}
	where, args, err := b.Where(q, true)
	if err != nil {
		return store.Page{}, err
	}
	order, err := b.OrderBy(q)
	if err != nil {
		return store.Page{}, err
	}
	sel := selectList(t)
	tables := s.tablesFor(t, q)
	var page store.Page
	read := func(query string, args []any, want int) error {
		rows, err := s.db.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("listing %s: %w", t.Name, err)
		}
		defer rows.Close()
		for rows.Next() && want > 0 {
			r, err := scanRow(rows, t)
			if err != nil {
				return err
			}
			page.Rows = append(page.Rows, r)
			want--
		}
		return rows.Err()
	}
	if len(q.Sort) == 0 {
		for _, table := range tables {
			left := limit + 1 - len(page.Rows)
			if left <= 0 {
				break
			}
			query := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT %d", sel, store.Ident(table), where, order, left)
			if err := read(query, args, left); err != nil {
				return store.Page{}, err
			}
		}
	} else if len(tables) > 0 {
		var parts []string
		var all []any
		for _, table := range tables {
			parts = append(parts, fmt.Sprintf("SELECT %s FROM %s WHERE %s", selectList(t), store.Ident(table), where))
			all = append(all, args...)
		}
		query := fmt.Sprintf("SELECT %s FROM (%s) ORDER BY %s LIMIT %d", sel, strings.Join(parts, " UNION ALL "), order, limit+1)
		if err := read(query, all, limit+1); err != nil {
			return store.Page{}, err
		}
	}
	if len(page.Rows) > limit {
		page.Rows = page.Rows[:limit]
		page.Next = store.CursorAfter(t, q, page.Rows[limit-1])
	}
	total, err := s.Count(ctx, t, q)
	if err != nil {
		return store.Page{}, err
	}
	page.Total = total
	return page, nil
}

func scanRow(rows *sql.Rows, t *logtype.Type) (logtype.Row, error) {
	dest := make([]any, 3+len(t.Columns))
	ptrs := make([]any, len(dest))
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return logtype.Row{}, err
	}
	r := logtype.Row{Time: dest[0].(int64), ID: dest[1].(int64), Values: make([]any, len(t.Columns))}
	if e := asString(dest[2]); e != "" {
		if err := json.Unmarshal([]byte(e), &r.Extra); err != nil {
			return logtype.Row{}, fmt.Errorf("reading a stored record's extra fields: %w", err)
		}
	}
	for i, c := range t.Columns {
		v, err := fromSQL(c.Kind, dest[3+i])
		if err != nil {
			return logtype.Row{}, fmt.Errorf("reading %s: %w", c.Path, err)
		}
		r.Values[i] = v
	}
	return r, nil
}

func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

func fromSQL(k logtype.Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case logtype.Text, logtype.JSON:
		return asString(v), nil
	case logtype.Int:
		if n, ok := v.(int64); ok {
			return n, nil
		}
	case logtype.Float:
		switch n := v.(type) {
		case float64:
			return n, nil
		case int64:
			return float64(n), nil
		}
	case logtype.Bool:
		if n, ok := v.(int64); ok {
			return n != 0, nil
		}
	case logtype.List:
		var out []string
		if err := json.Unmarshal([]byte(asString(v)), &out); err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected stored value %T", v)
}

// Count counts the records a query selects.
func (s *Store) Count(ctx context.Context, t *logtype.Type, q store.Query) (int64, error) {
	b := store.SQL{D: store.SQLite, T: t}
	where, args, err := b.Where(q, false)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, table := range s.tablesFor(t, q) {
		var n int64
		if err := s.db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", store.Ident(table), where), args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("counting %s: %w", t.Name, err)
		}
		total += n
	}
	return total, nil
}

// Aggregate groups the records a query selects.
func (s *Store) Aggregate(ctx context.Context, t *logtype.Type, q store.Query, a store.Aggregation) ([]store.Bucket, error) {
	sel, group, inner, err := store.AggregateSQL(store.SQLite, t, a)
	if err != nil {
		return nil, err
	}
	b := store.SQL{D: store.SQLite, T: t}
	where, args, err := b.Where(q, false)
	if err != nil {
		return nil, err
	}
	tables := s.tablesFor(t, q)
	if len(tables) == 0 {
		return []store.Bucket{}, nil
	}
	var parts []string
	var all []any
	for _, table := range tables {
		parts = append(parts, fmt.Sprintf("SELECT %s FROM %s WHERE %s", inner, store.Ident(table), where))
		all = append(all, args...)
	}
	query := store.AggregateQuery(sel, "("+strings.Join(parts, " UNION ALL ")+")", "", group, a.Limit)
	rows, err := s.db.QueryContext(ctx, query, all...)
	if err != nil {
		return nil, fmt.Errorf("aggregating %s: %w", t.Name, err)
	}
	defer rows.Close()
	return store.ScanBuckets(rows, t, a)
}

// Update sets columns of the records a query selects.
func (s *Store) Update(ctx context.Context, t *logtype.Type, q store.Query, set map[string]any) (int64, error) {
	assign, vals, err := store.UpdateSQL(t, set, func(k logtype.Kind, v any) any { return toSQL(k, v) })
	if err != nil {
		return 0, err
	}
	return s.change(ctx, t, q, func(table, where string) string {
		return fmt.Sprintf("UPDATE %s SET %s WHERE %s", store.Ident(table), assign, where)
	}, vals)
}

// Delete removes the records a query selects.
func (s *Store) Delete(ctx context.Context, t *logtype.Type, q store.Query) (int64, error) {
	return s.change(ctx, t, q, func(table, where string) string {
		return fmt.Sprintf("DELETE FROM %s WHERE %s", store.Ident(table), where)
	}, nil)
}

func (s *Store) change(ctx context.Context, t *logtype.Type, q store.Query, stmt func(table, where string) string, pre []any) (int64, error) {
	b := store.SQL{D: store.SQLite, T: t}
	where, args, err := b.Where(q, false)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrapErr("changing records", err)
	}
	defer tx.Rollback()
	var total int64
	for _, table := range s.tablesLocked(t, q) {
		res, err := tx.ExecContext(ctx, stmt(table, where), append(slices.Clone(pre), args...)...)
		if err != nil {
			return 0, wrapErr("changing records", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	if err := tx.Commit(); err != nil {
		return 0, wrapErr("changing records", err)
	}
	return total, nil
}

// Retain drops the day tables of a type that end before the cutoff.
func (s *Store) Retain(ctx context.Context, t *logtype.Type, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tables := s.days[t.Name]
	dropped := 0
	for dropped < len(tables) {
		table := tables[dropped]
		day, err := time.Parse("20060102", table[len(t.Name)+1:])
		if err != nil || day.Add(24*time.Hour).After(before) {
			break // tables are oldest first
		}
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+store.Ident(table)); err != nil {
			s.days[t.Name] = tables[dropped:]
			return dropped, wrapErr("dropping "+table, err)
		}
		s.log.Info("log store: dropped a day past retention", "table", table)
		dropped++
	}
	s.days[t.Name] = tables[dropped:]
	return dropped, nil
}
