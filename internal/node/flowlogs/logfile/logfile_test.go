package logfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

type line struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

// batch is n lines from seq on, each about size bytes.
func batch(seq, n, size int) []line {
	out := make([]line, n)
	for i := range out {
		out[i] = line{Seq: seq + i, Text: strings.Repeat("x", size)}
	}
	return out
}

func clock() func() time.Time {
	t := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

func readLines(t *testing.T, path string) []line {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("%s ends inside a line", path)
	}
	var out []line
	for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var x line
		if err := json.Unmarshal(l, &x); err != nil {
			t.Fatalf("%s: %q: %v", path, l, err)
		}
		out = append(out, x)
	}
	return out
}

func TestCreatesDirectoryAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "log", "calico", "flowlogs")
	w, err := Open(Config{Dir: dir, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := WriteJSONLines(w, batch(0, 3, 10)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("directory: %v %v", st.Mode(), err)
	}
	st, err = os.Stat(filepath.Join(dir, "flows.log"))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("file: %v %v", st.Mode(), err)
	}
	if got := readLines(t, w.Path()); len(got) != 3 || got[2].Seq != 2 {
		t.Errorf("lines %+v", got)
	}
	// Reopening appends.
	w.Close()
	w, err = Open(Config{Dir: dir, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteJSONLines(w, batch(3, 1, 10)); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, w.Path()); len(got) != 4 {
		t.Errorf("after reopening: %d lines", len(got))
	}
}

func TestRotationAndRetention(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, MaxFileSizeMB: 1, MaxFiles: 2, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.maxBytes = 10_000 // small files for the test
	seq := 0
	for range 12 { // batches of 4 lines of ~1 KB: two batches a file
		if err := WriteJSONLines(w, batch(seq, 4, 1000)); err != nil {
			t.Fatal(err)
		}
		seq += 4
	}
	backups, err := w.Backups()
	if err != nil {
		t.Fatal(err)
	}
	if len(backups) != 2 {
		t.Fatalf("backups %v, want 2", backups)
	}
	for _, b := range backups {
		name := filepath.Base(b)
		if _, err := time.Parse("flows-2006-01-02T15-04-05.000.log", name); err != nil {
			t.Errorf("backup name %q: %v", name, err)
		}
	}
	// The live file and the two newest backups hold the last lines, in
	// order, each file only whole batches and under the size.
	var all []line
	for _, p := range []string{backups[1], backups[0], w.Path()} {
		st, _ := os.Stat(p)
		if st.Size() > 10_000 {
			t.Errorf("%s: %d bytes", p, st.Size())
		}
		ls := readLines(t, p)
		if len(ls)%4 != 0 {
			t.Errorf("%s: %d lines, a batch was split", p, len(ls))
		}
		all = append(all, ls...)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq != all[i-1].Seq+1 {
			t.Fatalf("lines out of order at %d: %d after %d", i, all[i].Seq, all[i-1].Seq)
		}
	}
	if all[len(all)-1].Seq != seq-1 {
		t.Errorf("last line %d, want %d", all[len(all)-1].Seq, seq-1)
	}

	// A batch bigger than a file gets one of its own.
	if err := WriteJSONLines(w, batch(seq, 30, 1000)); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, w.Path()); len(got) != 30 {
		t.Errorf("big batch: %d lines in the live file", len(got))
	}
}

