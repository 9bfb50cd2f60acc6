package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func texts(r Result) []string {
	var out []string
	for _, l := range r.Lines {
		out = append(out, string(l))
	}
	return out
}

func read(t *testing.T, s Stream, pos Position, n int) Result {
	t.Helper()
	r, err := s.Read(pos, n, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFollowAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	s := Stream{Dir: dir, Live: "flows.log"}
	live := filepath.Join(dir, "flows.log")
	if r := read(t, s, Position{}, 10); len(r.Lines) != 0 {
		t.Fatalf("no files: %v", texts(r))
	}
	appendTo(t, live, "a\nb\nc")
	r := read(t, s, Position{}, 10)
	if got := strings.Join(texts(r), ","); got != "a,b" || r.Next.Offset != 4 || r.Behind != 1 {
		t.Fatalf("a partial last line is not read: %q at %+v, behind %d", got, r.Next, r.Behind)
	}
	appendTo(t, live, "\nd\n")
	// Rotate (rename) and start a new live file, twice; reading resumes
	// in the renamed file, then goes on through the newer ones.
	if err := os.Rename(live, filepath.Join(dir, "flows-2026-12-06T10-00-00.000.log")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, live, "e\nf\n")
	if err := os.Rename(live, filepath.Join(dir, "flows-2026-12-06T11-00-00.000.log")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, live, "g\n")
	os.WriteFile(filepath.Join(dir, "other.log"), []byte("not ours\n"), 0o644)
	r = read(t, s, r.Next, 3)
	if got := strings.Join(texts(r), ","); got != "c,d,e" {
		t.Fatalf("after rotations: %q", got)
	}
	r = read(t, s, r.Next, 10)
	if got := strings.Join(texts(r), ","); got != "f,g" || r.Next.Name != "flows.log" || r.Behind != 0 {
		t.Fatalf("to the end: %q at %+v behind %d", got, r.Next, r.Behind)
	}
	if r2 := read(t, s, r.Next, 10); len(r2.Lines) != 0 || r2.Next != r.Next {
		t.Errorf("at the end: %v %+v", texts(r2), r2.Next)
	}
}

func TestLostAndTruncated(t *testing.T) {
	dir := t.TempDir()
	s := Stream{Dir: dir, Live: "audit.log"}
	live := filepath.Join(dir, "audit.log")
	appendTo(t, live, "1\n2\n")
	r := read(t, s, Position{}, 1)
	// The file is rotated away and deleted before it was read to its end.
	old := filepath.Join(dir, "audit-2026-12-06T10-00-00.000.log")
	os.Rename(live, old)
	appendTo(t, live, "3\n")
	os.Remove(old)
	r = read(t, s, r.Next, 10)
	if r.Lost != "audit.log" || strings.Join(texts(r), ",") != "3" {
		t.Fatalf("lost: %q, lines %v", r.Lost, texts(r))
	}
	// Truncated in place: read again from the start.
	os.WriteFile(live, []byte("4\n"), 0o644)
	appendTo(t, live, "")
	r2 := read(t, s, Position{Inode: r.Next.Inode, Offset: 100}, 10)
	if strings.Join(texts(r2), ",") != "4" {
		t.Errorf("after truncation: %v", texts(r2))
	}
}

func TestLimits(t *testing.T) {
	dir := t.TempDir()
	s := Stream{Dir: dir, Live: "x.log"}
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "line-%04d\n", i)
	}
	appendTo(t, filepath.Join(dir, "x.log"), b.String())
	var pos Position
	seen := 0
	for n := 0; n < 100; n++ {
		r, err := s.Read(pos, 1000, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Lines) == 0 {
			break
		}
		for _, l := range r.Lines {
			if string(l) != fmt.Sprintf("line-%04d", seen) {
				t.Fatalf("line %d is %q", seen, l)
			}
			seen++
		}
		pos = r.Next
	}
	if seen != 1000 {
		t.Errorf("read %d lines of 1000 in 100-byte reads", seen)
	}
}
