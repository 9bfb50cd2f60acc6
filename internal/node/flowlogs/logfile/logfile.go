// Package logfile writes flow logs where Calico Enterprise's fluentd
// reads them: JSON lines appended to <dir>/flows.log, rotated by size.
// A rotated file is renamed as Felix's rotating writer (lumberjack) names
// its backups, "flows-<UTC time>.log" with the time as
// 2006-01-02T15-04-05.000, and the newest MaxFiles of them are kept.
//
// Each batch (one flush's records) is one write(2) of complete lines,
// and a rotation happens only between batches, so no line is ever split
// across files or left incomplete: a failed write is cut off again.
package logfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config says where and how much.
type Config struct {
	// Dir is the directory (flowLogsFileDirectory); it is created (0755)
	// if missing.
	Dir string
	// FileName is the live file's name; "flows.log" when empty.
	FileName string
	// MaxFileSizeMB is the size past which the file is rotated
	// (flowLogsFileMaxFileSizeMB; 100 when 0).
	MaxFileSizeMB int
	// MaxFiles is how many rotated files are kept besides the live one
	// (flowLogsFileMaxFiles, Felix's MaxBackups); 0 keeps them all.
	MaxFiles int
	// Now is the clock that names rotated files (time.Now when nil).
	Now func() time.Time
}

// backupTime is the layout of a rotated file's time (lumberjack's).
const backupTime = "2006-01-02T15-04-05.000"

// Writer appends batches to the live file. It is safe for concurrent
// use.
type Writer struct {
	cfg      Config
	path     string
	maxBytes int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Open creates the directory and opens (or creates, 0644) the live file
// for appending.
func Open(cfg Config) (*Writer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("flow log file: no directory")
	}
	if cfg.FileName == "" {
		cfg.FileName = "flows.log"
	}
	if cfg.MaxFileSizeMB <= 0 {
		cfg.MaxFileSizeMB = 100
	}
	if cfg.MaxFiles < 0 {
		return nil, fmt.Errorf("flow log file: %d files to keep", cfg.MaxFiles)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("flow log file: %w", err)
	}
	w := &Writer{cfg: cfg, path: filepath.Join(cfg.Dir, cfg.FileName), maxBytes: int64(cfg.MaxFileSizeMB) << 20}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// Path is the live file's path.
func (w *Writer) Path() string { return w.path }

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("flow log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("flow log file: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// WriteBatch appends complete lines (each ending in a newline) with one
// write, rotating first if they would take the file past its size (a
// batch larger than that gets a file of its own). On a failed or short
// write the file is cut back, so it never ends inside a line.
func (w *Writer) WriteBatch(batch []byte) error {
	if len(batch) == 0 {
		return nil
	}
	if batch[len(batch)-1] != '\n' {
		return errors.New("flow log file: a batch must end with a newline")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.size > 0 && w.size+int64(len(batch)) > w.maxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(batch)
	if err == nil && n < len(batch) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(batch))
	}
	if err != nil {
		if n > 0 {
			if terr := w.f.Truncate(w.size); terr != nil {
				err = errors.Join(err, fmt.Errorf("cutting back the partial batch: %w", terr))
			}
		}
		return fmt.Errorf("flow log file %s: %w", w.path, err)
	}
	w.size += int64(n)
	return nil
}

// WriteJSONLines encodes items as JSON lines (as Felix encodes them) and
// writes them as one batch.
func WriteJSONLines[T any](w *Writer, items []T) error {
	if len(items) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range items {
		if err := enc.Encode(&items[i]); err != nil {
			return fmt.Errorf("flow log file: encoding: %w", err)
		}
	}
	return w.WriteBatch(buf.Bytes())
}

// rotate renames the live file to a backup, opens a new one and deletes
// the backups beyond MaxFiles.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		w.f = nil
		return fmt.Errorf("flow log file %s: closing for rotation: %w", w.path, err)
	}
	w.f = nil
	prefix, ext := w.nameParts()
	t := w.cfg.Now().UTC()
	var backup string
	for {
		backup = filepath.Join(w.cfg.Dir, prefix+t.Format(backupTime)+ext)
		if _, err := os.Lstat(backup); errors.Is(err, os.ErrNotExist) {
			break
		}
		t = t.Add(time.Millisecond)
	}
	if err := os.Rename(w.path, backup); err != nil {
		return fmt.Errorf("flow log file %s: rotating: %w", w.path, err)
	}
	if err := w.open(); err != nil {
		return err
	}
	return w.prune()
}

// nameParts splits the live file's name as lumberjack does: "flows-" and
// ".log" around a backup's time.
func (w *Writer) nameParts() (prefix, ext string) {
	ext = filepath.Ext(w.cfg.FileName)
	return strings.TrimSuffix(w.cfg.FileName, ext) + "-", ext
}

// Backups lists the rotated files, newest first.
func (w *Writer) Backups() ([]string, error) {
	entries, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("flow log file: %w", err)
	}
	prefix, ext := w.nameParts()
	type backup struct {
		name string
		t    time.Time
	}
	var bs []backup
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ext) {
			continue
		}
		t, err := time.Parse(backupTime, strings.TrimSuffix(strings.TrimPrefix(n, prefix), ext))
		if err != nil {
			continue
		}
		bs = append(bs, backup{n, t})
	}
	slices.SortFunc(bs, func(a, b backup) int { return b.t.Compare(a.t) })
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = filepath.Join(w.cfg.Dir, b.name)
	}
	return out, nil
}

func (w *Writer) prune() error {
	if w.cfg.MaxFiles == 0 {
		return nil
	}
	bs, err := w.Backups()
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range bs[min(len(bs), w.cfg.MaxFiles):] {
		if err := os.Remove(b); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flow log file: removing old files: %w", err)
	}
	return nil
}

// Close closes the live file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("flow log file %s: %w", w.path, err)
	}
	return nil
}