func TestBackupNamesDoNotCollide(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	w, err := Open(Config{Dir: dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.maxBytes = 100
	for i := range 3 {
		if err := WriteJSONLines(w, batch(i, 1, 200)); err != nil {
			t.Fatal(err)
		}
	}
	backups, _ := w.Backups()
	if len(backups) != 2 || backups[0] == backups[1] {
		t.Errorf("backups %v", backups)
	}
}

// TestTailReaderSeesWholeLines follows flows.log as fluentd's in_tail
// does (by name, across rotations, keeping an unterminated tail until its
// newline comes) while batches are written: every line it gets is whole
// and in order, and no rotated file ends inside a line.
func TestTailReaderSeesWholeLines(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, MaxFiles: 0, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.maxBytes = 64 << 10
	const batches, perBatch = 200, 25
	done := make(chan struct{})
	var wg sync.WaitGroup
	var got []line
	var read atomic.Int64
	var readErr error
	partials := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		readErr = tail(w.Path(), batches*perBatch, done, &partials, func(l []byte) error {
			var x line
			if err := json.Unmarshal(l, &x); err != nil {
				return fmt.Errorf("partial or broken line %q: %w", l, err)
			}
			got = append(got, x)
			read.Add(1)
			return nil
		})
	}()
	for i := range batches {
		// A tailer that falls a whole file behind loses it (fluentd
		// too): keep the reader within two batches, still reading while
		// the next one is written.
		for int64(i*perBatch)-read.Load() > 2*perBatch {
			time.Sleep(20 * time.Microsecond)
		}
		if err := WriteJSONLines(w, batch(i*perBatch, perBatch, 100+i%300)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if len(got) != batches*perBatch {
		t.Fatalf("read %d lines, want %d", len(got), batches*perBatch)
	}
	// The kernel extends a file page by page while a write copies, so a
	// reader can meet the end of the file inside a batch: it keeps the
	// tail until the newline comes, as in_tail does.
	t.Logf("the reader met the end of the file inside a line %d times", partials)
	for i, l := range got {
		if l.Seq != i {
			t.Fatalf("line %d has seq %d", i, l.Seq)
		}
	}
}

// tail reads path by name until it has want lines (or done and nothing
// more comes), reopening it when it is rotated. A rotated file must end
// with a newline.
func tail(path string, want int, done <-chan struct{}, partials *int, onLine func([]byte) error) error {
	var f *os.File
	var ino uint64
	var partial []byte
	n := 0
	open := func() error {
		var err error
		for {
			f, err = os.Open(path)
			if err == nil {
				st, _ := f.Stat()
				ino = st.Sys().(*syscall.Stat_t).Ino
				return nil
			}
			if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := open(); err != nil {
		return err
	}
	defer func() { f.Close() }()
	r := bufio.NewReader(f)
	idle := 0
	for n < want {
		chunk, err := r.ReadBytes('\n')
		if len(chunk) > 0 {
			idle = 0
			partial = append(partial, chunk...)
			if partial[len(partial)-1] != '\n' {
				*partials++
			} else {
				if err := onLine(bytes.TrimSuffix(partial, []byte("\n"))); err != nil {
					return err
				}
				partial = partial[:0]
				n++
			}
			continue
		}
		if err != io.EOF {
			return err
		}
		// At the end: rotated?
		st, serr := os.Stat(path)
		if serr == nil && st.Sys().(*syscall.Stat_t).Ino != ino {
			// Drain what the old file still has.
			rest, _ := io.ReadAll(r)
			partial = append(partial, rest...)
			for len(partial) > 0 {
				i := bytes.IndexByte(partial, '\n')
				if i < 0 {
					return fmt.Errorf("a rotated file ends inside a line: %q", partial)
				}
				if err := onLine(partial[:i]); err != nil {
					return err
				}
				partial = partial[i+1:]
				n++
			}
			f.Close()
			if err := open(); err != nil {
				return err
			}
			r.Reset(f)
			continue
		}
		select {
		case <-done:
			idle++
			if idle > 1000 {
				return fmt.Errorf("stopped after %d lines, %d bytes pending", n, len(partial))
			}
		default:
		}
		time.Sleep(50 * time.Microsecond)
	}
	return nil
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBatch([]byte(`{"a":1}`)); err == nil || !strings.Contains(err.Error(), "newline") {
		t.Errorf("a batch without its newline: %v", err)
	}
	// The file goes bad under the writer.
	w.f.Close()
	err = w.WriteBatch([]byte("{}\n"))
	if err == nil || !strings.Contains(err.Error(), w.Path()) {
		t.Errorf("write to a closed file: %v", err)
	}
	w.Close()

	// The directory cannot be made.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: filepath.Join(blocker, "sub")}); err == nil || !strings.HasPrefix(err.Error(), "flow log file: ") {
		t.Errorf("directory under a file: %v", err)
	}
	if _, err := Open(Config{}); err == nil {
		t.Error("no directory accepted")
	}

	// Rotation fails (someone removed the live file): the error says so,
	// and the next batch starts a new file.
	rd := filepath.Join(dir, "rotate")
	w, err = Open(Config{Dir: rd, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.maxBytes = 10
	if err := w.WriteBatch([]byte("{\"seq\":0}\n")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(w.Path()); err != nil {
		t.Fatal(err)
	}
	err = w.WriteBatch([]byte("{\"seq\":1}\n"))
	if err == nil || !strings.Contains(err.Error(), "rotating") || !strings.Contains(err.Error(), w.Path()) {
		t.Errorf("rotation of a removed file: %v", err)
	}
	if err := w.WriteBatch([]byte("{\"seq\":1}\n")); err != nil {
		t.Errorf("after a failed rotation: %v", err)
	}
	if got := readLines(t, w.Path()); len(got) != 1 || got[0].Seq != 1 {
		t.Errorf("live file %+v", got)
	}
}
