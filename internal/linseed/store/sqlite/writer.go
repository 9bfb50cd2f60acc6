package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// writer is the store's one writing connection for records. It drives
// SQLite's C API as modernc.org/sqlite transpiles it (sqlite3lib)
// instead of going through database/sql.
//
// A bulk write binds some sixty values per flow log. Through
// database/sql each value is converted, its parameter's name is looked
// up, a text is copied into a C allocation of its own and freed again,
// and the connection's mutex is taken to bind it and again to unbind it:
// a third of the writer's time, and the writer is what limits ingest.
// Here a statement's texts share one C buffer, and the connection is
// opened without a mutex: only the goroutine holding Store.mu uses it.
// Reads stay on database/sql's pool; WAL lets them run beside this
// connection.
type writer struct {
	tls *libc.TLS
	db  uintptr
	// stmts are the prepared INSERT statements.
	stmts map[stmtKey]uintptr
	// out is C memory where open and prepare put a handle.
	out uintptr
	// texts gathers a statement's texts before they are copied to C.
	texts []byte
}

// maxStmts bounds the prepared statements kept (day tables times chunk
// sizes); past it they are all finalized and prepared again as needed.
const maxStmts = 256

// sqliteError is an error SQLite returned, with its extended code.
type sqliteError struct {
	code int32
	msg  string
}

func (e *sqliteError) Error() string { return fmt.Sprintf("%s (%d)", e.msg, e.code) }

func openWriter(path string, pragmas []string) (*writer, error) {
	w := &writer{tls: libc.NewTLS(), stmts: map[stmtKey]uintptr{}}
	w.out = libc.Xmalloc(w.tls, types.Size_t(unsafe.Sizeof(uintptr(0))))
	name, err := libc.CString(path)
	if err != nil || w.out == 0 {
		w.close()
		return nil, fmt.Errorf("opening the writing connection: out of memory")
	}
	rc := sqlite3lib.Xsqlite3_open_v2(w.tls, name, w.out, sqlite3lib.SQLITE_OPEN_READWRITE|sqlite3lib.SQLITE_OPEN_NOMUTEX, 0)
	libc.Xfree(w.tls, name)
	w.db = w.handle()
	if rc != sqlite3lib.SQLITE_OK {
		err := w.err(rc)
		w.close()
		return nil, fmt.Errorf("opening the writing connection: %w", err)
	}
	sqlite3lib.Xsqlite3_extended_result_codes(w.tls, w.db, 1)
	for _, p := range pragmas {
		if err := w.exec("PRAGMA " + p); err != nil {
			w.close()
			return nil, fmt.Errorf("opening the writing connection: PRAGMA %s: %w", p, err)
		}
	}
	return w, nil
}

// err describes the connection's last error.
func (w *writer) err(rc int32) error {
	if w.db == 0 {
		return &sqliteError{code: rc, msg: "cannot open the database"}
	}
	code := sqlite3lib.Xsqlite3_extended_errcode(w.tls, w.db)
	if code == 0 {
		code = rc
	}
	return &sqliteError{code: code, msg: libc.GoString(sqlite3lib.Xsqlite3_errmsg(w.tls, w.db))}
}

// exec runs statements that take no parameters.
func (w *writer) exec(sql string) error {
	z, err := libc.CString(sql)
	if err != nil {
		return err
	}
	defer libc.Xfree(w.tls, z)
	if rc := sqlite3lib.Xsqlite3_exec(w.tls, w.db, z, 0, 0, 0); rc != sqlite3lib.SQLITE_OK {
		return w.err(rc)
	}
	return nil
}

// stmtKey names a prepared INSERT: its table and how many rows it
// writes.
type stmtKey struct {
	table string
	rows  int
}

// prepare returns the statement for k, preparing sql() if it has none.
func (w *writer) prepare(k stmtKey, sql func() string) (uintptr, error) {
	if st, ok := w.stmts[k]; ok {
		return st, nil
	}
	if len(w.stmts) >= maxStmts {
		w.finalize()
	}
	z, err := libc.CString(sql())
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(w.tls, z)
	if rc := sqlite3lib.Xsqlite3_prepare_v2(w.tls, w.db, z, -1, w.out, 0); rc != sqlite3lib.SQLITE_OK {
		return 0, w.err(rc)
	}
	st := w.handle()
	w.stmts[k] = st
	return st, nil
}

