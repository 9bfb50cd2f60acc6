// Package tail reads a log that is written to one live file and rotated
// by renaming (flows.log → flows-<time>.log, as lumberjack and the
// Kubernetes API server's audit log do): complete lines only, in order,
// across rotations, from a position that names the file by its inode so
// that a rename does not lose the place.
//
// A position whose file is gone (rotated away and deleted before it was
// read) is reported as lost; reading then goes on from the oldest file
// left. A live file that shrank under the position (truncated in place)
// is read again from its start.
package tail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Stream is one log: its directory, live file and rotated files.
type Stream struct {
	Dir string
	// Live is the live file's name ("flows.log").
	Live string
	// Rotated says whether a file name is one of its rotated files;
	// default: the live name's stem and "-" before, its extension after
	// ("flows-2026-12-06T10-00-00.000.log").
	Rotated func(name string) bool
}

// Position is where reading continues: a file (by inode, with its name
// when last seen, for messages) and a byte offset in it.
type Position struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
	Name   string `json:"name,omitempty"`
}

// Result is one Read.
type Result struct {
	// Lines are complete lines, without their newline.
	Lines [][]byte
	// Next is the position after them.
	Next Position
	// Lost names the file the position was in when it is gone; reading
	// went on from the oldest file left.
	Lost string
	// Behind is how many bytes are left to read after Next.
	Behind int64
}

func (s Stream) rotated(name string) bool {
	if s.Rotated != nil {
		return s.Rotated(name)
	}
	ext := filepath.Ext(s.Live)
	stem := strings.TrimSuffix(s.Live, ext)
	return name != s.Live && strings.HasPrefix(name, stem+"-") && strings.HasSuffix(name, ext)
}

type file struct {
	name  string
	inode uint64
	size  int64
}

// files lists the stream's files, oldest first (rotated files sort by
// their time-stamped names; the live file is last).
func (s Stream) files() ([]file, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var names []string
	live := false
	for _, e := range entries {
		if e.Type().IsRegular() {
			switch {
			case e.Name() == s.Live:
				live = true
			case s.rotated(e.Name()):
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	if live {
		names = append(names, s.Live)
	}
	var out []file
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(s.Dir, n))
		if err != nil {
			continue // rotated away meanwhile
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil, fmt.Errorf("%s: no inode", n)
		}
		out = append(out, file{name: n, inode: st.Ino, size: fi.Size()})
	}
	return out, nil
}

// Read reads up to maxLines lines and about maxBytes bytes (at least one
// line, however long) from pos. A zero position starts at the oldest
// file.
func (s Stream) Read(pos Position, maxLines, maxBytes int) (Result, error) {
	res := Result{Next: pos}
	files, err := s.files()
	if err != nil || len(files) == 0 {
		return res, err
	}
	i := 0
	if pos.Inode != 0 {
		i = -1
		for j, f := range files {
			if f.inode == pos.Inode {
				i = j
				break
			}
		}
		if i < 0 {
			res.Lost = pos.Name
			i, pos = 0, Position{}
		}
	}
	if pos.Inode == 0 {
		pos = Position{Inode: files[i].inode, Name: files[i].name}
	}
	if files[i].size < pos.Offset {
		pos.Offset = 0 // truncated in place
	}
	res.Next = pos
	bytesRead := 0
	for ; i < len(files); i++ {
		f := files[i]
		if f.inode != res.Next.Inode {
			res.Next = Position{Inode: f.inode, Name: f.name}
		}
		last := i == len(files)-1
		lines, consumed, err := readLines(filepath.Join(s.Dir, f.name), res.Next.Offset, maxLines-len(res.Lines), maxBytes-bytesRead, !last)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // rotated away meanwhile: the next file
			}
			return res, err
		}
		res.Lines = append(res.Lines, lines...)
		res.Next.Offset += consumed
		bytesRead += int(consumed)
		if len(res.Lines) >= maxLines || bytesRead >= maxBytes {
			break
		}
		if last || res.Next.Offset < f.size {
			break
		}
		// A rotated file read to its end: go on with the next one.
	}
	// How far behind: the rest of this file and every newer one.
	for j, f := range files {
		if f.inode == res.Next.Inode {
			res.Behind = max(0, f.size-res.Next.Offset)
			for _, g := range files[j+1:] {
				res.Behind += g.size
			}
		}
	}
	return res, nil
}

// readLines reads complete lines from offset; with complete, the file is
// not written any more and a last line without a newline counts too.
func readLines(path string, offset int64, maxLines, maxBytes int, complete bool) ([][]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, 0, err
	}
	want := max(maxBytes, 64<<10)
	buf := make([]byte, want)
	var lines [][]byte
	var consumed int64
	var pending []byte
	for len(lines) < maxLines && (int(consumed) < maxBytes || len(lines) == 0) {
		n, err := f.Read(buf)
		if n > 0 {
			data := append(pending, buf[:n]...)
			pending = nil
			for len(lines) < maxLines && (int(consumed) < maxBytes || len(lines) == 0) {
				nl := bytes.IndexByte(data, '\n')
				if nl < 0 {
					break
				}
				line := data[:nl]
				consumed += int64(nl + 1)
				if len(bytes.TrimSpace(line)) > 0 {
					lines = append(lines, bytes.Clone(line))
				}
				data = data[nl+1:]
			}
			if len(lines) >= maxLines || (int(consumed) >= maxBytes && len(lines) > 0) {
				return lines, consumed, nil
			}
			pending = bytes.Clone(data)
		}
		if err == io.EOF {
			if complete && len(bytes.TrimSpace(pending)) > 0 {
				lines = append(lines, pending)
				consumed += int64(len(pending))
			} else if complete {
				consumed += int64(len(pending))
			}
			return lines, consumed, nil
		}
		if err != nil {
			return nil, 0, err
		}
	}
	return lines, consumed, nil
}