// handle reads the handle open or prepare put in out.
func (w *writer) handle() uintptr {
	if unsafe.Sizeof(uintptr(0)) == 4 {
		return uintptr(binary.NativeEndian.Uint32(libc.GoBytes(w.out, 4)))
	}
	return uintptr(binary.NativeEndian.Uint64(libc.GoBytes(w.out, 8)))
}

// insert runs k's INSERT (sql() if it is not prepared yet) with vals as
// its parameters and returns the number of rows it stored.
func (w *writer) insert(k stmtKey, sql func() string, vals []any) (int, error) {
	st, err := w.prepare(k, sql)
	if err != nil {
		return 0, err
	}
	// The texts and blobs are copied into one C buffer and bound where
	// they lie there (SQLITE_STATIC). SQLite copies them into the record
	// when the statement runs, and the buffer is freed after it.
	w.texts = w.texts[:0]
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			w.texts = append(w.texts, v...)
		case []byte:
			w.texts = append(w.texts, v...)
		}
	}
	w.texts = append(w.texts, 0) // never empty: a NULL pointer would bind NULL
	buf, err := libc.CString(unsafe.String(&w.texts[0], len(w.texts)))
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(w.tls, buf)
	off := buf
	for i, v := range vals {
		idx := int32(i + 1)
		var rc int32
		switch v := v.(type) {
		case nil:
			rc = sqlite3lib.Xsqlite3_bind_null(w.tls, st, idx)
		case int64:
			rc = sqlite3lib.Xsqlite3_bind_int64(w.tls, st, idx, v)
		case float64:
			rc = sqlite3lib.Xsqlite3_bind_double(w.tls, st, idx, v)
		case string:
			rc = sqlite3lib.Xsqlite3_bind_text(w.tls, st, idx, off, int32(len(v)), 0)
			off += uintptr(len(v))
		case []byte:
			rc = sqlite3lib.Xsqlite3_bind_blob(w.tls, st, idx, off, int32(len(v)), 0)
			off += uintptr(len(v))
		default:
			return 0, fmt.Errorf("parameter %d: unsupported type %T", idx, v)
		}
		if rc != sqlite3lib.SQLITE_OK {
			return 0, w.err(rc)
		}
	}
	rc := sqlite3lib.Xsqlite3_step(w.tls, st)
	// The statement is reset whatever happened: it is ready for its next
	// use and lets go of the buffer. A failed step's error is reported
	// again by the reset.
	rrc := sqlite3lib.Xsqlite3_reset(w.tls, st)
	if rc != sqlite3lib.SQLITE_DONE {
		if rrc == sqlite3lib.SQLITE_OK {
			rrc = rc
		}
		return 0, w.err(rrc)
	}
	return int(sqlite3lib.Xsqlite3_changes(w.tls, w.db)), nil
}

// finalize drops every prepared statement.
func (w *writer) finalize() {
	for k, st := range w.stmts {
		sqlite3lib.Xsqlite3_finalize(w.tls, st)
		delete(w.stmts, k)
	}
}

func (w *writer) close() error {
	var err error
	if w.db != 0 {
		w.finalize()
		if rc := sqlite3lib.Xsqlite3_close_v2(w.tls, w.db); rc != sqlite3lib.SQLITE_OK {
			err = w.err(rc)
		}
		w.db = 0
	}
	if w.out != 0 {
		libc.Xfree(w.tls, w.out)
		w.out = 0
	}
	w.tls.Close()
	return err
}

// isFull reports whether err is SQLite's "database or disk is full",
// from the writer or from database/sql's driver.
func isFull(err error) bool {
	var se *sqliteError
	var de *sqlite3.Error
	return errors.As(err, &se) && se.code&0xff == sqlite3lib.SQLITE_FULL ||
		errors.As(err, &de) && de.Code()&0xff == sqlite3lib.SQLITE_FULL
}
